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
use crate::rollback::{self, DeploymentPatch, HoldReason, RollbackPlan, TemplateRecords};

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

pub(super) fn hold_outcome(reason: &HoldReason) -> (RecordKind, RecordResult, Phase, String) {
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
    let (failed, rolled_back) = failed_hashes(client, &namespace, check).await?;
    let plan = |deployment: &Deployment, replica_sets: &[ReplicaSet]| {
        rollback::plan(deployment, replica_sets, &failed, &rolled_back)
    };
    apply(
        client,
        &namespace,
        &check.spec.deployment,
        plan,
        RollbackPlan::patch,
    )
    .await
}

/// Reads Deployment `namespace/name` and its ReplicaSets fresh, plans with `plan`, and sends
/// the plan's patch (`patch_of`); on a lost race (the Deployment changed since it was read)
/// reads and plans again, at most [`MAX_PLANS`] times. A patch refused (409, 422) although the
/// Deployment had not changed when read again was no race: the server's answer is returned as
/// [`Error::Refused`], not retried. Returns the plan carried out.
pub(super) async fn apply<P>(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    plan: impl Fn(&Deployment, &[ReplicaSet]) -> rollback::Result<P>,
    patch_of: impl Fn(&P) -> Option<&DeploymentPatch>,
) -> Result<P> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let mut refused: Option<(Option<String>, kube::Error)> = None;
    for _ in 0..MAX_PLANS {
        let deployment = deployments
            .get(name)
            .await
            .map_err(Error::kube("read Deployment", name))?;
        let version = deployment.metadata.resource_version.clone();
        if let Some((read, source)) = refused.take()
            && read == version
        {
            return Err(Error::Refused {
                name: name.to_string(),
                source,
            });
        }
        let replica_sets = owned_replica_sets(client, namespace, &deployment).await?;
        let plan = plan(&deployment, &replica_sets)?;
        let Some(patch) = patch_of(&plan) else {
            return Ok(plan);
        };
        let request = patch.to_request()?;
        match client.request::<Deployment>(request).await {
            Ok(_) => return Ok(plan),
            Err(err) if is_conflict(&err) => {
                tracing::debug!(error = %err, "the patch was refused; reading the Deployment again");
                refused = Some((version, err));
            }
            Err(err) => return Err(Error::kube("patch Deployment", name)(err)),
        }
    }
    Err(Error::Contended {
        name: name.to_string(),
    })
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
/// whose check failed) and those already rolled back and not released by a human, as
/// [`TemplateRecords`] reads the Deployment's other ReleaseChecks.
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
    let mut records = TemplateRecords::default();
    for other in checks.items.iter().filter(|c| {
        c.spec.deployment == check.spec.deployment && c.metadata.name != check.metadata.name
    }) {
        records.note(
            &other.spec.template_hash,
            other.status.as_ref().and_then(|s| s.phase),
            rollback::released(other.metadata.annotations.as_ref()),
        );
    }
    records.failed.insert(check.spec.template_hash.clone());
    Ok((records.failed, records.rolled_back))
}
