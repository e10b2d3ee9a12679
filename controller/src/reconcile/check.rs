//! A watched ReleaseCheck, compacted to what the reconciler and the intake read: its name, its
//! Deployment, its guard period and its whole status (the reconciler's status patches are
//! computed against it).

use crate::crd::{ReleaseCheck, ReleaseCheckStatus};

/// A watched ReleaseCheck, compacted.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactCheck {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `spec.deployment`.
    pub deployment: String,
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
            deployment: check.spec.deployment.clone(),
            watch_for_seconds: check.spec.policy.watch_for_seconds,
            status: check.status.clone().map(Box::new),
        }
    }
}
