//! Holding a re-applied failed template, and lifting the hold once a new template arrives: the
//! I/O of the reconciler's decision ([`crate::reconcile::hold`]). Each reads the Deployment and
//! its ReplicaSets fresh, plans with [`crate::rollback::plan`] or [`crate::rollback::resume`],
//! sends the planned JSON Patch under its resourceVersion `test` (re-planning on a lost race,
//! as the rollback step does), counts the action and writes an Event on the Deployment.

use std::collections::BTreeSet;

use kube::runtime::events::EventType;

use crate::crd::{
    ActionKind as RecordKind, ActionRecord, ActionResult as RecordResult, rfc3339_from_ms,
};
use crate::ops::metrics::Metrics;
use crate::rollback::{self, HoldReason, RollbackPlan};

use super::evidence::{Reason, publish, reporter};
use super::rollback::{apply, hold_outcome};
use super::{Result, result_metric};
use crate::now_ms;

/// What a hold did, for the held release's ReleaseCheck.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The action record (a `Hold`, succeeded or already done).
    pub record: ActionRecord,
    /// The message for the check's status: the revision, the template, and why it is held.
    pub message: String,
}

/// Holds Deployment `namespace/name`, whose current template `hash` Ripcord rolled back
/// before and a GitOps tool (or anyone) applied again: pauses it with [`HELD_ANNOTATION`]
/// naming the hash and writes a `ReleaseHeld` Event. `Some` when the Deployment is held now
/// (by this call, or already by Ripcord); `None` when the fresh read shows nothing to hold (a
/// new template, a human's pause, a Deployment being deleted).
///
/// [`HELD_ANNOTATION`]: crate::rollback::HELD_ANNOTATION
pub async fn hold(
    client: &kube::Client,
    metrics: &Metrics,
    namespace: &str,
    name: &str,
    hash: &str,
) -> Result<Option<Held>> {
    let hashes = BTreeSet::from([hash.to_string()]);
    let plan = |deployment: &_, replica_sets: &_| {
        rollback::plan(deployment, replica_sets, &hashes, &hashes)
    };
    let plan = apply(client, namespace, name, plan, RollbackPlan::patch).await?;
    let (result, detail) = match &plan {
        RollbackPlan::Quarantine { current, .. } => (
            RecordResult::Succeeded,
            format!(
                "revision {} runs template {} again, which Ripcord rolled back after it failed \
                 (a GitOps sync such as Argo CD or Flux re-applied it); the Deployment is paused \
                 until a new template arrives or `kubectl ripcord release {name} -n {namespace}`",
                current.number, current.hash
            ),
        ),
        RollbackPlan::Hold {
            reason: reason @ HoldReason::AlreadyHeld { .. },
        } => (RecordResult::Skipped, hold_outcome(reason).3),
        other => {
            tracing::info!(deployment = name, ?other, "nothing to hold");
            return Ok(None);
        }
    };
    metrics.action(RecordKind::Hold.into(), result_metric(result));
    if result == RecordResult::Succeeded {
        tracing::warn!(deployment = name, %detail, "held a re-applied failed template");
        let note = (Reason::ReleaseHeld, EventType::Warning, detail.clone());
        publish(client, &reporter(), namespace, name, "Hold", [note]).await;
    }
    Ok(Some(Held {
        record: ActionRecord {
            kind: RecordKind::Hold,
            result,
            at: rfc3339_from_ms(now_ms()),
            detail: Some(detail.clone()),
        },
        message: detail,
    }))
}

/// Lifts Ripcord's hold on Deployment `namespace/name` once its template no longer runs the
/// `held` hash (a new commit arrived while it was paused): unpauses it and writes a
/// `ReleaseResumed` Event. Whether it unpaused it.
pub async fn resume(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    held: &str,
) -> Result<bool> {
    let patch = apply(client, namespace, name, rollback::resume, Option::as_ref).await?;
    if patch.is_none() {
        return Ok(false);
    }
    let detail = format!(
        "a new template replaced template {held}, which Ripcord held; the Deployment is unpaused \
         and rolls the new template out"
    );
    tracing::info!(deployment = name, %detail, "lifted a hold");
    let note = (Reason::ReleaseResumed, EventType::Normal, detail);
    publish(client, &reporter(), namespace, name, "Resume", [note]).await;
    Ok(true)
}
