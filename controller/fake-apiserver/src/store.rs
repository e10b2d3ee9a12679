//! The object store: objects as JSON keyed by [`ObjectKey`], one global resourceVersion counter,
//! and the history of changes that watches replay and follow. Writes follow the API server's
//! rules: create assigns identity, update and patch honour a `resourceVersion` precondition,
//! `status` is written only through its subresource, and finalizers delay deletion.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use crate::error::ApiError;
use crate::kinds;
use crate::ownership::{OTHER_WRITER, Owners};

/// Where one object is stored.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// `v1` for the core group, else `<group>/<version>`.
    pub group_version: String,
    /// The plural resource name, e.g. `deployments`.
    pub resource: String,
    /// The namespace; `None` for a cluster-scoped object.
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a namespaced object (`namespace` `None` for a cluster-scoped one).
    pub fn new(group_version: &str, resource: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectKey {
            group_version: group_version.to_string(),
            resource: resource.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// `deployments.apps` style name used in the API server's messages.
    pub(crate) fn qualified_resource(&self) -> String {
        match self.group_version.split_once('/') {
            Some((group, _)) => format!("{}.{group}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// Whether this object is in the collection `group_version`/`resource`, in `namespace`
    /// when one is given.
    pub(crate) fn in_collection(
        &self,
        group_version: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> bool {
        self.group_version == group_version
            && self.resource == resource
            && (namespace.is_none() || self.namespace.as_deref() == namespace)
    }
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One change to one object, as watches see it.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) kind: ChangeType,
    pub(crate) key: ObjectKey,
    pub(crate) object: Value,
    /// The object before a modification or deletion, so a watch with a selector can tell an
    /// object entering or leaving it, and a paged list can show the collection as it was.
    pub(crate) previous: Option<Value>,
    pub(crate) revision: u64,
}

/// Changes kept for watches that start from an older resourceVersion.
const HISTORY: usize = 100_000;

/// Changes buffered for each live watch before it is told it fell behind.
const CHANNEL: usize = 16_384;

/// Preconditions of a delete (`DeleteOptions.preconditions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Preconditions {
    pub(crate) resource_version: Option<String>,
    pub(crate) uid: Option<String>,
}

/// How a create treats the identity fields in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A client's create: identity is assigned and `status` of a resource with a status
    /// subresource is dropped, as the API server does.
    Client,
    /// A seeded fixture: its uid, creation time, generation and status are kept, so owner
    /// references between fixtures hold.
    Seed,
}

/// All objects, the counter and the change history.
#[derive(Debug)]
pub(crate) struct Store {
    objects: BTreeMap<ObjectKey, Value>,
    revision: u64,
    history: VecDeque<Arc<Change>>,
    changes: broadcast::Sender<Arc<Change>>,
    /// Who owns which field (server-side apply).
    pub(crate) owners: Owners,
}

impl Store {
    pub(crate) fn new() -> Self {
        Store {
            objects: BTreeMap::new(),
            revision: 0,
            history: VecDeque::new(),
            changes: broadcast::channel(CHANNEL).0,
            owners: Owners::default(),
        }
    }

    /// The latest resourceVersion handed out.
    pub(crate) fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Objects of one collection, in key order.
    pub(crate) fn list<'a>(
        &'a self,
        group_version: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Value)> + 'a {
        self.objects
            .iter()
            .filter(move |(key, _)| key.in_collection(group_version, resource, namespace))
    }

    /// Objects of one collection as they were at `revision`, in key order: the current ones
    /// with every later change undone. `None` when `revision` is ahead of the store or some of
    /// the changes since are no longer kept (the API server's compaction).
    pub(crate) fn list_at<'a>(
        &'a self,
        group_version: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
        revision: u64,
    ) -> Option<BTreeMap<&'a ObjectKey, &'a Value>> {
        if revision > self.revision || !self.keeps_changes_since(revision) {
            return None;
        }
        let mut objects: BTreeMap<&ObjectKey, &Value> =
            self.list(group_version, resource, namespace).collect();
        // Newest first, so what is left for a key is its state before the oldest change.
        let later = self
            .history
            .iter()
            .rev()
            .take_while(|c| c.revision > revision);
        for change in later {
            if !change.key.in_collection(group_version, resource, namespace) {
                continue;
            }
            let key = &change.key;
            match (change.kind, change.previous.as_ref()) {
                (ChangeType::Added, _) | (_, None) => objects.remove(key),
                (_, Some(previous)) => objects.insert(key, previous),
            };
        }
        Some(objects)
    }

    /// Changes after `revision`; `None` when some of them are no longer kept.
    pub(crate) fn changes_since(&self, revision: u64) -> Option<Vec<Arc<Change>>> {
        if !self.keeps_changes_since(revision) {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|change| change.revision > revision)
                .cloned()
                .collect(),
        )
    }

    /// Whether every change after `revision` is still in the history.
    fn keeps_changes_since(&self, revision: u64) -> bool {
        let oldest_kept = self
            .history
            .front()
            .map_or(self.revision + 1, |c| c.revision);
        revision + 1 >= oldest_kept || revision >= self.revision
    }

    /// Forgets the history of changes (etcd's compaction).
    pub(crate) fn compact(&mut self) {
        self.history.clear();
    }

    /// A receiver of every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.changes.subscribe()
    }

    /// Creates `body` in the collection `group_version`/`resource`/`namespace`.
    pub(crate) fn create(
        &mut self,
        group_version: &str,
        resource: &str,
        namespace: Option<&str>,
        body: Value,
        origin: Origin,
    ) -> Result<Value, ApiError> {
        let mut object = into_object(body)?;
        let metadata = metadata_mut(&mut object)?;
        match (namespace, metadata.get("namespace").and_then(Value::as_str)) {
            (Some(path), Some(body)) if !body.is_empty() && body != path => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            _ => {}
        }
        if let Some(namespace) = namespace {
            metadata.insert("namespace".into(), namespace.into());
        }
        let next = self.revision + 1;
        let name = match metadata.get("name").and_then(Value::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => match metadata.get("generateName").and_then(Value::as_str) {
                Some(prefix) if !prefix.is_empty() => format!("{prefix}{}", suffix(next)),
                _ => {
                    return Err(ApiError::invalid(format!(
                        "{resource} is invalid: metadata.name: Required value: name or generateName is required"
                    )));
                }
            },
        };
        metadata.insert("name".into(), name.clone().into());
        let key = ObjectKey::new(group_version, resource, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(&key.qualified_resource(), &name));
        }
        let keep = origin == Origin::Seed;
        if !(keep && metadata.contains_key("uid")) {
            metadata.insert("uid".into(), uid(next).into());
        }
        if !(keep && metadata.contains_key("creationTimestamp")) {
            metadata.insert("creationTimestamp".into(), now().into());
        }
        if !(keep && metadata.contains_key("generation")) {
            metadata.insert("generation".into(), 1.into());
        }
        metadata.remove("deletionTimestamp");
        metadata.insert("resourceVersion".into(), next.to_string().into());
        let info = kinds::by_resource(group_version, resource);
        if origin == Origin::Client && info.is_some_and(|info| info.status_subresource) {
            object.remove("status");
        }
        if let Some(info) = info {
            object
                .entry("apiVersion")
                .or_insert_with(|| group_version.into());
            object.entry("kind").or_insert_with(|| info.kind.into());
        }
        let object = Value::Object(object);
        self.revision = next;
        self.objects.insert(key.clone(), object.clone());
        self.record(ChangeType::Added, key, object.clone(), None);
        Ok(object)
    }

    /// Replaces the object at `key` with `proposed` (whole object, or only its `status` when
    /// `subresource` is `status`), honouring `metadata.resourceVersion` in `proposed` as a
    /// precondition.
    pub(crate) fn update(
        &mut self,
        key: &ObjectKey,
        proposed: Value,
        subresource: Option<&str>,
    ) -> Result<Value, ApiError> {
        let current = self
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(&key.qualified_resource(), &key.name))?;
        let mut proposed = into_object(proposed)?;
        let precondition = proposed
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .filter(|rv| !rv.is_empty());
        if let Some(rv) = precondition
            && Some(rv) != resource_version(current)
        {
            return Err(ApiError::conflict(&key.qualified_resource(), &key.name));
        }
        if let Some(name) = proposed
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty() && *name != key.name)
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({name}) does not match the name on the URL ({})",
                key.name
            )));
        }
        let status_subresource = kinds::by_resource(&key.group_version, &key.resource)
            .is_some_and(|i| i.status_subresource);
        let mut next = match subresource {
            Some("status") => {
                let mut next = current.clone();
                set_field(&mut next, "status", proposed.remove("status"));
                next
            }
            Some(other) => {
                return Err(ApiError::not_found(
                    &format!("{}/{other}", key.qualified_resource()),
                    &key.name,
                ));
            }
            None => {
                if status_subresource {
                    proposed.remove("status");
                    if let Some(status) = current.get("status") {
                        proposed.insert("status".into(), status.clone());
                    }
                }
                for field in ["apiVersion", "kind"] {
                    if let (None, Some(value)) = (proposed.get(field), current.get(field)) {
                        proposed.insert(field.into(), value.clone());
                    }
                }
                Value::Object(proposed)
            }
        };
        keep_identity(current, &mut next)?;
        advance_generation(current, &mut next);
        if without_version(&next) == without_version(current) {
            return Ok(current.clone());
        }
        stamp_revision(&mut self.revision, &mut next);
        let finished =
            next.pointer("/metadata/deletionTimestamp").is_some() && finalizers(&next).is_empty();
        if finished {
            let previous = self.objects.remove(key);
            self.record(ChangeType::Deleted, key.clone(), next.clone(), previous);
        } else {
            let previous = self.objects.insert(key.clone(), next.clone());
            self.record(ChangeType::Modified, key.clone(), next.clone(), previous);
        }
        Ok(next)
    }

    /// Stores `next` at `key` as another writer would (field manager [`OTHER_WRITER`]),
    /// bypassing preconditions and the status subresource rule: an existing object keeps its identity and gets a new resourceVersion
    /// (and generation when its spec changed); an absent one is created with `next`'s status.
    pub(crate) fn overwrite(
        &mut self,
        key: &ObjectKey,
        mut next: Value,
    ) -> Result<Value, ApiError> {
        let Some(current) = self.objects.get(key) else {
            set_meta(&mut next, "name", key.name.clone().into());
            let created = self.create(
                &key.group_version,
                &key.resource,
                key.namespace.as_deref(),
                next,
                Origin::Seed,
            )?;
            self.owners.record(key, None, &created, OTHER_WRITER, None);
            return Ok(created);
        };
        keep_identity(current, &mut next)?;
        advance_generation(current, &mut next);
        stamp_revision(&mut self.revision, &mut next);
        self.owners
            .record(key, Some(current), &next, OTHER_WRITER, None);
        let previous = self.objects.insert(key.clone(), next.clone());
        self.record(ChangeType::Modified, key.clone(), next.clone(), previous);
        Ok(next)
    }

    /// Deletes the object at `key`: at once when it has no finalizers, else marks it with a
    /// `deletionTimestamp`.
    pub(crate) fn delete(
        &mut self,
        key: &ObjectKey,
        preconditions: &Preconditions,
    ) -> Result<Value, ApiError> {
        let current = self
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(&key.qualified_resource(), &key.name))?;
        let held_rv = resource_version(current).unwrap_or_default();
        if let Some(rv) = &preconditions.resource_version
            && rv != held_rv
        {
            return Err(ApiError::new(
                http::StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {held_rv}",
                    key.qualified_resource(),
                    key.name
                ),
            ));
        }
        let held_uid = current
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(uid) = &preconditions.uid
            && uid != held_uid
        {
            return Err(ApiError::new(
                http::StatusCode::CONFLICT,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {held_uid}",
                    key.qualified_resource(),
                    key.name
                ),
            ));
        }
        let mut object = current.clone();
        stamp_revision(&mut self.revision, &mut object);
        if finalizers(&object).is_empty() {
            let previous = self.objects.remove(key);
            self.record(ChangeType::Deleted, key.clone(), object.clone(), previous);
        } else {
            if object.pointer("/metadata/deletionTimestamp").is_none() {
                set_meta(&mut object, "deletionTimestamp", now().into());
            }
            let previous = self.objects.insert(key.clone(), object.clone());
            self.record(ChangeType::Modified, key.clone(), object.clone(), previous);
        }
        Ok(object)
    }

    fn record(&mut self, kind: ChangeType, key: ObjectKey, object: Value, previous: Option<Value>) {
        self.publish(Change {
            kind,
            key,
            object,
            previous,
            revision: self.revision,
        });
    }

    fn publish(&mut self, change: Change) {
        let change = Arc::new(change);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(Arc::clone(&change));
        // No watch listening is fine: the change is in the history.
        let _ = self.changes.send(change);
    }
}

