//! The status merge patch (RFC 7396): only what changed, `null` for what was cleared, and an
//! optional `resourceVersion` precondition so concurrent writers conflict instead of overwriting
//! each other (the API server answers 409; re-read and re-plan).

use serde_json::{Map, Value};

use super::types::ReleaseCheckStatus;
use super::{Error, Result};

/// The body of a merge patch of the status subresource turning `old` into `new` (send it with
/// `Patch::Merge` to `patch_status`). With `resource_version`, the patch applies only to that
/// version of the object.
pub fn status_merge_patch(
    old: Option<&ReleaseCheckStatus>,
    new: &ReleaseCheckStatus,
    resource_version: Option<&str>,
) -> Result<Value> {
    let new = to_value(new)?;
    let status = match old {
        Some(old) => merge_diff(&to_value(old)?, &new).unwrap_or_else(|| Value::Object(Map::new())),
        None => new,
    };
    let mut patch = Map::new();
    if let Some(version) = resource_version {
        patch.insert(
            "metadata".to_string(),
            serde_json::json!({ "resourceVersion": version }),
        );
    }
    patch.insert("status".to_string(), status);
    Ok(Value::Object(patch))
}

/// The RFC 7396 merge patch turning `old` into `new`, or `None` when they are equal: changed
/// object members recursively, removed members as `null`, anything else (arrays included) whole.
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        return Some(new.clone());
    };
    let mut patch = Map::new();
    for (key, new_value) in new {
        let change = match old.get(key) {
            Some(old_value) => merge_diff(old_value, new_value),
            None => Some(new_value.clone()),
        };
        if let Some(change) = change {
            patch.insert(key.clone(), change);
        }
    }
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        patch.insert(key.clone(), Value::Null);
    }
    Some(Value::Object(patch))
}

fn to_value(status: &ReleaseCheckStatus) -> Result<Value> {
    serde_json::to_value(status).map_err(|source| Error::Serialise {
        what: "ReleaseCheck status",
        source: Box::new(source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{Decision, Phase};
    use serde_json::json;

    /// Applies a merge patch as RFC 7396 says, to check the diff against its definition.
    fn apply(target: &mut Value, patch: &Value) {
        let Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = Value::Object(Map::new());
        }
        let Value::Object(target) = target else {
            return;
        };
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                apply(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }

    #[test]
    fn the_patch_holds_only_changes_and_clears_with_null() {
        let old = ReleaseCheckStatus {
            phase: Some(Phase::Watching),
            message: Some("watching for 30m".to_string()),
            claimed_by: Some("ripcord-0".to_string()),
            ..ReleaseCheckStatus::default()
        };
        let mut new = old.clone();
        new.phase = Some(Phase::Failed);
        new.verdict = Some(Decision::Fail);
        new.message = None;
        let patch = status_merge_patch(Some(&old), &new, Some("4711")).expect("a patch");
        assert_eq!(
            patch,
            json!({
                "metadata": {"resourceVersion": "4711"},
                "status": {"phase": "Failed", "verdict": "fail", "message": null}
            })
        );
        let mut applied = serde_json::to_value(&old).expect("json");
        apply(&mut applied, &patch["status"]);
        assert_eq!(applied, serde_json::to_value(&new).expect("json"));
    }

    #[test]
    fn a_first_status_is_written_whole_and_an_unchanged_one_is_empty() {
        let status = ReleaseCheckStatus {
            phase: Some(Phase::Watching),
            ..ReleaseCheckStatus::default()
        };
        let first = status_merge_patch(None, &status, None).expect("a patch");
        assert_eq!(
            first,
            json!({"status": {"phase": "Watching", "timeline": {}}})
        );
        let same = status_merge_patch(Some(&status), &status, None).expect("a patch");
        assert_eq!(same, json!({"status": {}}));
    }

    #[test]
    fn diffs_of_nested_values_apply_back_to_the_new_value() {
        let cases = [
            (
                json!({"a": {"b": 1, "c": [1, 2]}}),
                json!({"a": {"b": 2, "c": [1]}}),
            ),
            (json!({"a": 1}), json!({"b": {"c": "x"}})),
            (json!({"a": {"b": 1}}), json!({"a": "flat"})),
            (json!([1]), json!({"a": 1})),
        ];
        for (old, new) in cases {
            let diff = merge_diff(&old, &new).expect("they differ");
            let mut applied = old.clone();
            apply(&mut applied, &diff);
            assert_eq!(applied, new, "diff {diff}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0i64..5).prop_map(Value::from),
            "[ab]".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    /// Drops `null` members, which a merge patch cannot express as values (it reads them as
    /// removals); a status never serialises them.
    fn without_nulls(value: Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, without_nulls(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    proptest::proptest! {
        #[test]
        fn applying_the_diff_to_old_gives_new(old in json_value(), new in json_value()) {
            let new = without_nulls(new);
            let mut applied = old.clone();
            if let Some(diff) = merge_diff(&old, &new) {
                apply(&mut applied, &diff);
            }
            proptest::prop_assert_eq!(applied, new);
        }
    }
}
