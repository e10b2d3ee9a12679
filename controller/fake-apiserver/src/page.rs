//! Paged lists (`limit` and `continue`), as the API server serves them from etcd: each page
//! holds at most `limit` objects, and a `continue` token names the list's resourceVersion and
//! the last key served, so later pages show the collection as it was when the list began.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::store::ObjectKey;

/// Where a paged list goes on: the list's resourceVersion and the last key served. Opaque to
/// clients (base64 of JSON, as the API server's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Continue {
    /// The resourceVersion of the list's first page.
    #[serde(rename = "rv")]
    pub(crate) revision: u64,
    /// The namespace of the last object served (`None` for a cluster-scoped one).
    #[serde(rename = "ns", default, skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    /// The name of the last object served.
    #[serde(rename = "start")]
    pub(crate) name: String,
}

impl Continue {
    /// The token for going on after `key` in a list at `revision`.
    fn after(key: &ObjectKey, revision: u64) -> Self {
        Continue {
            revision,
            namespace: key.namespace.clone(),
            name: key.name.clone(),
        }
    }

    /// The token as sent to clients.
    pub(crate) fn encode(&self) -> String {
        STANDARD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads a client's token; `400 BadRequest` when it is not one of ours, as the API server
    /// answers a malformed token.
    pub(crate) fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| ApiError::bad_request(format!("invalid continue token: {why}"));
        let bytes = STANDARD
            .decode(token)
            .map_err(|e| invalid(format!("not base64: {e}")))?;
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))
    }

    /// Whether `key` comes after the last key served (keys of one collection order by
    /// namespace, then name).
    pub(crate) fn is_before(&self, key: &ObjectKey) -> bool {
        (key.namespace.as_deref(), key.name.as_str()) > (self.namespace.as_deref(), &*self.name)
    }
}

/// The `limit` and `continue` of a list request; `400 BadRequest` for a limit that is not a
/// number, a malformed token, or a token with a `resourceVersion`, as the API server answers.
pub(crate) fn params(
    query: &HashMap<String, String>,
) -> Result<(Option<usize>, Option<Continue>), ApiError> {
    let limit = match query.get("limit").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(text) => Some(text.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("limit {text:?} is not a non-negative number"))
        })?),
    };
    let resume = match query.get("continue").filter(|token| !token.is_empty()) {
        None => None,
        Some(token) => Some(Continue::decode(token)?),
    };
    if resume.is_some()
        && query
            .get("resourceVersion")
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
    {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    Ok((limit, resume))
}

/// The `410 Gone` of a continue token whose list can no longer be shown as it was.
pub(crate) fn expired(revision: u64) -> ApiError {
    ApiError::new(
        http::StatusCode::GONE,
        "Expired",
        format!(
            "The provided continue parameter is too old to display a consistent list result \
             (resourceVersion {revision} is compacted). Start a new list without the continue \
             parameter."
        ),
    )
}

/// One page of a list.
#[derive(Debug)]
pub(crate) struct Page<'a> {
    /// The objects of this page, in key order.
    pub(crate) items: Vec<&'a Value>,
    /// The token for the next page, when more objects remain.
    pub(crate) next: Option<Continue>,
    /// How many objects remain after this page, when counted.
    pub(crate) remaining: Option<usize>,
}

/// The first `limit` of `objects` (already selected, in key order, all of them when `limit` is
/// `None`), with a token to go on from at `revision` when more remain; the objects remaining are
/// counted when `count` is set (the API server counts them only for a list without selectors).
pub(crate) fn take<'a>(
    mut objects: impl Iterator<Item = (&'a ObjectKey, &'a Value)>,
    limit: Option<usize>,
    revision: u64,
    count: bool,
) -> Page<'a> {
    let mut items = Vec::new();
    let mut last = None;
    for (key, object) in objects.by_ref().take(limit.unwrap_or(usize::MAX)) {
        items.push(object);
        last = Some(key);
    }
    let mut rest = objects.peekable();
    let next = match (last, rest.peek()) {
        (Some(key), Some(_)) => Some(Continue::after(key, revision)),
        _ => None,
    };
    let remaining = (count && next.is_some()).then(|| rest.count());
    Page {
        items,
        next,
        remaining,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey::new("apps/v1", "deployments", namespace, name)
    }

    #[test]
    fn a_token_round_trips_and_garbage_is_a_bad_request() {
        let token = Continue::after(&key(Some("shop"), "b"), 42);
        assert_eq!(Continue::decode(&token.encode()), Ok(token));
        for garbage in ["%%%", "bm90IGpzb24=", "e30="] {
            let error = Continue::decode(garbage).expect_err("refused");
            assert_eq!(error.code, http::StatusCode::BAD_REQUEST, "{garbage}");
            assert!(
                error.message.starts_with("invalid continue token"),
                "{error:?}"
            );
        }
    }

    #[test]
    fn a_token_orders_by_namespace_then_name() {
        let token = Continue::after(&key(Some("shop"), "b"), 1);
        assert!(token.is_before(&key(Some("shop"), "c")));
        assert!(token.is_before(&key(Some("zoo"), "a")));
        assert!(!token.is_before(&key(Some("shop"), "b")));
        assert!(!token.is_before(&key(Some("bar"), "z")));
        assert!(!token.is_before(&key(None, "z")));
    }

    #[test]
    fn a_page_stops_at_the_limit_and_counts_the_rest() {
        let keys: Vec<ObjectKey> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|n| key(Some("shop"), n))
            .collect();
        let objects: Vec<Value> = keys.iter().map(|k| json!({"name": k.name})).collect();
        let all = || keys.iter().zip(objects.iter());
        let page = take(all(), Some(2), 9, true);
        assert_eq!(page.items, [&objects[0], &objects[1]]);
        assert_eq!(page.next, Some(Continue::after(&keys[1], 9)));
        assert_eq!(page.remaining, Some(3));
        let uncounted = take(all(), Some(2), 9, false);
        assert_eq!(uncounted.remaining, None);
        let exact = take(all(), Some(5), 9, true);
        assert_eq!(
            (exact.items.len(), exact.next, exact.remaining),
            (5, None, None)
        );
        let unlimited = take(all(), None, 9, true);
        assert_eq!((unlimited.items.len(), unlimited.next), (5, None));
    }
}
