//! Where snapshots live: one immutable ConfigMap per release in the controller's own
//! namespace, so that every controller replica can serve it and the controller needs no write
//! access to workload namespaces. Created once (a second creation keeps the first), read on a
//! canary's request, deleted by the sweep with an exact-version precondition.

use std::collections::BTreeMap;

use bytes::Bytes;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Preconditions};

use super::error::{Error, Result};
use crate::crd::BaselineSnapshot;

/// Label marking Ripcord's snapshot ConfigMaps (the sweep lists by it).
pub const SNAPSHOT_LABEL: &str = "ripcord.dev/snapshot";

/// Annotation naming the ReleaseCheck a snapshot belongs to, `namespace/name`.
pub const CHECK_ANNOTATION: &str = "ripcord.dev/release-check";

/// Annotation holding, as JSON, the record of the reading the ConfigMap keeps, so that a later
/// reading that finds it already created records what is kept, not what it read itself.
pub const RECORD_ANNOTATION: &str = "ripcord.dev/snapshot-record";

/// The ConfigMap key holding the window JSON.
pub const DATA_KEY: &str = "window.json";

/// What creating a snapshot ConfigMap found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// This reading is now kept.
    New,
    /// An earlier reading was kept already (another replica, an earlier reconcile whose status
    /// write failed), with its record when the ConfigMap carries one.
    Kept(Option<BaselineSnapshot>),
    /// One existed when this was created but was gone when read back (swept meanwhile).
    Vanished,
}

/// Longest ConfigMap name Kubernetes accepts.
const MAX_NAME: usize = 253;

/// The snapshot ConfigMap's name for ReleaseCheck `namespace/check`: readable when it fits
/// (a namespace holds no dot, so the first dot after the prefix separates the two), else a
/// digest of both.
pub fn config_map_name(namespace: &str, check: &str) -> String {
    let readable = format!("ripcord-snapshot.{namespace}.{check}");
    if readable.len() <= MAX_NAME {
        return readable;
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, readable.as_bytes());
    let hex: String = digest.as_ref()[..20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ripcord-snapshot.{hex}")
}

/// The immutable ConfigMap holding `json`, the snapshot of ReleaseCheck `namespace/check`
/// described by `record`.
pub fn config_map(
    home: &str,
    namespace: &str,
    check: &str,
    json: String,
    record: &BaselineSnapshot,
) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(config_map_name(namespace, check)),
            namespace: Some(home.to_string()),
            labels: Some(BTreeMap::from([
                (SNAPSHOT_LABEL.to_string(), "true".to_string()),
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "ripcord".to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (CHECK_ANNOTATION.to_string(), format!("{namespace}/{check}")),
                (
                    RECORD_ANNOTATION.to_string(),
                    serde_json::to_string(record).unwrap_or_default(),
                ),
            ])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(DATA_KEY.to_string(), json)])),
        immutable: Some(true),
        ..ConfigMap::default()
    }
}

/// The ReleaseCheck `(namespace, name)` a snapshot ConfigMap names, if it names one.
pub fn check_of(config_map: &ConfigMap) -> Option<(String, String)> {
    let value = config_map
        .metadata
        .annotations
        .as_ref()?
        .get(CHECK_ANNOTATION)?;
    let (namespace, name) = value.split_once('/')?;
    Some((namespace.to_string(), name.to_string()))
}

/// The record of the reading a snapshot ConfigMap keeps, if it carries a readable one.
pub fn record_of(config_map: &ConfigMap) -> Option<BaselineSnapshot> {
    let value = config_map
        .metadata
        .annotations
        .as_ref()?
        .get(RECORD_ANNOTATION)?;
    serde_json::from_str(value).ok()
}

/// The snapshot ConfigMaps of one namespace.
#[derive(Clone)]
pub struct Store {
    api: Api<ConfigMap>,
    home: String,
}

impl Store {
    /// The snapshots kept in namespace `home` (the controller's own).
    pub fn new(client: kube::Client, home: &str) -> Self {
        Store {
            api: Api::namespaced(client, home),
            home: home.to_string(),
        }
    }

