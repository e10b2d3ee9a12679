//! What one reconcile of a Deployment writes. Pure: the Deployment, its detected release, its
//! ReleaseChecks and the time in, a list of writes out.
//!
//! - A new revision with a previous one is a release: create its ReleaseCheck (spec from the
//!   pod template's annotations) and give it a `Watching` status, or `Inconclusive` when the
//!   previous revision ran no sidecar and so cannot serve as a baseline.
//! - A revision that reuses an earlier ReplicaSet (Ripcord's rollback, a human's `kubectl
//!   rollout undo`, a GitOps tool re-applying a template) is not a release: when it is the
//!   target of Ripcord's rollback, it completes the rollback of the check that failed, once
//!   the Deployment has finished rolling out. (A re-applied failed template is held first:
//!   see [`super::hold`].)
//! - A watched release whose guard period (`ripcord.dev/watch-for`) ended with a `pass`
//!   verdict has passed.
//! - The Deployment carries an annotation naming its latest ReleaseCheck.

use std::time::Duration;

use kube::api::ObjectMeta;
use serde_json::{Value, json};

use crate::crd::{
    Decision, Phase, PolicySnapshot, PreviousRevision, ReleaseCheck, ReleaseCheckSpec,
    ReleaseCheckStatus, rfc3339_from_ms,
};
use crate::release::{CompactDeployment, Release};

use super::check::CompactCheck;
use crate::rollback::{ROLLED_BACK_FROM_ANNOTATION, ROLLED_BACK_TO_ANNOTATION};

/// Annotation on the Deployment naming its latest ReleaseCheck.
pub const RELEASE_CHECK_ANNOTATION: &str = "ripcord.dev/release-check";

/// One write a reconcile makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Create this ReleaseCheck (an existing one of the same name is left alone).
    CreateCheck(Box<ReleaseCheck>),
    /// Merge this status into the ReleaseCheck `name` (after creating it, if it is new).
    Status {
        /// The ReleaseCheck.
        name: String,
        /// The new status.
        status: Box<ReleaseCheckStatus>,
        /// The status it replaces, for a minimal merge patch; `None` for a new check.
        old: Option<Box<ReleaseCheckStatus>>,
        /// The resourceVersion of the check `old` was read from: the write applies only to it,
        /// so a concurrent claim or record is never overwritten. `None` for a new check: the
        /// write then applies to the version its create returned, and is skipped when the
        /// create found the check already there.
        resource_version: Option<String>,
    },
    /// Merge-patch the Deployment's metadata with this body.
    AnnotateDeployment(Value),
}

/// What a reconcile found, beyond the Deployment itself.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The release detected for the Deployment.
    pub release: &'a Release,
    /// When the current revision's ReplicaSet was created, Unix milliseconds.
    pub released_at_ms: Option<i64>,
    /// The policy read from the pod template's annotations, or why it is invalid.
    pub policy: std::result::Result<PolicySnapshot, String>,
    /// The Deployment's ReleaseChecks.
    pub checks: Vec<&'a CompactCheck>,
    /// Now, Unix milliseconds.
    pub now_ms: i64,
}

