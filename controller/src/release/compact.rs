//! Compact forms of the watched Deployments and ReplicaSets: only the fields release detection,
//! reconcile planning, sidecar assignment and the intake read, taken from each object as it
//! arrives. A k8s-openapi object costs over 2 KB before any of its fields is set; these cost a
//! few hundred bytes, so ten thousand Deployments fit in a small heap. Pod templates are kept as
//! a digest (two templates are the same revision exactly when their digests are equal) plus the
//! facts read from them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::Resource;
use serde::{Deserialize, Serialize};

use super::{POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION};
use super::{has_sidecar, without_hash};

/// Prefix of the annotations Ripcord reads and writes.
const RIPCORD_PREFIX: &str = "ripcord.dev/";

/// SHA-256 of a pod template without its `pod-template-hash` label, as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TemplateDigest([u8; 32]);

impl TemplateDigest {
    /// The digest of `template`, ignoring its `pod-template-hash` label.
    pub fn of(template: &PodTemplateSpec) -> Self {
        // Serializing a k8s-openapi struct cannot fail (no maps with non-string keys).
        let whole = serde_json::to_vec(&without_hash(template)).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, &whole);
        let mut bytes = [0; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

/// What the caches keep of a pod template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateFacts {
    /// Digest of the whole template, without its `pod-template-hash` label.
    pub digest: TemplateDigest,
    /// Whether pods of this template run the sidecar (see `Revision::has_sidecar`).
    pub has_sidecar: bool,
}

impl TemplateFacts {
    /// The facts of `template`.
    pub fn of(template: &PodTemplateSpec) -> Self {
        Self {
            digest: TemplateDigest::of(template),
            has_sidecar: has_sidecar(template),
        }
    }
}

/// An object's controlling owner (the ownerReference with `controller: true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The owner's kind.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// The owner's UID.
    pub uid: String,
}

impl Owner {
    /// The first ownerReference with `controller: true` (Kubernetes allows one).
    pub fn controller_of(references: Option<&[OwnerReference]>) -> Option<Self> {
        references?
            .iter()
            .find(|o| o.controller == Some(true))
            .map(|o| Self {
                kind: o.kind.clone(),
                name: o.name.clone(),
                uid: o.uid.clone(),
            })
    }
}

/// The rollout status fields the reconciler reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// `status.observedGeneration`.
    pub observed_generation: Option<i64>,
    /// `status.replicas`.
    pub replicas: Option<i32>,
    /// `status.updatedReplicas`.
    pub updated_replicas: Option<i32>,
    /// `status.availableReplicas`.
    pub available_replicas: Option<i32>,
}

/// A watched Deployment, compacted. It is a [`Resource`] (kind `apps/v1` Deployment) so the
/// reconciler's controller can queue it; its metadata holds only name, namespace, UID,
/// resourceVersion, generation and the `ripcord.dev/` annotations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactDeployment {
    /// The kept metadata.
    pub metadata: ObjectMeta,
    /// The pod template's facts; `None` when the Deployment has no spec.
    pub template: Option<TemplateFacts>,
    /// The pod template's `ripcord.dev/` annotations (the service owner's policy).
    pub template_annotations: BTreeMap<String, String>,
    /// `spec.replicas`.
    pub replicas: Option<i32>,
    /// `spec.paused`: the Deployment controller rolls out no new template.
    #[serde(default)]
    pub paused: bool,
    /// The rollout status, if any.
    pub status: Option<RolloutStatus>,
    /// `spec.selector` as a label selector string (`app=checkout,tier in (web)`): what lists
    /// the Deployment's ReplicaSets, labelled or not. `None` when the selector is empty or
    /// unreadable.
    pub selector: Option<String>,
}

impl From<&Deployment> for CompactDeployment {
    fn from(deployment: &Deployment) -> Self {
        let meta = &deployment.metadata;
        let spec = deployment.spec.as_ref();
        let template = spec.map(|s| &s.template);
        Self {
            metadata: ObjectMeta {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                generation: meta.generation,
                annotations: meta.annotations.as_ref().map(ripcord_annotations),
                ..ObjectMeta::default()
            },
            template: template.map(TemplateFacts::of),
            template_annotations: template
                .and_then(|t| t.metadata.as_ref()?.annotations.as_ref())
                .map(ripcord_annotations)
                .unwrap_or_default(),
            replicas: spec.and_then(|s| s.replicas),
            paused: spec.and_then(|s| s.paused).unwrap_or(false),
            status: deployment.status.as_ref().map(|s| RolloutStatus {
                observed_generation: s.observed_generation,
                replicas: s.replicas,
                updated_replicas: s.updated_replicas,
                available_replicas: s.available_replicas,
            }),
            selector: spec.and_then(|s| selector_string(&s.selector)),
        }
    }
}

/// `selector` as the API's label selector string (`app=checkout,tier in (web)`): its
/// `matchLabels` and `matchExpressions` together. `None` when it selects nothing in particular
/// (empty) or cannot be read (an unknown operator, `In` without values), so nothing is listed.
fn selector_string(selector: &LabelSelector) -> Option<String> {
    let text = kube::core::Selector::try_from(selector.clone())
        .ok()?
        .to_string();
    (!text.is_empty()).then_some(text)
}

impl CompactDeployment {
    /// The Deployment's annotation `key` (only `ripcord.dev/` ones are kept).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }
}

