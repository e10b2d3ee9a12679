//! Rollback planning: given a Deployment, its ReplicaSets and which pod templates failed, decide
//! whether to restore an earlier revision (`kubectl rollout undo` semantics), to hold a
//! re-applied failed template by pausing the Deployment, or to write nothing and say why. Pure:
//! objects in, a plan out; every write is a [`DeploymentPatch`] guarded by the Deployment's
//! resourceVersion, so many verdicts and many controller replicas produce one rollback.

mod error;
mod patch;
mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

pub use error::{Error, Result};
pub use patch::{DeploymentPatch, JSON_PATCH_CONTENT_TYPE};
pub use records::{
    RELEASED_AT_ANNOTATION, RELEASED_BY_ANNOTATION, TemplateRecords, release_record, released,
};

use crate::ops::metrics::ActionKind;
use crate::release::{Entry, History, Revision, without_hash};
use patch::pointer;

/// Deployment annotation naming the `pod-template-hash` Ripcord rolled back away from. It is
/// written in the same patch as the rollback, so it records the rollback atomically: a later
/// plan treats that hash as already rolled back even if the rest of Ripcord's records lag.
pub const ROLLED_BACK_FROM_ANNOTATION: &str = "ripcord.dev/rolled-back-from";

/// Deployment annotation naming the `pod-template-hash` Ripcord rolled back to.
pub const ROLLED_BACK_TO_ANNOTATION: &str = "ripcord.dev/rolled-back-to";

/// Deployment annotation naming the failed `pod-template-hash` Ripcord paused the Deployment
/// on (quarantine). Its presence says the pause is Ripcord's, not a human's.
pub const HELD_ANNOTATION: &str = "ripcord.dev/held";

/// The annotation `kubectl rollout history` shows as CHANGE-CAUSE; the Deployment controller
/// copies it onto the ReplicaSet it rolls to.
pub const CHANGE_CAUSE_ANNOTATION: &str = "kubernetes.io/change-cause";

/// What to do about a Deployment whose release failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RollbackPlan {
    /// Restore `to`'s pod template (without its `pod-template-hash` label) into the Deployment.
    Rollback {
        /// The failed revision running now.
        from: Revision,
        /// The revision restored: the highest-numbered earlier revision that did not fail.
        to: Revision,
        /// The write: replace `/spec/template`, annotate, at the planned resourceVersion.
        patch: DeploymentPatch,
    },
    /// A template that already failed and was rolled back is running again (a GitOps tool
    /// re-applied it): pause the Deployment and report, rather than roll back in a loop.
    Quarantine {
        /// The re-applied failed revision.
        current: Revision,
        /// The write: `spec.paused: true` and [`HELD_ANNOTATION`], at the planned
        /// resourceVersion.
        patch: DeploymentPatch,
    },
    /// Write nothing; report the reason.
    Hold {
        /// Why nothing is written.
        reason: HoldReason,
    },
}

/// Why a plan writes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// No owned ReplicaSet runs the Deployment's template yet; wait for the Deployment
    /// controller to create it.
    NoCurrentRevision,
    /// The Deployment is being deleted; writing to it would only race the garbage collector.
    Deleting,
    /// The current revision is not one that failed: the rollback already happened (another
    /// replica, an earlier verdict, a human) or a newer release superseded the failed one.
    AlreadyDone {
        /// The revision running now.
        current: Revision,
    },
    /// Ripcord already paused the Deployment on this re-applied failed template.
    AlreadyHeld {
        /// The held revision.
        current: Revision,
    },
    /// Someone else paused the Deployment; a paused Deployment does not roll out a restored
    /// template, and a human is in charge (`kubectl rollout undo` refuses too).
    Paused {
        /// The revision running now.
        current: Revision,
    },
    /// The failed revision is the Deployment's first: there is nothing to go back to.
    NoEarlierRevision {
        /// The failed revision.
        current: Revision,
    },
    /// Every earlier revision failed too; Ripcord never rolls back to a failed revision.
    AllEarlierFailed {
        /// The failed revision running now.
        current: Revision,
        /// The earlier revisions, highest first, all failed.
        failed: Vec<Revision>,
    },
}

impl RollbackPlan {
    /// The write this plan makes, if any.
    pub fn patch(&self) -> Option<&DeploymentPatch> {
        match self {
            Self::Rollback { patch, .. } | Self::Quarantine { patch, .. } => Some(patch),
            Self::Hold { .. } => None,
        }
    }