/// The `metadata.resourceVersion` of `object`.
pub(crate) fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

fn into_object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(object) => Ok(object),
        other => Err(ApiError::bad_request(format!(
            "the body of the request is not a JSON object but {}",
            kind_of(&other)
        ))),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn metadata_mut(object: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, ApiError> {
    object
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata is not an object"))
}

fn set_field(object: &mut Value, field: &str, value: Option<Value>) {
    if let Some(map) = object.as_object_mut() {
        match value {
            Some(value) => map.insert(field.into(), value),
            None => map.remove(field),
        };
    }
}

fn set_meta(object: &mut Value, field: &str, value: Value) {
    if let Some(metadata) = object
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    {
        metadata.insert(field.into(), value);
    }
}

/// Copies what a client cannot change (name, namespace, uid, creation and deletion time,
/// generation) from `current` into `next`.
fn keep_identity(current: &Value, next: &mut Value) -> Result<(), ApiError> {
    let Some(next_object) = next.as_object_mut() else {
        return Err(ApiError::bad_request("the object is not a JSON object"));
    };
    let metadata = metadata_mut(next_object)?;
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
    ] {
        match current.get("metadata").and_then(|m| m.get(field)) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
    Ok(())
}

/// The object without `metadata` and `status`: what bumps `generation` when it changes.
fn spec_part(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    object
}

fn without_version(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("resourceVersion");
    }
    object
}

