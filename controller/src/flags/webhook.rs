//! The generic flag webhook: POSTs a JSON event signed with HMAC-SHA256 over the body, in
//! `X-Ripcord-Signature: sha256=<hex>`. The receiver turns the flag off; it may answer
//! `{"outcome":"already_off"}` to say the flag was off already.

use hyper::Method;
use ring::hmac;
use serde::Serialize;
use serde_json::Value;

use ripcord_sidecar::report::Release;

use crate::http::{HttpClient, json_request};

use super::error::{FlagError, Result};
use super::url::WebhookFlag;
use super::{FlipContext, FlipOutcome};

/// Header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "x-ripcord-signature";

/// Version tag of the webhook event.
pub const EVENT_VERSION: &str = "ripcord.dev/flag-off/v1alpha1";

/// The event POSTed to a flag webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagOffEvent<'a> {
    /// Always [`EVENT_VERSION`].
    pub version: &'static str,
    /// Always `turn_off`.
    pub action: &'static str,
    /// The flag, as its URL (without query).
    pub flag: &'a str,
    /// The release that regressed.
    pub release: &'a Release,
    /// The ReleaseCheck recording the evidence.
    pub release_check: &'a str,
    /// Why, in one sentence.
    pub reason: &'a str,
    /// When the event was made, Unix milliseconds (signed with the rest, against replays).
    pub at_ms: i64,
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    let mut text = String::with_capacity(7 + 64);
    text.push_str("sha256=");
    for byte in tag.as_ref() {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// POSTs the signed event for `context` to the webhook; the event names the flag by its whole
/// URL, errors by `name` (its scheme and host).
pub(super) async fn turn_off(
    http: &HttpClient,
    secret: &str,
    flag: &WebhookFlag,
    name: &str,
    context: &FlipContext,
    at_ms: i64,
) -> Result<FlipOutcome> {
    let canonical = super::FlagUrl::Webhook(flag.clone()).to_string();
    let event = FlagOffEvent {
        version: EVENT_VERSION,
        action: "turn_off",
        flag: &canonical,
        release: &context.release,
        release_check: &context.release_check,
        reason: &context.reason,
        at_ms,
    };
    let body = serde_json::to_vec(&event).map_err(|e| FlagError::Provider {
        flag: name.to_string(),
        reason: format!("could not encode the event: {e}"),
    })?;
    let signed = signature(secret.as_bytes(), &body);
    let call = |source| FlagError::Http {
        flag: name.to_string(),
        source,
    };
    let request = json_request(
        Method::POST,
        flag.url.clone(),
        &[(SIGNATURE_HEADER, &signed)],
        Some(body),
    )
    .map_err(call)?;
    let answer = http.send(request).await.map_err(call)?;
    let already_off = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| {
            v.get("outcome")
                .and_then(Value::as_str)
                .map(|o| o == "already_off")
        })
        .unwrap_or(false);
    Ok(if already_off {
        FlipOutcome::AlreadyOff
    } else {
        FlipOutcome::Done
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        let expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            expected
        );
        assert_ne!(
            signature(b"Jeff", b"what do ya want for nothing?"),
            expected
        );
    }
}
