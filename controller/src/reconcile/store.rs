//! An in-memory cache of one kind of watched object, fed by its watch events: objects by
//! namespace and name, plus one secondary index (ReplicaSets by owner UID, pods by revision,
//! ReleaseChecks by Deployment) so a reconcile reads only the objects it needs instead of
//! scanning them all. A relist is buffered and swapped in whole when it is done, as a
//! kube-runtime reflector does.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use kube::runtime::watcher::Event;

/// An object the store can hold.
pub(crate) trait Keyed {
    /// The object's namespace (empty when it has none).
    fn namespace(&self) -> &str;
    /// The object's name (empty when it has none).
    fn name(&self) -> &str;
}

/// The secondary index key of an object, if it has one.
pub(crate) type IndexKey<K> = fn(&K) -> Option<String>;

/// Objects of one kind by `namespace/name`, and by one secondary key; cheap to clone.
pub(crate) struct Indexed<K> {
    state: Arc<RwLock<State<K>>>,
    key: IndexKey<K>,
}

impl<K> Clone for Indexed<K> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
            key: self.key,
        }
    }
}

struct State<K> {
    live: Table<K>,
    /// The relist in progress, swapped in when it completes.
    relist: Option<Table<K>>,
}

struct Table<K> {
    objects: HashMap<String, Arc<K>>,
    index: HashMap<String, Vec<Arc<K>>>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Self {
            objects: HashMap::new(),
            index: HashMap::new(),
        }
    }
}

fn object_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl<K: Keyed> Table<K> {
    fn insert(&mut self, object: Arc<K>, key: IndexKey<K>) {
        self.remove(object.namespace(), object.name(), key);
        if let Some(index) = key(&object) {
            self.index
                .entry(index)
                .or_default()
                .push(Arc::clone(&object));
        }
        self.objects
            .insert(object_key(object.namespace(), object.name()), object);
    }

    fn remove(&mut self, namespace: &str, name: &str, key: IndexKey<K>) {
        let Some(old) = self.objects.remove(&object_key(namespace, name)) else {
            return;
        };
        let Some(index) = key(&old) else {
            return;
        };
        if let Some(list) = self.index.get_mut(&index) {
            list.retain(|o| !Arc::ptr_eq(o, &old));
            if list.is_empty() {
                self.index.remove(&index);
            }
        }
    }
}

impl<K: Keyed> Indexed<K> {
    /// An empty store indexing its objects by `key`.
    pub(crate) fn new(key: IndexKey<K>) -> Self {
        Self {
            state: Arc::new(RwLock::new(State {
                live: Table::default(),
                relist: None,
            })),
            key,
        }
    }

    /// Applies one watch event.
    pub(crate) fn apply(&self, event: &Event<K>)
    where
        K: Clone,
    {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let key = self.key;
        match event {
            Event::Apply(object) => state.live.insert(Arc::new(object.clone()), key),
            Event::Delete(object) => state.live.remove(object.namespace(), object.name(), key),
            Event::Init => state.relist = Some(Table::default()),
            Event::InitApply(object) => {
                let object = Arc::new(object.clone());
                match state.relist.as_mut() {
                    Some(relist) => relist.insert(object, key),
                    None => state.live.insert(object, key),
                }
            }
            Event::InitDone => {
                if let Some(relist) = state.relist.take() {
                    state.live = relist;
                }
            }
        }
    }

    /// The object `namespace/name`.
    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .live
            .objects
            .get(&object_key(namespace, name))
            .cloned()
    }

    /// The objects whose index key is `index`.
    pub(crate) fn indexed(&self, index: &str) -> Vec<Arc<K>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.live.index.get(index).cloned().unwrap_or_default()
    }

    /// The objects for which `keep` holds.
    pub(crate) fn filtered(&self, keep: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state
            .live
            .objects
            .values()
            .filter(|object| keep(object))
            .cloned()
            .collect()
    }

    /// How many objects the store holds.
    pub(crate) fn len(&self) -> usize {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.live.objects.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Object {
        namespace: String,
        name: String,
        group: Option<String>,
    }

    impl Keyed for Object {
        fn namespace(&self) -> &str {
            &self.namespace
        }
        fn name(&self) -> &str {
            &self.name
        }
    }

    fn object(name: &str, group: Option<&str>) -> Object {
        Object {
            namespace: "shop".to_string(),
            name: name.to_string(),
            group: group.map(str::to_string),
        }
    }

    fn names(objects: Vec<Arc<Object>>) -> Vec<String> {
        let mut names: Vec<String> = objects.iter().map(|o| o.name.clone()).collect();
        names.sort();
        names
    }

    #[test]
    fn the_index_follows_applies_moves_and_deletes() {
        let store = Indexed::new(|o: &Object| o.group.clone());
        store.apply(&Event::Apply(object("a", Some("x"))));
        store.apply(&Event::Apply(object("b", Some("x"))));
        store.apply(&Event::Apply(object("c", None)));
        assert_eq!(names(store.indexed("x")), ["a", "b"]);
        store.apply(&Event::Apply(object("b", Some("y"))));
        assert_eq!(names(store.indexed("x")), ["a"]);
        assert_eq!(names(store.indexed("y")), ["b"]);
        store.apply(&Event::Delete(object("a", Some("x"))));
        assert!(store.indexed("x").is_empty());
        assert_eq!(store.len(), 2);
        assert_eq!(store.get("shop", "c").as_deref(), Some(&object("c", None)));
        assert!(store.get("other", "c").is_none());
    }

    #[test]
    fn a_relist_replaces_the_contents_only_when_it_is_done() {
        let store = Indexed::new(|o: &Object| o.group.clone());
        store.apply(&Event::Apply(object("old", Some("x"))));
        store.apply(&Event::Init);
        store.apply(&Event::InitApply(object("new", Some("x"))));
        assert_eq!(names(store.indexed("x")), ["old"], "still the last list");
        store.apply(&Event::InitDone);
        assert_eq!(names(store.indexed("x")), ["new"]);
        assert!(store.get("shop", "old").is_none());
    }
}
