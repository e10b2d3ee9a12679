//! A watched pod, compacted to what sidecar assignment and the intake read: its name, UID,
//! revision (`pod-template-hash`), ReplicaSet, IP and whether it serves.

use k8s_openapi::api::core::v1::Pod;

use crate::release::POD_TEMPLATE_HASH_LABEL;

/// The pod's owning ReplicaSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodOwner {
    /// The ReplicaSet's name.
    pub name: String,
    /// Whether the reference is the pod's controller.
    pub controller: bool,
}

/// A watched pod, compacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactPod {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// The `pod-template-hash` label, naming the pod's revision.
    pub hash: Option<String>,
    /// The first ownerReference of kind ReplicaSet.
    pub replica_set: Option<PodOwner>,
    /// `status.podIP`.
    pub ip: Option<String>,
    /// Whether the pod runs (phase `Running`).
    pub running: bool,
    /// Whether the pod is being deleted.
    pub deleting: bool,
    /// `metadata.creationTimestamp`, Unix milliseconds.
    pub created_ms: Option<i64>,
}

impl From<&Pod> for CompactPod {
    fn from(pod: &Pod) -> Self {
        let meta = &pod.metadata;
        let status = pod.status.as_ref();
        Self {
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            hash: meta
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .cloned(),
            replica_set: meta.owner_references.iter().flatten().find_map(|o| {
                (o.kind == "ReplicaSet").then(|| PodOwner {
                    name: o.name.clone(),
                    controller: o.controller == Some(true),
                })
            }),
            ip: status.and_then(|s| s.pod_ip.clone()),
            running: status.and_then(|s| s.phase.as_deref()) == Some("Running"),
            deleting: meta.deletion_timestamp.is_some(),
            created_ms: meta
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond()),
        }
    }
}

impl CompactPod {
    /// Whether the pod runs and is not on its way out, so its sidecar can answer.
    pub fn serving(&self) -> bool {
        self.running && !self.deleting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_pod_keeps_revision_owner_ip_and_serving() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "checkout-59c4d7f8b6-x", "namespace": "shop", "uid": "u1",
                "labels": {"app": "checkout", "pod-template-hash": "59c4d7f8b6"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "checkout-59c4d7f8b6", "uid": "rs", "controller": true}]},
            "spec": {"containers": [{"name": "app", "image": "ghcr.io/example/checkout:v2"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.30"}
        }))
        .expect("a pod");
        let compact = CompactPod::from(&pod);
        assert_eq!(compact.hash.as_deref(), Some("59c4d7f8b6"));
        assert_eq!(
            compact.replica_set,
            Some(PodOwner {
                name: "checkout-59c4d7f8b6".to_string(),
                controller: true
            })
        );
        assert_eq!(compact.ip.as_deref(), Some("10.0.0.30"));
        assert!(compact.serving());
        let mut deleting = pod;
        deleting.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-24T10:00:00Z".parse().expect("a time"),
            ));
        assert!(!CompactPod::from(&deleting).serving());
    }
}
