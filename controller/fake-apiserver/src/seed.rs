//! Seeding: Kubernetes objects from YAML (multi-document), stored as if created, keeping the
//! fixtures' uids, creation times and status so references between fixtures hold.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::kinds;
use crate::path;
use crate::store::ObjectKey;

/// The objects in a YAML text of one or more documents; empty documents are skipped, a `List`
/// is unpacked.
pub(crate) fn documents(text: &str) -> Result<Vec<Value>> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        match value {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = map
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                objects.extend(items);
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}

/// Where `object` is stored: its resource from the known table (or the plural of its kind),
/// its namespace (`default` for a namespaced kind that names none).
pub(crate) fn key_of(object: &Value) -> Result<ObjectKey> {
    let field = |name: &str| object.get(name).and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(Error::Seed(
            "an object without apiVersion or kind".to_string(),
        ));
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Seed(format!("a {kind} without metadata.name")))?;
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    let (resource, namespace) = match kinds::by_kind(api_version, kind) {
        Some(info) if info.namespaced => (
            info.resource.to_string(),
            Some(namespace.unwrap_or("default")),
        ),
        Some(info) => (info.resource.to_string(), None),
        None => (path::plural(kind), namespace),
    };
    Ok(ObjectKey::new(api_version, &resource, namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists_unpack() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: b, namespace: shop}}\n";
        let objects = documents(text).expect("yaml");
        assert_eq!(objects.len(), 2);
        let pod = key_of(&objects[0]).expect("a key");
        assert_eq!(pod, ObjectKey::new("v1", "pods", Some("default"), "a"));
        let deployment = key_of(&objects[1]).expect("a key");
        assert_eq!(
            deployment,
            ObjectKey::new("apps/v1", "deployments", Some("shop"), "b")
        );
    }

    #[test]
    fn objects_without_identity_are_refused() {
        let objects = documents("kind: Pod\nmetadata: {name: a}\n").expect("yaml");
        assert!(matches!(key_of(&objects[0]), Err(Error::Seed(_))));
    }
}