/// The writes for `deployment`, and when to look again (the end of a guard period).
pub fn plan(
    deployment: &CompactDeployment,
    observed: &Observed<'_>,
) -> (Vec<Write>, Option<Duration>) {
    let release = observed.release;
    let current = &release.current;
    let name = ReleaseCheck::name_for(&release.deployment, revision_i64(current.number));
    let mut writes = Vec::new();
    let mut requeue = None;
    let rolled_back_to =
        deployment.annotation(ROLLED_BACK_TO_ANNOTATION) == Some(current.hash.as_str());
    if rolled_back_to || release.brought_back() {
        if rollout_complete(deployment) {
            writes.extend(complete_rollback(deployment, observed));
        } else {
            requeue = Some(Duration::from_secs(5));
        }
        return (writes, requeue);
    }
    let Some(previous) = &release.previous else {
        return (writes, None);
    };
    let existing = observed.checks.iter().find(|c| c.name == name);
    match existing {
        None => {
            let Ok(policy) = observed.policy.clone() else {
                return (writes, None);
            };
            let watch_for = policy.watch_for_seconds;
            let check = ReleaseCheck {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(release.namespace.clone()),
                    owner_references: deployment_owner(deployment),
                    ..ObjectMeta::default()
                },
                spec: ReleaseCheckSpec {
                    deployment: release.deployment.clone(),
                    revision: revision_i64(current.number),
                    template_hash: current.hash.clone(),
                    previous: Some(PreviousRevision {
                        revision: revision_i64(previous.number),
                        template_hash: previous.hash.clone(),
                    }),
                    policy,
                },
                status: None,
            };
            let mut status = ReleaseCheckStatus {
                phase: Some(Phase::Watching),
                ..ReleaseCheckStatus::default()
            };
            status.timeline.released = observed.released_at_ms.map(rfc3339_from_ms);
            if !previous.has_sidecar {
                status.phase = Some(Phase::Inconclusive);
                status.message = Some(format!(
                    "the previous revision {} ran no Ripcord sidecar, so it cannot serve as a \
                     live baseline; only a fail against the watch spec's absolute limits \
                     will be acted on",
                    previous.number
                ));
            }
            writes.push(Write::CreateCheck(Box::new(check)));
            writes.push(Write::Status {
                name: name.clone(),
                status: Box::new(status),
                old: None,
                resource_version: None,
            });
            requeue = Some(Duration::from_secs(
                u64::try_from(watch_for.max(1)).unwrap_or(1),
            ));
        }
        Some(check) => {
            let (write, again) = maybe_passed(check, observed);
            writes.extend(write);
            requeue = again;
        }
    }
    if deployment.annotation(RELEASE_CHECK_ANNOTATION) != Some(name.as_str()) {
        writes.push(Write::AnnotateDeployment(json!({
            "metadata": {"annotations": {RELEASE_CHECK_ANNOTATION: name}}
        })));
    }
    (writes, requeue)
}

/// A watched check whose guard period ended with a `pass` verdict becomes `Passed`; otherwise
/// look again when the period ends.
fn maybe_passed(
    check: &CompactCheck,
    observed: &Observed<'_>,
) -> (Option<Write>, Option<Duration>) {
    let Some(status) = check.status.as_deref() else {
        return (None, Some(Duration::from_secs(5)));
    };
    if status.phase != Some(Phase::Watching) {
        return (None, None);
    }
    let released = observed.released_at_ms.unwrap_or(observed.now_ms);
    let ends = released.saturating_add(check.watch_for_seconds.saturating_mul(1000));
    if observed.now_ms < ends {
        let wait = u64::try_from(ends - observed.now_ms).unwrap_or(0);
        return (None, Some(Duration::from_millis(wait.max(1000))));
    }
    if status.verdict != Some(Decision::Pass) {
        return (None, Some(Duration::from_secs(60)));
    }
    let mut passed = status.clone();
    passed.phase = Some(Phase::Passed);
    passed.message = Some("the guard period ended and the release passed".to_string());
    let write = Write::Status {
        name: check.name.clone(),
        status: Box::new(passed),
        old: Some(Box::new(status.clone())),
        resource_version: check.resource_version.clone(),
    };
    (Some(write), None)
}

/// Marks `rollbackComplete` on the rolled-back check whose rollback has finished rolling out:
/// the one the Deployment's records say Ripcord rolled back away from, when the current
/// revision is the rollback's target. A failed template brought back (a GitOps re-apply)
/// completes no rollback.
fn complete_rollback(deployment: &CompactDeployment, observed: &Observed<'_>) -> Option<Write> {
    let current = observed.release.current.hash.as_str();
    if deployment.annotation(ROLLED_BACK_TO_ANNOTATION) != Some(current) {
        return None;
    }
    let from = deployment.annotation(ROLLED_BACK_FROM_ANNOTATION)?;
    observed.checks.iter().find_map(|check| {
        let status = check.status.as_deref()?;
        if status.phase != Some(Phase::RolledBack)
            || status.timeline.rollback_complete.is_some()
            || check.template_hash != from
        {
            return None;
        }
        let mut done = status.clone();
        done.timeline.rollback_complete = Some(rfc3339_from_ms(observed.now_ms));
        Some(Write::Status {
            name: check.name.clone(),
            status: Box::new(done),
            old: Some(Box::new(status.clone())),
            resource_version: check.resource_version.clone(),
        })
    })
}

