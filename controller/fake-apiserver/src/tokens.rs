//! TokenReview: answers `POST /apis/authentication.k8s.io/v1/tokenreviews` from a configured map
//! of tokens to identities, the way the API server answers for bound service-account tokens.

use serde_json::{Value, json};

use crate::error::ApiError;

/// Who a configured token authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
    /// The pod the token is bound to; `None` for a token bound to no pod.
    pub pod: Option<String>,
    /// The bound pod's uid; `None` takes the uid of the stored pod of that name (or a made-up
    /// one when there is none).
    pub pod_uid: Option<String>,
    /// The audiences the token was issued for.
    pub audiences: Vec<String>,
}

impl TokenIdentity {
    /// A projected token of `pod` in `namespace`, running as `service_account`, for `audiences`.
    pub fn pod(namespace: &str, pod: &str, service_account: &str, audiences: &[&str]) -> Self {
        TokenIdentity {
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            pod: Some(pod.to_string()),
            pod_uid: None,
            audiences: audiences.iter().map(|a| (*a).to_string()).collect(),
        }
    }
}

/// The audience the API server itself accepts when a review names none.
pub(crate) const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The token and audiences a TokenReview asks about.
pub(crate) fn parse_review(body: &Value) -> Result<(String, Vec<String>), ApiError> {
    let token = body
        .pointer("/spec/token")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("TokenReview is invalid: spec.token: Required value"))?;
    let audiences = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok((token.to_string(), audiences))
}

/// The TokenReview answer for `identity` (`None`: the token is unknown) asked for `requested`
/// audiences; `pod_uid` is the uid to report for a pod-bound token.
pub(crate) fn answer(
    request: &Value,
    identity: Option<&TokenIdentity>,
    requested: &[String],
    pod_uid: Option<String>,
) -> Value {
    let requested: Vec<String> = if requested.is_empty() {
        vec![API_AUDIENCE.to_string()]
    } else {
        requested.to_vec()
    };
    let status = match identity {
        None => {
            json!({"authenticated": false, "user": {}, "error": "[invalid bearer token, token lookup failed]"})
        }
        Some(identity) => {
            let granted: Vec<&String> = requested
                .iter()
                .filter(|audience| identity.audiences.contains(audience))
                .collect();
            if granted.is_empty() {
                json!({"authenticated": false, "user": {},
                       "error": "[invalid bearer token, token audiences is invalid for the target audiences]"})
            } else {
                let mut extra = serde_json::Map::new();
                if let Some(pod) = &identity.pod {
                    extra.insert("authentication.kubernetes.io/pod-name".into(), json!([pod]));
                    extra.insert(
                        "authentication.kubernetes.io/pod-uid".into(),
                        json!([pod_uid.unwrap_or_default()]),
                    );
                }
                json!({
                    "authenticated": true,
                    "user": {
                        "username": format!("system:serviceaccount:{}:{}", identity.namespace, identity.service_account),
                        "uid": format!("sa-{}-{}", identity.namespace, identity.service_account),
                        "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", identity.namespace), "system:authenticated"],
                        "extra": extra,
                    },
                    "audiences": granted,
                })
            }
        }
    };
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": request.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    })
}
