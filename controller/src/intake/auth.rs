//! Who is calling: the bearer token from the request, checked with a TokenReview for the
//! intake's audience, read as the pod the projected token is bound to.

use std::time::Duration;

use http::HeaderMap;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::Api;
use kube::api::PostParams;

use super::error::{Error, Result};

/// The audience of the sidecar's projected token.
pub const AUDIENCE: &str = "ripcord";

/// Longest token accepted in a header; a service-account JWT is a few KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Longest a TokenReview may take before the request is answered 503.
const REVIEW_TIMEOUT: Duration = Duration::from_secs(5);

/// `extra` key of the bound pod's name in a TokenReview answer.
const POD_NAME: &str = "authentication.kubernetes.io/pod-name";

/// `extra` key of the bound pod's uid in a TokenReview answer.
const POD_UID: &str = "authentication.kubernetes.io/pod-uid";

/// The caller, as the API server vouched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    /// The pod's (and its service account's) namespace.
    pub namespace: String,
    /// The pod the token is bound to.
    pub pod: String,
    /// The pod's uid, when the API server named it.
    pub pod_uid: Option<String>,
    /// The service account the token belongs to.
    pub service_account: String,
}

impl PodIdentity {
    /// `namespace/pod`.
    pub fn qualified(&self) -> String {
        format!("{}/{}", self.namespace, self.pod)
    }
}

/// The bearer token of `headers`.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or(Error::MissingToken)?
        .to_str()
        .map_err(|_| Error::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::MissingToken)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(Error::MissingToken);
    }
    Ok(token)
}

/// Checks `token` with a TokenReview for [`AUDIENCE`] and returns the pod it is bound to.
pub(crate) async fn authenticate(client: &kube::Client, token: &str) -> Result<PodIdentity> {
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_string()),
            audiences: Some(vec![AUDIENCE.to_string()]),
        },
        ..TokenReview::default()
    };
    let api: Api<TokenReview> = Api::all(client.clone());
    let answer = tokio::time::timeout(REVIEW_TIMEOUT, api.create(&PostParams::default(), &review))
        .await
        .map_err(|_| Error::ReviewUnavailable(format!("no answer in {REVIEW_TIMEOUT:?}")))?
        .map_err(|e| Error::ReviewUnavailable(e.to_string()))?;
    identity(answer.status.unwrap_or_default())
}

/// The pod identity a TokenReview status vouches for.
pub(crate) fn identity(status: TokenReviewStatus) -> Result<PodIdentity> {
    let unauthenticated = |reason: String| Error::Unauthenticated {
        audience: AUDIENCE.to_string(),
        reason,
    };
    if status.authenticated != Some(true) {
        return Err(unauthenticated(
            status
                .error
                .unwrap_or_else(|| "not authenticated".to_string()),
        ));
    }
    // An API server that ignores audiences answers without them: do not trust it for ours.
    if !status
        .audiences
        .as_ref()
        .is_some_and(|audiences| audiences.iter().any(|a| a == AUDIENCE))
    {
        return Err(unauthenticated(format!(
            "the review did not confirm audience {AUDIENCE:?}"
        )));
    }
    let user = status.user.unwrap_or_default();
    let username = user.username.unwrap_or_default();
    let (namespace, service_account) = username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .ok_or_else(|| Error::NotPodBound {
            username: username.clone(),
        })?;
    let extra = user.extra.unwrap_or_default();
    let single = |key: &str| match extra.get(key).map(Vec::as_slice) {
        Some([value]) if !value.is_empty() => Some(value.clone()),
        _ => None,
    };
    let pod = single(POD_NAME).ok_or_else(|| Error::NotPodBound {
        username: username.clone(),
    })?;
    Ok(PodIdentity {
        namespace: namespace.to_string(),
        pod,
        pod_uid: single(POD_UID),
        service_account: service_account.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authentication::v1::UserInfo;

    fn status(username: &str, pod: Option<&str>, audiences: &[&str]) -> TokenReviewStatus {
        let mut extra = std::collections::BTreeMap::new();
        if let Some(pod) = pod {
            extra.insert(POD_NAME.to_string(), vec![pod.to_string()]);
            extra.insert(POD_UID.to_string(), vec!["uid-1".to_string()]);
        }
        TokenReviewStatus {
            authenticated: Some(true),
            audiences: Some(audiences.iter().map(|a| (*a).to_string()).collect()),
            user: Some(UserInfo {
                username: Some(username.to_string()),
                extra: Some(extra),
                ..UserInfo::default()
            }),
            error: None,
        }
    }

    #[test]
    fn a_pod_bound_token_names_its_pod() {
        let who = identity(status(
            "system:serviceaccount:shop:checkout",
            Some("checkout-7-abc"),
            &[AUDIENCE],
        ))
        .expect("a pod");
        assert_eq!(who.qualified(), "shop/checkout-7-abc");
        assert_eq!(who.pod_uid.as_deref(), Some("uid-1"));
        assert_eq!(who.service_account, "checkout");
    }

    #[test]
    fn tokens_not_bound_to_a_pod_or_audience_are_refused() {
        let unbound = identity(status(
            "system:serviceaccount:shop:checkout",
            None,
            &[AUDIENCE],
        ));
        assert!(matches!(unbound, Err(Error::NotPodBound { .. })));
        let person = identity(status("alice", Some("x"), &[AUDIENCE]));
        assert!(matches!(person, Err(Error::NotPodBound { .. })));
        let other_audience = identity(status(
            "system:serviceaccount:shop:checkout",
            Some("x"),
            &["api"],
        ));
        assert!(matches!(other_audience, Err(Error::Unauthenticated { .. })));
        let refused = identity(TokenReviewStatus::default());
        assert!(matches!(refused, Err(Error::Unauthenticated { .. })));
    }

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        let headers = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                value.parse().expect("a header"),
            );
            headers
        };
        assert_eq!(bearer(&headers("Bearer abc")).expect("a token"), "abc");
        assert_eq!(bearer(&headers("bearer abc")).expect("a token"), "abc");
        for bad in ["Basic abc", "Bearer ", "Bearer"] {
            assert!(bearer(&headers(bad)).is_err(), "{bad}");
        }
        assert!(bearer(&HeaderMap::new()).is_err());
    }
}