fn finalizers(object: &Value) -> Vec<Value> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A uid unique within this server, in the UUID text form.
fn uid(revision: u64) -> String {
    format!("5eed0000-0000-4000-8000-{revision:012x}")
}

/// The five-character suffix `generateName` gets, from the revision that creates the object.
fn suffix(revision: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut n = revision;
    (0..5)
        .map(|_| {
            let index = (n % ALPHABET.len() as u64) as usize;
            n /= ALPHABET.len() as u64;
            char::from(ALPHABET[index])
        })
        .collect()
}

/// The current time as the API server writes it (RFC 3339, whole seconds, UTC).
pub(crate) fn now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    k8s_openapi::jiff::Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX))
        .map_or_else(|_| "1970-01-01T00:00:00Z".to_string(), |t| t.to_string())
}

/// Advances the store's `revision` and gives it to `next` as its resourceVersion.
fn stamp_revision(revision: &mut u64, next: &mut Value) {
    *revision += 1;
    set_meta(next, "resourceVersion", revision.to_string().into());
}

/// Bumps `next`'s generation past `current`'s when its spec changed, as the API server does.
fn advance_generation(current: &Value, next: &mut Value) {
    if spec_part(next) != spec_part(current) {
        let generation = current
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        set_meta(next, "generation", (generation + 1).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(name: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": name, "labels": {"app": name}},
               "spec": {"replicas": 1}, "status": {"replicas": 7}})
    }

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("apps/v1", "deployments", Some("shop"), name)
    }

    #[test]
    fn create_assigns_identity_and_counts_versions() {
        let mut store = Store::new();
        let a = store
            .create(
                "apps/v1",
                "deployments",
                Some("shop"),
                deployment("a"),
                Origin::Client,
            )
            .expect("created");
        let b = store
            .create(
                "apps/v1",
                "deployments",
                Some("shop"),
                deployment("b"),
                Origin::Client,
            )
            .expect("created");
        assert_eq!(resource_version(&a), Some("1"));
        assert_eq!(resource_version(&b), Some("2"));
        assert_ne!(a["metadata"]["uid"], b["metadata"]["uid"]);
        assert_eq!(a["metadata"]["generation"], 1);
        assert_eq!(a.get("status"), None, "status is dropped on create");
        let again = store.create(
            "apps/v1",
            "deployments",
            Some("shop"),
            deployment("a"),
            Origin::Client,
        );
        assert_eq!(again.expect_err("exists").reason, "AlreadyExists");
    }

    #[test]
    fn an_overwrite_moves_the_version_on_keeps_identity_and_creates_when_absent() {
        let mut store = Store::new();
        let created = store
            .overwrite(&key("a"), deployment("ignored-name"))
            .expect("created");
        assert_eq!(created["metadata"]["name"], "a");
        assert_eq!(
            created["status"]["replicas"], 7,
            "an absent object keeps its status"
        );
        let mut next = created.clone();
        next["metadata"]["uid"] = "forged".into();
        next["metadata"]["resourceVersion"] = "999".into();
        next["spec"]["replicas"] = 3.into();
        next["status"]["replicas"] = 3.into();
        let written = store.overwrite(&key("a"), next).expect("overwritten");
        assert_eq!(resource_version(&written), Some("2"));
        assert_eq!(written["metadata"]["uid"], created["metadata"]["uid"]);
        assert_eq!(written["metadata"]["generation"], 2);
        assert_eq!(written["status"]["replicas"], 3, "status is written too");
    }

    #[test]
    fn update_checks_the_precondition_and_bumps_generation_on_spec_changes() {
        let mut store = Store::new();
        let created = store
            .create(
                "apps/v1",
                "deployments",
                Some("shop"),
                deployment("a"),
                Origin::Client,
            )
            .expect("created");
        let mut changed = created.clone();
        changed["spec"]["replicas"] = 3.into();
        let updated = store
            .update(&key("a"), changed.clone(), None)
            .expect("updated");
        assert_eq!(updated["metadata"]["generation"], 2);
        assert_eq!(resource_version(&updated), Some("2"));
        let stale = store.update(&key("a"), changed, None).expect_err("stale");
        assert_eq!(stale.code, http::StatusCode::CONFLICT);
        let mut status = updated.clone();
        status["status"] = json!({"readyReplicas": 3});
        status["spec"]["replicas"] = 9.into();
        let written = store
            .update(&key("a"), status, Some("status"))
            .expect("status");
        assert_eq!(written["status"]["readyReplicas"], 3);
        assert_eq!(
            written["spec"]["replicas"], 3,
            "status writes leave spec alone"
        );
        assert_eq!(written["metadata"]["generation"], 2);
    }

    #[test]
    fn an_unchanged_update_keeps_the_version() {
        let mut store = Store::new();
        let created = store
            .create(
                "apps/v1",
                "deployments",
                Some("shop"),
                deployment("a"),
                Origin::Client,
            )
            .expect("created");
        let same = store
            .update(&key("a"), created.clone(), None)
            .expect("no-op");
        assert_eq!(same, created);
        assert_eq!(store.revision(), 1);
    }

    #[test]
    fn finalizers_delay_deletion() {
        let mut store = Store::new();
        let mut body = deployment("a");
        body["metadata"]["finalizers"] = json!(["ripcord.dev/hold"]);
        store
            .create("apps/v1", "deployments", Some("shop"), body, Origin::Client)
            .expect("created");
        let marked = store
            .delete(&key("a"), &Preconditions::default())
            .expect("marked");
        assert!(marked.pointer("/metadata/deletionTimestamp").is_some());
        let mut released = marked.clone();
        released["metadata"]["finalizers"] = json!([]);
        store.update(&key("a"), released, None).expect("released");
        assert!(store.get(&key("a")).is_none());
        let kinds: Vec<_> = store
            .changes_since(0)
            .expect("kept")
            .iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            [ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]
        );
    }

    #[test]
    fn delete_preconditions_are_checked() {
        let mut store = Store::new();
        store
            .create(
                "apps/v1",
                "deployments",
                Some("shop"),
                deployment("a"),
                Origin::Client,
            )
            .expect("created");
        let stale = Preconditions {
            resource_version: Some("0".into()),
            uid: None,
        };
        assert_eq!(
            store.delete(&key("a"), &stale).expect_err("stale").code,
            http::StatusCode::CONFLICT
        );
        assert!(store.get(&key("a")).is_some());
    }
}