/// Whether the Deployment controller has finished rolling out the Deployment's template: it
/// observed the latest generation and every replica is updated and available.
pub fn rollout_complete(deployment: &CompactDeployment) -> bool {
    let want = deployment.replicas.unwrap_or(1);
    let Some(status) = &deployment.status else {
        return false;
    };
    status.observed_generation >= deployment.metadata.generation
        && status.updated_replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
}

/// The ReleaseCheck is owned by its Deployment, so deleting the Deployment deletes its checks.
fn deployment_owner(
    deployment: &CompactDeployment,
) -> Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>> {
    let uid = deployment.metadata.uid.clone()?;
    let name = deployment.metadata.name.clone()?;
    Some(vec![
        k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
            api_version: "apps/v1".to_string(),
            kind: "Deployment".to_string(),
            name,
            uid,
            controller: Some(false),
            block_owner_deletion: Some(false),
        },
    ])
}

fn revision_i64(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{Mode, RegressionStep};
    use crate::release::detect;
    use crate::release::fixtures::{H2, H3, load};

    fn compact(deployment: &k8s_openapi::api::apps::v1::Deployment) -> CompactDeployment {
        CompactDeployment::from(deployment)
    }

    const NOW: i64 = 1_764_000_000_000;

    fn policy() -> PolicySnapshot {
        PolicySnapshot {
            on_regression: vec![RegressionStep::Rollback],
            flag: None,
            mode: Mode::Act,
            watch: "errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%"
                .to_string(),
            watch_for_seconds: 1800,
        }
    }

    fn observed<'a>(release: &'a Release, checks: Vec<&'a CompactCheck>) -> Observed<'a> {
        Observed {
            release,
            released_at_ms: Some(NOW - 60_000),
            policy: Ok(policy()),
            checks,
            now_ms: NOW,
        }
    }

    fn existing(name: &str, hash: &str, status: ReleaseCheckStatus) -> CompactCheck {
        let mut check = ReleaseCheck::new(
            name,
            ReleaseCheckSpec {
                deployment: "checkout".to_string(),
                revision: 3,
                template_hash: hash.to_string(),
                previous: None,
                policy: policy(),
            },
        );
        check.status = Some(status);
        CompactCheck::from(&check)
    }

    fn status(phase: Phase) -> ReleaseCheckStatus {
        ReleaseCheckStatus {
            phase: Some(phase),
            ..ReleaseCheckStatus::default()
        }
    }

    #[test]
    fn a_new_revision_gets_a_watching_check_owned_by_its_deployment_and_an_annotation() {
        let fixture = load("history-basic.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        let (writes, requeue) = plan(&compact(&fixture.deployment), &observed(&release, vec![]));
        let [
            Write::CreateCheck(check),
            Write::Status {
                name,
                status,
                old,
                resource_version,
            },
            Write::AnnotateDeployment(body),
        ] = &writes[..]
        else {
            panic!("create, status, annotate expected: {writes:#?}");
        };
        assert_eq!(check.metadata.name.as_deref(), Some("checkout-3"));
        assert_eq!(check.spec.template_hash, H3);
        let previous = check.spec.previous.as_ref().expect("a previous revision");
        assert_eq!(
            (previous.revision, previous.template_hash.as_str()),
            (2, H2)
        );
        let owner = &check.metadata.owner_references.as_ref().expect("owned")[0];
        assert_eq!(Some(&owner.uid), fixture.deployment.metadata.uid.as_ref());
        assert_eq!(name, "checkout-3");
        assert_eq!(status.phase, Some(Phase::Watching));
        assert_eq!(
            status.timeline.released,
            Some(rfc3339_from_ms(NOW - 60_000))
        );
        assert!(old.is_none() && resource_version.is_none());
        assert_eq!(
            body["metadata"]["annotations"][RELEASE_CHECK_ANNOTATION],
            "checkout-3"
        );
        assert_eq!(requeue, Some(Duration::from_secs(1800)));
    }

    #[test]
    fn an_invalid_policy_creates_nothing() {
        let fixture = load("history-basic.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        let mut seen = observed(&release, vec![]);
        seen.policy = Err("ripcord.dev/watch: line 1, column 3: unknown metric kind".to_string());
        let (writes, _) = plan(&compact(&fixture.deployment), &seen);
        assert!(
            writes.iter().all(|w| !matches!(w, Write::CreateCheck(_))),
            "{writes:#?}"
        );
    }

    #[test]
    fn a_previous_revision_without_sidecars_makes_the_check_inconclusive() {
        let fixture = load("history-basic.yaml");
        let mut release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        if let Some(previous) = release.previous.as_mut() {
            previous.has_sidecar = false;
        }
        let (writes, _) = plan(&compact(&fixture.deployment), &observed(&release, vec![]));
        let status = writes
            .iter()
            .find_map(|w| match w {
                Write::Status { status, .. } => Some(status),
                _ => None,
            })
            .expect("a status");
        assert_eq!(status.phase, Some(Phase::Inconclusive));
        assert!(
            status
                .message
                .as_deref()
                .is_some_and(|m| m.contains("no Ripcord sidecar")),
            "{status:?}"
        );
    }

    #[test]
    fn the_first_revision_is_not_a_release() {
        let fixture = load("first-release.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a revision");
        let (writes, _) = plan(&compact(&fixture.deployment), &observed(&release, vec![]));
        assert!(writes.is_empty(), "{writes:#?}");
    }

    #[test]
    fn a_revision_ripcord_rolled_back_to_completes_the_rollback_instead_of_starting_a_check() {
        let fixture = load("rolled-back.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        let failed = existing("checkout-3", H3, status(Phase::RolledBack));
        let (writes, _) = plan(
            &compact(&fixture.deployment),
            &observed(&release, vec![&failed]),
        );
        let [Write::Status { name, status, .. }] = &writes[..] else {
            panic!("one status write expected: {writes:#?}");
        };
        assert_eq!(name, "checkout-3");
        assert_eq!(
            status.timeline.rollback_complete,
            Some(rfc3339_from_ms(NOW))
        );

        let mut rolling = fixture.deployment.clone();
        if let Some(s) = rolling.status.as_mut() {
            s.updated_replicas = Some(1);
        }
        let (writes, requeue) = plan(&compact(&rolling), &observed(&release, vec![&failed]));
        assert!(writes.is_empty(), "{writes:#?}");
        assert_eq!(requeue, Some(Duration::from_secs(5)));
    }

    #[test]
    fn a_re_applied_failed_template_completes_no_rollback() {
        let fixture = load("reapplied-failed.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        assert!(release.brought_back() && release.current.hash == H3);
        let failed = existing("checkout-3", H3, status(Phase::RolledBack));
        let deployment = compact(&fixture.deployment);
        assert!(
            rollout_complete(&deployment),
            "the fixture's rollout is done"
        );
        let (writes, _) = plan(&deployment, &observed(&release, vec![&failed]));
        assert!(
            writes.is_empty(),
            "the failed template runs, not the rollback's target: {writes:#?}"
        );
    }

    #[test]
    fn a_watched_check_passes_only_after_its_guard_period_with_a_pass_verdict() {
        let fixture = load("history-basic.yaml");
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        let mut watching = status(Phase::Watching);
        watching.verdict = Some(Decision::Pass);
        let check = existing("checkout-3", H3, watching.clone());
        let annotated = {
            let mut d = fixture.deployment.clone();
            d.metadata.annotations.get_or_insert_default().insert(
                RELEASE_CHECK_ANNOTATION.to_string(),
                "checkout-3".to_string(),
            );
            d
        };
        let early = observed(&release, vec![&check]);
        let (writes, requeue) = plan(&compact(&annotated), &early);
        assert!(writes.is_empty(), "{writes:#?}");
        assert_eq!(requeue, Some(Duration::from_millis(1_800_000 - 60_000)));

        let mut late = observed(&release, vec![&check]);
        late.now_ms = NOW + 1_800_000;
        let (writes, _) = plan(&compact(&annotated), &late);
        let [Write::Status { status, .. }] = &writes[..] else {
            panic!("one status write expected: {writes:#?}");
        };
        assert_eq!(status.phase, Some(Phase::Passed));

        let mut failing = watching;
        failing.verdict = Some(Decision::Inconclusive);
        let unsure = existing("checkout-3", H3, failing);
        let mut late = observed(&release, vec![&unsure]);
        late.now_ms = NOW + 1_800_000;
        let (writes, _) = plan(&compact(&annotated), &late);
        assert!(
            writes.is_empty(),
            "an inconclusive release never passes: {writes:#?}"
        );
    }
}