    /// The action this plan takes, as the controller's metrics count it: a rollback, a hold
    /// (quarantine), or, for a plan that holds, the action already done (`None` when the plan
    /// refuses to act).
    pub fn action_kind(&self) -> Option<ActionKind> {
        match self {
            Self::Rollback { .. }
            | Self::Hold {
                reason: HoldReason::AlreadyDone { .. },
            } => Some(ActionKind::Rollback),
            Self::Quarantine { .. }
            | Self::Hold {
                reason: HoldReason::AlreadyHeld { .. },
            } => Some(ActionKind::Hold),
            Self::Hold { .. } => None,
        }
    }
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCurrentRevision => {
                write!(f, "no ReplicaSet runs the Deployment's template yet")
            }
            Self::Deleting => write!(f, "the Deployment is being deleted"),
            Self::AlreadyDone { current } => write!(
                f,
                "revision {} ({}) runs now and has not failed: already rolled back or superseded",
                current.number, current.hash
            ),
            Self::AlreadyHeld { current } => write!(
                f,
                "already paused on re-applied failed revision {} ({})",
                current.number, current.hash
            ),
            Self::Paused { current } => write!(
                f,
                "the Deployment was paused by someone else at revision {} ({}); not rolling back",
                current.number, current.hash
            ),
            Self::NoEarlierRevision { current } => write!(
                f,
                "revision {} ({}) failed and there is no earlier revision to roll back to",
                current.number, current.hash
            ),
            Self::AllEarlierFailed { current, failed } => {
                write!(
                    f,
                    "revision {} ({}) failed and so did every earlier revision (",
                    current.number, current.hash
                )?;
                for (i, revision) in failed.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{}", revision.number)?;
                }
                write!(f, "); never rolling back to a failed revision")
            }
        }
    }
}

/// Plans what to do about `deployment` now, given the `pod-template-hash`es of releases judged
/// failed (`failed`) and of those Ripcord already rolled back away from and no human released
/// (`rolled_back`; the Deployment's [`ROLLED_BACK_FROM_ANNOTATION`] counts too): both as
/// [`TemplateRecords`] reads them. In order:
///
/// 0. the Deployment is being deleted → hold ([`HoldReason::Deleting`]);
/// 1. no owned ReplicaSet runs the Deployment's template → hold ([`HoldReason::NoCurrentRevision`]);
/// 2. the Deployment is paused → hold, [`HoldReason::AlreadyHeld`] if Ripcord paused it on
///    this revision, else [`HoldReason::Paused`];
/// 3. the current revision was already rolled back once → [`RollbackPlan::Quarantine`]: a
///    release is rolled back at most once, a re-applied one is paused;
/// 4. the current revision is not failed → hold ([`HoldReason::AlreadyDone`]);
/// 5. otherwise roll back to the highest-numbered earlier revision whose hash is in neither
///    set (and whose template differs from the current one), or hold when there is none.
///
/// ReplicaSets the Deployment does not control are ignored. Errors name a malformed object.
pub fn plan(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    failed: &BTreeSet<String>,
    rolled_back: &BTreeSet<String>,
) -> Result<RollbackPlan> {
    let history = History::new(deployment, replica_sets)?;
    let resource_version = resource_version(&history)?;
    if deployment.metadata.deletion_timestamp.is_some() {
        return Ok(hold(HoldReason::Deleting));
    }
    let Some(current_entry) = history.current()? else {
        return Ok(hold(HoldReason::NoCurrentRevision));
    };
    let current = current_entry.revision()?;
    let annotations = annotations(deployment);
    if is_paused(deployment) {
        let held = annotations.get(HELD_ANNOTATION) == Some(&current.hash);
        return Ok(hold(if held {
            HoldReason::AlreadyHeld { current }
        } else {
            HoldReason::Paused { current }
        }));
    }
    let recorded = annotations.get(ROLLED_BACK_FROM_ANNOTATION);
    let was_rolled_back = |hash: &String| rolled_back.contains(hash) || recorded == Some(hash);
    if was_rolled_back(&current.hash) {
        let mut held = annotations.clone();
        held.insert(HELD_ANNOTATION.to_string(), current.hash.clone());
        let patch = DeploymentPatch::new(
            history.namespace(),
            history.name(),
            resource_version,
            [add(&["spec", "paused"], true.into()), annotate(held)],
        )?;
        return Ok(RollbackPlan::Quarantine { current, patch });
    }
    if !failed.contains(&current.hash) {
        return Ok(hold(HoldReason::AlreadyDone { current }));
    }
    let mut earlier_failed = Vec::new();
    for entry in history.earlier(current_entry) {
        let revision = entry.revision()?;
        if failed.contains(&revision.hash) || was_rolled_back(&revision.hash) {
            earlier_failed.push(revision);
            continue;
        }
        let patch = rollback_patch(
            &history,
            resource_version,
            annotations,
            &current,
            &revision,
            entry,
        )?;
        return Ok(RollbackPlan::Rollback {
            from: current,
            to: revision,
            patch,
        });
    }
    Ok(hold(if earlier_failed.is_empty() {
        HoldReason::NoEarlierRevision { current }
    } else {
        HoldReason::AllEarlierFailed {
            current,
            failed: earlier_failed,
        }
    }))
}

