//! Release detection: which ReplicaSet revision of a Deployment runs now, which revision came
//! before it, and whether that earlier revision ran Ripcord's sidecar. Pure: a Deployment and its
//! namespace's ReplicaSets in, facts out; the watch that feeds it lives elsewhere. Detection
//! reads the compacted objects the caches hold ([`compact`]); whole objects are compacted
//! first, the same way.

pub mod compact;
mod error;
mod history;

pub use compact::{CompactDeployment, CompactReplicaSet};
pub use error::{Error, Result};
pub(crate) use history::{Entry, History, without_hash};
use history::{Facts, Identity, Lineage};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;

/// Annotation the Deployment controller writes on each ReplicaSet (and the Deployment) with the
/// revision number of that pod template.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

/// Annotation the Deployment controller writes on a ReplicaSet that was reused for a newer
/// revision (a rollback, or a template applied again): its earlier revision numbers, as `"2,3"`.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";

/// Label the Deployment controller adds to a ReplicaSet's selector and pod template, holding the
/// hash of the template; it names a revision's pods.
pub const POD_TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Name of Ripcord's sidecar container (a native sidecar init container, or a plain container).
pub const SIDECAR_CONTAINER: &str = "ripcord-sidecar";

/// Label on a pod template that asks the webhook to inject the sidecar into its pods.
pub const ENABLED_LABEL: &str = "ripcord.dev/enabled";

/// One revision of a Deployment: a ReplicaSet the Deployment owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The revision number, from the ReplicaSet's `deployment.kubernetes.io/revision`.
    pub number: u64,
    /// The ReplicaSet's `pod-template-hash` label; the revision's pods carry it too.
    pub hash: String,
    /// The ReplicaSet's name.
    pub replica_set: String,
    /// Revision numbers this same template had before (`deployment.kubernetes.io/revision-history`),
    /// oldest first. Not empty when the revision reuses an earlier ReplicaSet: a rollback, or a
    /// template applied again (a GitOps tool re-applying a rolled-back release), rather than a
    /// new release.
    pub earlier_numbers: Vec<u64>,
    /// Whether this revision's pods ran Ripcord's sidecar: the pod template asks for injection
    /// (label `ripcord.dev/enabled: "true"`) or already names a `ripcord-sidecar` container or
    /// init container.
    pub has_sidecar: bool,
}

/// A Deployment's release as seen now: the revision its template runs, and the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The Deployment's namespace.
    pub namespace: String,
    /// The Deployment's name.
    pub deployment: String,
    /// The revision whose ReplicaSet's template equals the Deployment's template.
    pub current: Revision,
    /// The owned revision with the highest number below the current one, if any: the baseline.
    pub previous: Option<Revision>,
}

impl Release {
    /// Whether the current revision is an earlier ReplicaSet brought back (a rollback, or a
    /// template applied again) rather than a new release: no check is opened for it.
    pub fn brought_back(&self) -> bool {
        !self.current.earlier_numbers.is_empty()
    }

    /// Whether the previous revision's pods had the sidecar, so they can serve as a live
    /// baseline. A release without a previous revision has none.
    pub fn previous_had_sidecar(&self) -> bool {
        self.previous.as_ref().is_some_and(|p| p.has_sidecar)
    }
}

/// Detects the Deployment's current release among `replica_sets` (any list: ReplicaSets the
/// Deployment does not control through an ownerReference with its UID are skipped).
///
/// Returns `Ok(None)` when no owned ReplicaSet runs the Deployment's template yet (the Deployment
/// controller has not created it, or the Deployment is paused): wait for the next change.
/// ReplicaSets without a revision annotation are not part of the history, as for
/// `kubectl rollout history`. A malformed object is an error naming it and the field.
pub fn detect(deployment: &Deployment, replica_sets: &[ReplicaSet]) -> Result<Option<Release>> {
    let replica_sets: Vec<CompactReplicaSet> =
        replica_sets.iter().map(CompactReplicaSet::from).collect();
    detect_compact(&CompactDeployment::from(deployment), &replica_sets)
}

/// [`detect`] over the compacted objects the caches hold.
pub fn detect_compact<'c>(
    deployment: &CompactDeployment,
    replica_sets: impl IntoIterator<Item = &'c CompactReplicaSet>,
) -> Result<Option<Release>> {
    let identity = Identity::of(&deployment.metadata, deployment.template.is_some())?;
    let mut entries = Vec::new();
    for replica_set in replica_sets {
        if identity.controls(replica_set) {
            entries.push(Facts::new(replica_set, identity.namespace)?);
        }
    }
    let Some(template) = &deployment.template else {
        return Ok(None);
    };
    let lineage = Lineage::new(&identity, template.digest, entries);
    let Some(current) = lineage.current()? else {
        return Ok(None);
    };
    let previous = lineage.earlier(current).next();
    Ok(Some(Release {
        namespace: lineage.namespace().to_string(),
        deployment: lineage.name().to_string(),
        current: current.revision()?,
        previous: previous.map(Facts::revision).transpose()?,
    }))
}

/// Whether pods of this template run the sidecar (see [`Revision::has_sidecar`]).
pub(crate) fn has_sidecar(template: &PodTemplateSpec) -> bool {
    let labelled = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref())
        .and_then(|l| l.get(ENABLED_LABEL))
        .is_some_and(|v| v == "true");
    let named = template.spec.as_ref().is_some_and(|spec| {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|c| c.name == SIDECAR_CONTAINER)
    });
    labelled || named
}

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
pub(crate) mod tests;