    /// Keeps `json`, described by `record`, as the snapshot of ReleaseCheck `namespace/check`.
    /// One that exists already (another replica, an earlier reconcile) is kept as is, and its
    /// record returned.
    pub async fn create(
        &self,
        namespace: &str,
        check: &str,
        json: String,
        record: &BaselineSnapshot,
    ) -> Result<Created> {
        let object = config_map(&self.home, namespace, check, json, record);
        let name = object.metadata.name.clone().unwrap_or_default();
        match self.api.create(&crate::post_params(), &object).await {
            Ok(_) => Ok(Created::New),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Ok(match self.get(&name).await? {
                    Some(existing) => Created::Kept(record_of(&existing)),
                    None => Created::Vanished,
                })
            }
            Err(source) => Err(Error::Kube {
                action: "create",
                name,
                source,
            }),
        }
    }

    /// The record of the snapshot kept for ReleaseCheck `namespace/check`, when one is kept
    /// and carries its record.
    pub async fn kept_record(
        &self,
        namespace: &str,
        check: &str,
    ) -> Result<Option<BaselineSnapshot>> {
        let object = self.get(&config_map_name(namespace, check)).await?;
        Ok(object.as_ref().and_then(record_of))
    }

    /// The ConfigMap `name`, if it exists.
    async fn get(&self, name: &str) -> Result<Option<ConfigMap>> {
        self.api.get_opt(name).await.map_err(|source| Error::Kube {
            action: "read",
            name: name.to_string(),
            source,
        })
    }

    /// The snapshot of ReleaseCheck `namespace/check`; `None` when none is kept.
    pub async fn read(&self, namespace: &str, check: &str) -> Result<Option<Bytes>> {
        let name = config_map_name(namespace, check);
        let Some(object) = self.get(&name).await? else {
            return Ok(None);
        };
        object
            .data
            .and_then(|mut data| data.remove(DATA_KEY))
            .map(|json| Some(Bytes::from(json)))
            .ok_or(Error::Unreadable {
                name,
                key: DATA_KEY,
            })
    }

    /// Deletes every snapshot whose check `keep` does not want kept; returns how many. Each
    /// delete carries the listed uid and resourceVersion as preconditions.
    pub async fn sweep(&self, keep: impl Fn(&str, &str) -> bool) -> Result<usize> {
        let listed = self
            .api
            .list(&ListParams::default().labels(&format!("{SNAPSHOT_LABEL}=true")))
            .await
            .map_err(|source| Error::Kube {
                action: "list",
                name: format!("{}/*", self.home),
                source,
            })?;
        let mut deleted = 0;
        for object in listed.items {
            if check_of(&object).is_some_and(|(namespace, name)| keep(&namespace, &name)) {
                continue;
            }
            let name = object.metadata.name.clone().unwrap_or_default();
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: object.metadata.uid.clone(),
                    resource_version: object.metadata.resource_version.clone(),
                }),
                ..DeleteParams::default()
            };
            match self.api.delete(&name, &params).await {
                Ok(_) => deleted += 1,
                Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
                Err(source) => {
                    return Err(Error::Kube {
                        action: "delete",
                        name,
                        source,
                    });
                }
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_readable_when_they_fit_and_digests_otherwise() {
        assert_eq!(
            config_map_name("shop", "checkout-3"),
            "ripcord-snapshot.shop.checkout-3"
        );
        let long = "a".repeat(240);
        let name = config_map_name("shop", &long);
        assert!(name.len() <= MAX_NAME && name.starts_with("ripcord-snapshot."));
        assert_ne!(name, config_map_name("shop", &"b".repeat(240)));
    }

    #[test]
    fn the_config_map_names_its_check_and_is_immutable() {
        let record = BaselineSnapshot {
            pods_asked: 3,
            pods_answered: 2,
            observations: 30,
            ..BaselineSnapshot::default()
        };
        let object = config_map("ripcord", "shop", "checkout-3", "{}".to_string(), &record);
        assert_eq!(record_of(&object), Some(record));
        assert_eq!(object.immutable, Some(true));
        assert_eq!(object.metadata.namespace.as_deref(), Some("ripcord"));
        assert_eq!(
            check_of(&object),
            Some(("shop".to_string(), "checkout-3".to_string()))
        );
        assert_eq!(
            object
                .data
                .and_then(|d| d.get(DATA_KEY).cloned())
                .as_deref(),
            Some("{}")
        );
    }
}
