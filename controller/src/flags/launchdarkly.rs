//! LaunchDarkly REST API: read the flag's state in the environment, then apply the semantic
//! patch `turnFlagOff` (`PATCH /api/v2/flags/{project}/{flag}`).

use hyper::{Method, Uri};
use serde_json::{Value, json};

use crate::http::{HttpClient, json_request};

use super::FlipOutcome;
use super::error::{FlagError, Result};
use super::url::LaunchDarklyFlag;

/// LaunchDarkly's API origin.
pub const LAUNCHDARKLY_API: &str = "https://app.launchdarkly.com";

/// Content type of a semantic patch.
pub const SEMANTIC_PATCH: &str = "application/json; domain-model=launchdarkly.semanticpatch";

/// Turns `flag` off through the API at `api` (normally [`LAUNCHDARKLY_API`]) with `token`.
pub(super) async fn turn_off(
    http: &HttpClient,
    api: &str,
    token: &str,
    flag: &LaunchDarklyFlag,
    name: &str,
    comment: &str,
) -> Result<FlipOutcome> {
    let flag_url = format!("{api}/api/v2/flags/{}/{}", flag.project, flag.flag_key);
    let call = |source| FlagError::Http {
        flag: name.to_string(),
        source,
    };
    let get_url = format!("{flag_url}?env={}", flag.environment);
    let get = json_request(
        Method::GET,
        uri(&get_url, name)?,
        &[("authorization", token)],
        None,
    )
    .map_err(call)?;
    let answer = http.send(get).await.map_err(call)?;
    let on =
        environment_on(&answer.body, &flag.environment).map_err(|reason| FlagError::Provider {
            flag: name.to_string(),
            reason,
        })?;
    if !on {
        return Ok(FlipOutcome::AlreadyOff);
    }
    let body = semantic_patch(&flag.environment, comment)
        .to_string()
        .into_bytes();
    let patch = json_request(
        Method::PATCH,
        uri(&flag_url, name)?,
        &[("authorization", token), ("content-type", SEMANTIC_PATCH)],
        Some(body),
    )
    .map_err(call)?;
    http.send(patch).await.map_err(call)?;
    Ok(FlipOutcome::Done)
}

fn uri(url: &str, name: &str) -> Result<Uri> {
    url.parse()
        .map_err(|e: http::uri::InvalidUri| FlagError::Url {
            url: name.to_string(),
            reason: e.to_string(),
        })
}

/// The semantic patch that turns the flag off in `environment`.
pub fn semantic_patch(environment: &str, comment: &str) -> Value {
    json!({
        "environmentKey": environment,
        "instructions": [{"kind": "turnFlagOff"}],
        "comment": comment,
    })
}

/// Whether the flag (the API's flag object) is on in `environment`.
pub(super) fn environment_on(body: &[u8], environment: &str) -> Result<bool, String> {
    let flag: Value =
        serde_json::from_slice(body).map_err(|e| format!("the flag is not JSON: {e}"))?;
    flag.get("environments")
        .and_then(|e| e.get(environment))
        .ok_or_else(|| format!("the flag has no environment {environment:?}"))?
        .get("on")
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("environment {environment:?} has no on flag"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_environment_state() {
        let body = br#"{"key":"f","environments":{"production":{"on":true},"test":{"on":false}}}"#;
        assert_eq!(environment_on(body, "production"), Ok(true));
        assert_eq!(environment_on(body, "test"), Ok(false));
        assert!(environment_on(body, "staging").is_err());
        assert!(environment_on(b"[]", "production").is_err());
    }
}
