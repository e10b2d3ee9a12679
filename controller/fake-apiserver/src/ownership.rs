//! Field ownership, as far as server-side apply's conflicts need it: each write records which
//! field manager last set each field it changed (every field of an apply body), and a
//! non-forced apply that would change a field another manager owns is refused with `409
//! Conflict`, as the API server does. Leader election (kube-lease-manager) rests on this.
//!
//! Simplifications: fields are JSON leaves (scalars, arrays and empty objects; lists are
//! atomic), outside `apiVersion`, `kind` and identity metadata (labels and annotations count);
//! ownership is kept beside the store, not written into `metadata.managedFields`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::ApiError;
use crate::store::ObjectKey;

/// The manager of writes made through `FakeApiServer::write_as_other`.
pub(crate) const OTHER_WRITER: &str = "another-writer";

/// The manager named for writes that name none.
pub(crate) const UNNAMED: &str = "unnamed";

/// Who owns which field of which object.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    fields: BTreeMap<ObjectKey, BTreeMap<String, String>>,
}

impl Owners {
    /// Refuses a non-forced apply of `body` by `manager` to `current` that would change a field
    /// another manager owns.
    pub(crate) fn check_apply(
        &self,
        key: &ObjectKey,
        current: &Value,
        body: &Value,
        manager: &str,
    ) -> Result<(), ApiError> {
        let Some(owned) = self.fields.get(key) else {
            return Ok(());
        };
        let live = leaves(current);
        let conflicts: Vec<String> = leaves(body)
            .into_iter()
            .filter(|(path, value)| live.get(path).is_some_and(|held| held != value))
            .filter_map(|(path, _)| {
                let owner = owned.get(&path)?;
                (owner != manager).then(|| format!("conflict with {owner:?}: {path}"))
            })
            .collect();
        if conflicts.is_empty() {
            return Ok(());
        }
        Err(ApiError::new(
            http::StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Apply failed with {} conflict(s): {}",
                conflicts.len(),
                conflicts.join("; ")
            ),
        ))
    }

    /// Records a write by `manager` that turned `before` into `after`; an apply also takes
    /// every field of its `applied` body.
    pub(crate) fn record(
        &mut self,
        key: &ObjectKey,
        before: Option<&Value>,
        after: &Value,
        manager: &str,
        applied: Option<&Value>,
    ) {
        let old = before.map(leaves).unwrap_or_default();
        let new = leaves(after);
        let owned = self.fields.entry(key.clone()).or_default();
        owned.retain(|path, _| new.contains_key(path));
        for (path, value) in &new {
            if old.get(path) != Some(value) {
                owned.insert(path.clone(), manager.to_string());
            }
        }
        for path in applied.map(leaves).unwrap_or_default().into_keys() {
            if new.contains_key(&path) {
                owned.insert(path, manager.to_string());
            }
        }
    }

    /// Forgets a deleted object.
    pub(crate) fn forget(&mut self, key: &ObjectKey) {
        self.fields.remove(key);
    }
}

/// The fields of `object` that ownership covers, by JSON pointer.
fn leaves(object: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (name, value) in map {
        match name.as_str() {
            "apiVersion" | "kind" => {}
            "metadata" => {
                for kept in ["labels", "annotations"] {
                    if let Some(value) = value.get(kept) {
                        walk(value, format!("/metadata/{kept}"), &mut out);
                    }
                }
            }
            _ => walk(value, format!("/{}", escape(name)), &mut out),
        }
    }
    out
}

fn walk(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, inner) in map {
                walk(inner, format!("{path}/{}", escape(name)), out);
            }
        }
        _ => {
            out.insert(path, value.clone());
        }
    }
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> ObjectKey {
        ObjectKey::new("coordination.k8s.io/v1", "leases", Some("ns"), "lock")
    }

    #[test]
    fn an_apply_conflicts_only_on_changed_fields_another_manager_owns() {
        let mut owners = Owners::default();
        let held = json!({"metadata": {"name": "lock"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}});
        owners.record(&key(), None, &held, "manager-a", Some(&held));
        let same = json!({"spec": {"holderIdentity": "a"}});
        assert!(
            owners
                .check_apply(&key(), &held, &same, "manager-b")
                .is_ok()
        );
        let take = json!({"spec": {"holderIdentity": "b"}});
        let refused = owners
            .check_apply(&key(), &held, &take, "manager-b")
            .expect_err("owned by a");
        assert_eq!(refused.code, http::StatusCode::CONFLICT);
        assert!(refused.message.contains("manager-a"), "{}", refused.message);
        assert!(
            owners
                .check_apply(&key(), &held, &take, "manager-a")
                .is_ok()
        );
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_and_removed_fields_are_free() {
        let mut owners = Owners::default();
        let held = json!({"spec": {"holderIdentity": "a"}});
        owners.record(&key(), None, &held, "manager-a", Some(&held));
        let taken = json!({"spec": {"holderIdentity": "b"}});
        owners.record(&key(), Some(&held), &taken, "manager-b", None);
        let back = json!({"spec": {"holderIdentity": "a"}});
        assert!(
            owners
                .check_apply(&key(), &taken, &back, "manager-a")
                .is_err()
        );
        let released = json!({"spec": {}});
        owners.record(&key(), Some(&taken), &released, "manager-b", None);
        assert!(
            owners
                .check_apply(&key(), &released, &back, "manager-a")
                .is_ok()
        );
    }
}
