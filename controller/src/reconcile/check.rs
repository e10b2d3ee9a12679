//! A watched ReleaseCheck, compacted to what the reconciler, the intake and the snapshot sweep
//! read: its name and resourceVersion, its Deployment, revision and template, its guard period,
//! whether a human released its held template, and its whole status (the reconciler's status
//! patches are computed against it).

use crate::crd::{ReleaseCheck, ReleaseCheckStatus};

/// A watched ReleaseCheck, compacted.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactCheck {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.resourceVersion`, the precondition of the reconciler's status writes.
    pub resource_version: Option<String>,
    /// `spec.deployment`.
    pub deployment: String,
    /// `spec.revision`.
    pub revision: i64,
    /// `spec.templateHash`.
    pub template_hash: String,
    /// Whether a human released the held template (`kubectl ripcord release`).
    pub released: bool,
    /// `spec.policy.watchForSeconds`.
    pub watch_for_seconds: i64,
    /// The status, whole.
    pub status: Option<Box<ReleaseCheckStatus>>,
}

impl From<&ReleaseCheck> for CompactCheck {
    fn from(check: &ReleaseCheck) -> Self {
        Self {
            name: check.metadata.name.clone().unwrap_or_default(),
            namespace: check.metadata.namespace.clone().unwrap_or_default(),
            resource_version: check.metadata.resource_version.clone(),
            deployment: check.spec.deployment.clone(),
            revision: check.spec.revision,
            template_hash: check.spec.template_hash.clone(),
            released: crate::rollback::released(check.metadata.annotations.as_ref()),
            watch_for_seconds: check.spec.policy.watch_for_seconds,
            status: check.status.clone().map(Box::new),
        }
    }
}
