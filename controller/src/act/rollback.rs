//! The rollback step: read the Deployment and its ReplicaSets fresh from the API server, plan
//! with [`crate::rollback::plan`], send the planned JSON Patch, and on a lost race (the
//! Deployment changed since it was read) read and plan again.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ListParams};

use crate::crd::{
    ActionKind as RecordKind, ActionRecord, ActionResult as RecordResult, Phase, ReleaseCheck,
    rfc3339_from_ms,
};
use crate::notify::ActionTaken;
use crate::rollback::{self, DeploymentPatch, HoldReason, RollbackPlan};

use super::{Error, Result, StepDone, is_conflict};
use crate::now_ms;

/// Most plans made for one rollback before giving up on a Deployment that keeps changing.
const MAX_PLANS: usize = 4;

/// Rolls the Deployment of `check` back (or holds it), and says what happened.
pub(super) async fn run(
    client: &kube::Client,
    check: &ReleaseCheck,
    name: &str,
    identity: &str,
) -> StepDone {
    let outcome = plan_and_apply(client, check).await;
    let retry = outcome.as_ref().is_err_and(Error::is_transient);
    let (kind, result, phase, detail) = match &outcome {
        Ok(RollbackPlan::Rollback { to, .. }) => (
            RecordKind::Rollback,
            RecordResult::Succeeded,
            Phase::RolledBack,
            format!("rolled back to revision {} ({})", to.number, to.hash),
        ),
        Ok(RollbackPlan::Quarantine { current, .. }) => (
            RecordKind::Hold,
            RecordResult::Succeeded,
            Phase::Held,
            format!(
                "paused the Deployment: revision {} re-applies a template that already failed",
                current.number
            ),
        ),
        Ok(RollbackPlan::Hold { reason }) => hold_outcome(reason),
        Err(err) => (
            RecordKind::Rollback,
            RecordResult::Failed,
            Phase::Failed,
            err.to_string(),
        ),
    };
    tracing::info!(release_check = name, by = identity, ?result, %detail, "rollback step");
    let record = ActionRecord {
        kind,
        result,
        at: rfc3339_from_ms(now_ms()),
        detail: Some(detail.clone()),
    };
    let taken = ActionTaken {
        kind: match kind {
            RecordKind::Hold => "hold".to_string(),
            _ => "rollback".to_string(),
        },
        target: super::step_target(crate::crd::RegressionStep::Rollback, check),
        outcome: detail,
    };
    StepDone {
        record,
        phase,
        taken,
        retry,
    }
}

fn hold_outcome(reason: &HoldReason) -> (RecordKind, RecordResult, Phase, String) {
    match reason {
        HoldReason::AlreadyDone { current } => (
            RecordKind::Rollback,
            RecordResult::Skipped,
            Phase::RolledBack,
            format!("already rolled back: revision {} runs", current.number),
        ),
        HoldReason::AlreadyHeld { current } => (
            RecordKind::Hold,
            RecordResult::Skipped,
            Phase::Held,
            format!("revision {} is already held", current.number),
        ),
        other => (
            RecordKind::Rollback,
            RecordResult::Skipped,
            Phase::Failed,
            other.to_string(),
        ),
    }
}

async fn plan_and_apply(client: &kube::Client, check: &ReleaseCheck) -> Result<RollbackPlan> {
    let namespace = check.metadata.namespace.clone().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let name = &check.spec.deployment;
    let (failed, rolled_back) = failed_hashes(client, &namespace, check).await?;
    for _ in 0..MAX_PLANS {
        let deployment = deployments
            .get(name)
            .await
            .map_err(Error::kube("read Deployment", name))?;
        let replica_sets = owned_replica_sets(client, &namespace, &deployment).await?;
        let plan = rollback::plan(&deployment, &replica_sets, &failed, &rolled_back)?;
        let Some(patch) = plan.patch() else {
            return Ok(plan);
        };
        match send(client, patch).await {
            Ok(()) => return Ok(plan),
            Err(err) if is_conflict(&err) => {
                tracing::debug!("the Deployment changed since it was read; planning again");
            }
            Err(err) => return Err(Error::kube("patch Deployment", name)(err)),
        }
    }
    Err(Error::Contended { name: name.clone() })
}

/// Sends the planned JSON Patch exactly as planned (path, content type, body).
async fn send(client: &kube::Client, patch: &DeploymentPatch) -> Result<(), kube::Error> {
    let request = patch
        .to_request()
        .map_err(|err| kube::Error::Service(Box::new(std::io::Error::other(err.to_string()))))?;
    client.request::<Deployment>(request).await.map(|_| ())
}

/// The ReplicaSets the Deployment's selector matches (ownership is checked by the planner).
async fn owned_replica_sets(
    client: &kube::Client,
    namespace: &str,
    deployment: &Deployment,
) -> Result<Vec<ReplicaSet>> {
    let selector = deployment
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(Error::kube("list ReplicaSets of", namespace))?;
    Ok(list.items)
}

/// The templates of this Deployment that failed (this release's, and every earlier release
/// whose check failed) and those already rolled back.
async fn failed_hashes(
    client: &kube::Client,
    namespace: &str,
    check: &ReleaseCheck,
) -> Result<(BTreeSet<String>, BTreeSet<String>)> {
    let api: Api<ReleaseCheck> = Api::namespaced(client.clone(), namespace);
    let checks = api
        .list(&ListParams::default())
        .await
        .map_err(Error::kube("list ReleaseChecks in", namespace))?;
    let mut failed = BTreeSet::from([check.spec.template_hash.clone()]);
    let mut rolled_back = BTreeSet::new();
    for other in checks.items.iter().filter(|c| {
        c.spec.deployment == check.spec.deployment && c.metadata.name != check.metadata.name
    }) {
        match other.status.as_ref().and_then(|s| s.phase) {
            Some(Phase::RolledBack | Phase::Held) => {
                failed.insert(other.spec.template_hash.clone());
                rolled_back.insert(other.spec.template_hash.clone());
            }
            Some(Phase::Failed | Phase::Acting | Phase::Observed) => {
                failed.insert(other.spec.template_hash.clone());
            }
            _ => {}
        }
    }
    Ok((failed, rolled_back))
}