fn ripcord_annotations(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations
        .iter()
        .filter(|(key, _)| key.starts_with(RIPCORD_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

impl Resource for CompactDeployment {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(dt: &()) -> Cow<'_, str> {
        Deployment::kind(dt)
    }

    fn group(dt: &()) -> Cow<'_, str> {
        Deployment::group(dt)
    }

    fn version(dt: &()) -> Cow<'_, str> {
        Deployment::version(dt)
    }

    fn plural(dt: &()) -> Cow<'_, str> {
        Deployment::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A watched ReplicaSet, compacted. Annotations are kept as written, so detection reports a
/// malformed one exactly as it would on the whole object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReplicaSet {
    /// `metadata.name`.
    pub name: Option<String>,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// `metadata.creationTimestamp`, Unix milliseconds.
    pub created_ms: Option<i64>,
    /// The `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<String>,
    /// The `deployment.kubernetes.io/revision-history` annotation.
    pub revision_history: Option<String>,
    /// The `pod-template-hash` label (of the ReplicaSet, else of its template).
    pub hash: Option<String>,
    /// The controlling owner.
    pub owner: Option<Owner>,
    /// The pod template's facts; `None` when `spec.template` is absent.
    pub template: Option<TemplateFacts>,
}

impl From<&ReplicaSet> for CompactReplicaSet {
    fn from(replica_set: &ReplicaSet) -> Self {
        let meta = &replica_set.metadata;
        let template = replica_set.spec.as_ref().and_then(|s| s.template.as_ref());
        let annotation = |key| meta.annotations.as_ref()?.get(key).cloned();
        let hash = meta
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .or_else(|| {
                template?
                    .metadata
                    .as_ref()?
                    .labels
                    .as_ref()?
                    .get(POD_TEMPLATE_HASH_LABEL)
            })
            .cloned();
        Self {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            created_ms: meta
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.as_millisecond()),
            revision: annotation(REVISION_ANNOTATION),
            revision_history: annotation(REVISION_HISTORY_ANNOTATION),
            hash,
            owner: Owner::controller_of(meta.owner_references.as_deref()),
            template: template.map(TemplateFacts::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::fixtures::load;

    #[test]
    fn the_digest_follows_the_template_but_not_its_hash_label() {
        let fixture = load("history-basic.yaml");
        let template = fixture.deployment.spec.expect("a spec").template;
        let mut changed = template.clone();
        if let Some(spec) = changed.spec.as_mut() {
            spec.containers[0].image = Some("ghcr.io/example/checkout:v9".to_string());
        }
        assert_ne!(TemplateDigest::of(&template), TemplateDigest::of(&changed));
        let mut hashed = template.clone();
        hashed
            .metadata
            .get_or_insert_default()
            .labels
            .get_or_insert_default()
            .insert(POD_TEMPLATE_HASH_LABEL.to_string(), "abc".to_string());
        assert_eq!(TemplateDigest::of(&template), TemplateDigest::of(&hashed));
    }

    fn selector(value: serde_json::Value) -> Option<String> {
        selector_string(&serde_json::from_value(value).expect("a LabelSelector"))
    }

    #[test]
    fn the_selector_lists_by_labels_and_expressions_alike() {
        assert_eq!(
            selector(serde_json::json!({"matchLabels": {"app": "checkout", "tier": "web"}})),
            Some("app=checkout,tier=web".to_string())
        );
        assert_eq!(
            selector(serde_json::json!({
                "matchLabels": {"app": "checkout"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "edge"]},
                    {"key": "track", "operator": "NotIn", "values": ["canary"]},
                    {"key": "team", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"}
                ]
            })),
            Some("app=checkout,tier in (edge,web),track notin (canary),team,!legacy".to_string())
        );
        assert_eq!(
            selector(serde_json::json!({})),
            None,
            "empty selects all: none"
        );
        assert_eq!(
            selector(serde_json::json!({"matchExpressions": [
                {"key": "tier", "operator": "Near", "values": ["web"]}
            ]})),
            None,
            "an unknown operator lists nothing"
        );
    }

    #[test]
    fn a_compact_deployment_keeps_what_the_reconciler_reads_and_nothing_else() {
        let mut deployment = load("history-basic.yaml").deployment;
        let annotations = deployment.metadata.annotations.get_or_insert_default();
        annotations.insert("ripcord.dev/release-check".into(), "checkout-3".into());
        annotations.insert(
            "kubectl.kubernetes.io/last-applied-configuration".into(),
            "{}".into(),
        );
        let compact = CompactDeployment::from(&deployment);
        assert_eq!(
            compact.annotation("ripcord.dev/release-check"),
            Some("checkout-3")
        );
        let kept = compact.metadata.annotations.as_ref().expect("annotations");
        assert!(
            kept.keys().all(|k| k.starts_with(RIPCORD_PREFIX)),
            "{kept:?}"
        );
        assert_eq!(compact.metadata.uid, deployment.metadata.uid);
        assert!(
            compact
                .template_annotations
                .contains_key("ripcord.dev/watch")
        );
        let template = &deployment.spec.as_ref().expect("a spec").template;
        assert_eq!(compact.template, Some(TemplateFacts::of(template)));
        assert_eq!(
            compact.status.and_then(|s| s.observed_generation),
            deployment.status.and_then(|s| s.observed_generation)
        );
    }
}
