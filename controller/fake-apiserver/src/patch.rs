//! PATCH bodies by content type: JSON merge patch, JSON patch (RFC 6902, `test` included),
//! strategic merge patch (applied as a merge patch: lists are replaced, not merged by key) and
//! server-side apply (applied as a merge patch onto the live object, or a create).

use serde_json::Value;

use crate::error::ApiError;

/// The kind of a PATCH, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch kind a `Content-Type` names; 415 for anything else.
    pub(crate) fn from_content_type(content_type: Option<&str>) -> Result<Self, ApiError> {
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim();
        match media {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" => Ok(PatchKind::Apply),
            other => Err(ApiError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"
                ),
            )),
        }
    }
}

/// Parses the body of a PATCH of `kind` into JSON (YAML for server-side apply).
pub(crate) fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    match kind {
        PatchKind::Apply => serde_json::from_slice(body).or_else(|_| {
            serde_yaml::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
        }),
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// `current` with the patch `body` of `kind` applied.
pub(crate) fn apply(kind: PatchKind, current: &Value, body: &Value) -> Result<Value, ApiError> {
    let mut patched = current.clone();
    match kind {
        PatchKind::Merge | PatchKind::Apply => json_patch::merge(&mut patched, body),
        PatchKind::Strategic => {
            json_patch::merge(&mut patched, body);
            strip_directives(&mut patched);
        }
        PatchKind::Json => {
            let operations: json_patch::Patch = serde_json::from_value(body.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding JSON patch: {e}")))?;
            json_patch::patch(&mut patched, &operations.0).map_err(|e| {
                ApiError::invalid(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
        }
    }
    Ok(patched)
}

/// Drops strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`,
/// `$deleteFromPrimitiveList/...`) a merge would otherwise store as fields.
fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !key.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object() -> Value {
        json!({"metadata": {"name": "a", "resourceVersion": "4", "labels": {"x": "1"}},
               "spec": {"paused": false, "containers": [{"name": "app"}]}})
    }

    #[test]
    fn content_types_name_patch_kinds() {
        assert_eq!(
            PatchKind::from_content_type(Some("application/merge-patch+json; charset=utf-8")),
            Ok(PatchKind::Merge)
        );
        let refused = PatchKind::from_content_type(Some("application/json")).expect_err("refused");
        assert_eq!(refused.code, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn merge_sets_and_removes_fields() {
        let patched = apply(
            PatchKind::Merge,
            &object(),
            &json!({"metadata": {"labels": {"x": null, "y": "2"}}, "spec": {"paused": true}}),
        )
        .expect("merged");
        assert_eq!(patched["metadata"]["labels"], json!({"y": "2"}));
        assert_eq!(patched["spec"]["paused"], true);
    }

    #[test]
    fn a_failed_json_patch_test_is_invalid() {
        let body = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "3"},
                          {"op": "replace", "path": "/spec/paused", "value": true}]);
        let error = apply(PatchKind::Json, &object(), &body).expect_err("test fails");
        assert_eq!(error.code, http::StatusCode::UNPROCESSABLE_ENTITY);
        let body = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"},
                          {"op": "replace", "path": "/spec/paused", "value": true}]);
        let patched = apply(PatchKind::Json, &object(), &body).expect("test passes");
        assert_eq!(patched["spec"]["paused"], true);
    }

    #[test]
    fn strategic_directives_are_not_stored() {
        let body =
            json!({"spec": {"$setElementOrder/containers": [{"name": "app"}], "paused": true}});
        let patched = apply(PatchKind::Strategic, &object(), &body).expect("merged");
        assert_eq!(patched["spec"].get("$setElementOrder/containers"), None);
    }

    #[test]
    fn apply_bodies_may_be_yaml() {
        let value = parse_body(PatchKind::Apply, b"spec:\n  paused: true\n").expect("yaml");
        assert_eq!(value, json!({"spec": {"paused": true}}));
        assert!(parse_body(PatchKind::Merge, b"spec: x").is_err());
    }
}