/// Plans lifting Ripcord's hold once a new template arrived: when the Deployment is paused
/// with [`HELD_ANNOTATION`] and its template no longer equals the held revision's, the patch
/// unpauses it and drops the annotation. `None` when there is nothing to lift.
pub fn resume(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
) -> Result<Option<DeploymentPatch>> {
    let history = History::new(deployment, replica_sets)?;
    let annotations = annotations(deployment);
    let Some(held) = annotations.get(HELD_ANNOTATION) else {
        return Ok(None);
    };
    if !is_paused(deployment) {
        return Ok(None);
    }
    let still_held = history
        .running(history.template())
        .any(|entry| entry.hash().is_ok_and(|hash| hash == held));
    if still_held {
        return Ok(None);
    }
    unpause(&history, annotations.clone(), false).map(Some)
}

/// Plans a human's release of Ripcord's hold (`kubectl ripcord release`): unpause, drop
/// [`HELD_ANNOTATION`], and drop [`ROLLED_BACK_FROM_ANNOTATION`] when it names the held hash,
/// so the next plan does not pause again. The caller first records the release on the held
/// hash's ReleaseChecks ([`release_record`]), so [`TemplateRecords`] no longer holds it.
/// `None` when Ripcord holds nothing.
pub fn release(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
) -> Result<Option<DeploymentPatch>> {
    let history = History::new(deployment, replica_sets)?;
    let annotations = annotations(deployment);
    if !annotations.contains_key(HELD_ANNOTATION) {
        return Ok(None);
    }
    unpause(&history, annotations.clone(), true).map(Some)
}

/// The patch that unpauses a held Deployment and drops [`HELD_ANNOTATION`] (and, when
/// `forget`, the rolled-back-from record naming the same hash).
fn unpause(
    history: &History<'_>,
    mut annotations: BTreeMap<String, String>,
    forget: bool,
) -> Result<DeploymentPatch> {
    let held = annotations.remove(HELD_ANNOTATION);
    if forget && held.is_some() && annotations.get(ROLLED_BACK_FROM_ANNOTATION) == held.as_ref() {
        annotations.remove(ROLLED_BACK_FROM_ANNOTATION);
    }
    DeploymentPatch::new(
        history.namespace(),
        history.name(),
        resource_version(history)?,
        [
            add(&["spec", "paused"], false.into()),
            annotate(annotations),
        ],
    )
}

/// The rollback write: the target's template without its hash label replaces `/spec/template`
/// (as `kubectl rollout undo` does), and the Deployment keeps its own annotations (GitOps
/// tracking, Ripcord's records) plus the rollback's: change-cause, rolled-back-from/to.
/// `kubectl` instead copies the target ReplicaSet's annotations back; Ripcord does not, so
/// annotations written since that revision are not lost.
fn rollback_patch(
    history: &History<'_>,
    resource_version: &str,
    annotations: &BTreeMap<String, String>,
    from: &Revision,
    to: &Revision,
    target: &Entry<'_>,
) -> Result<DeploymentPatch> {
    let template =
        serde_json::to_value(without_hash(target.template())).map_err(|source| Error::Encode {
            object: format!("ReplicaSet {}/{}", history.namespace(), to.replica_set),
            source,
        })?;
    let mut annotations = annotations.clone();
    annotations.remove(HELD_ANNOTATION);
    annotations.insert(
        CHANGE_CAUSE_ANNOTATION.to_string(),
        format!(
            "ripcord: rolled back from revision {} ({}) to revision {} ({}) after a failed release check",
            from.number, from.hash, to.number, to.hash
        ),
    );
    annotations.insert(ROLLED_BACK_FROM_ANNOTATION.to_string(), from.hash.clone());
    annotations.insert(ROLLED_BACK_TO_ANNOTATION.to_string(), to.hash.clone());
    DeploymentPatch::new(
        history.namespace(),
        history.name(),
        resource_version,
        [
            PatchOperation::Replace(ReplaceOperation {
                path: pointer(&["spec", "template"]),
                value: template,
            }),
            annotate(annotations),
        ],
    )
}

fn hold(reason: HoldReason) -> RollbackPlan {
    RollbackPlan::Hold { reason }
}

/// `add` replaces a member that exists and creates one that does not (RFC 6902 §4.1), so it
/// works whether or not the Deployment has the field yet.
fn add(path: &[&str], value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: pointer(path),
        value,
    })
}

/// Sets the Deployment's whole annotation map; safe under the resourceVersion precondition.
fn annotate(annotations: BTreeMap<String, String>) -> PatchOperation {
    add(
        &["metadata", "annotations"],
        serde_json::Value::Object(
            annotations
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        ),
    )
}

fn annotations(deployment: &Deployment) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    deployment.metadata.annotations.as_ref().unwrap_or(&EMPTY)
}

fn is_paused(deployment: &Deployment) -> bool {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.paused)
        .unwrap_or(false)
}

/// The Deployment's resourceVersion: every write is guarded by it, so it is required.
fn resource_version<'a>(history: &History<'a>) -> Result<&'a str> {
    let deployment = history.deployment();
    deployment
        .metadata
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty())
        .ok_or_else(|| {
            crate::release::Error::MissingField {
                object: format!("Deployment {}/{}", history.namespace(), history.name()),
                field: "metadata.resourceVersion",
            }
            .into()
        })
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
