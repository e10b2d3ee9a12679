//! Whether a reconcile holds the Deployment or lifts Ripcord's hold. Pure: the Deployment, its
//! current revision and its ReleaseChecks in, a [`Guard`] out; [`crate::act::hold`] does the
//! I/O, and [`held_status`] plans the record on the held release's ReleaseCheck.
//!
//! - A template Ripcord rolled back or held (its ReleaseCheck says `RolledBack` or `Held`, or
//!   the Deployment's `ripcord.dev/rolled-back-from` names it) runs again, typically because a
//!   GitOps tool re-applied it, and no human released it (`kubectl ripcord release`): hold it
//!   (pause the Deployment), rather than roll it back in a loop. No verdict is needed: the
//!   re-applied template opens no check, so none would come.
//! - A Deployment Ripcord paused (`ripcord.dev/held`) whose template no longer runs the held
//!   hash (a new commit arrived while it was paused): lift the hold.

use crate::crd::{ActionRecord, Phase};
use crate::release::{CompactDeployment, Revision};
use crate::rollback::{HELD_ANNOTATION, ROLLED_BACK_FROM_ANNOTATION, TemplateRecords};

use super::check::CompactCheck;
use super::plan::Write;

/// What a reconcile does about Ripcord's hold of a Deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum Guard {
    /// Pause the Deployment on its current template, which Ripcord rolled back before; or, when
    /// Ripcord paused it already, record the hold on `check` (its earlier record was lost).
    Hold {
        /// The current revision, running the re-applied template.
        current: Revision,
        /// The ReleaseCheck of the release that failed with this template, to mark `Held`;
        /// `None` when only the Deployment's annotation remembers the rollback.
        check: Option<Box<CompactCheck>>,
    },
    /// Unpause the Deployment: its template no longer runs the held hash.
    Resume {
        /// The hash Ripcord held.
        held: String,
    },
}

/// The guard for `deployment`, whose current revision is `current` (`None` when no
/// ReplicaSet runs its template, as when a new template arrived while it was paused), given
/// its ReleaseChecks; `None` when there is nothing to hold or lift.
pub fn guard(
    deployment: &CompactDeployment,
    current: Option<&Revision>,
    checks: &[&CompactCheck],
) -> Option<Guard> {
    let held = deployment.annotation(HELD_ANNOTATION);
    if deployment.paused
        && let Some(held) = held
        && current.is_none_or(|c| c.hash != held)
    {
        return Some(Guard::Resume {
            held: held.to_string(),
        });
    }
    let current = current?;
    // The checks of earlier releases: the current revision's own check (a template never
    // brought back) says nothing about a re-apply.
    let earlier: Vec<&CompactCheck> = checks
        .iter()
        .copied()
        .filter(|c| u64::try_from(c.revision).ok() != Some(current.number))
        .collect();
    let mut records = TemplateRecords::default();
    for check in &earlier {
        let phase = check.status.as_ref().and_then(|s| s.phase);
        records.note(&check.template_hash, phase, check.released);
    }
    let recorded = deployment.annotation(ROLLED_BACK_FROM_ANNOTATION);
    if !records.holds(&current.hash, recorded) {
        return None;
    }
    let check = earlier
        .iter()
        .filter(|c| c.template_hash == current.hash)
        .filter(|c| {
            let phase = c.status.as_ref().and_then(|s| s.phase);
            matches!(phase, Some(Phase::RolledBack | Phase::Held))
        })
        .max_by_key(|c| c.revision);
    let recorded_held = check
        .and_then(|c| c.status.as_ref())
        .is_some_and(|s| s.phase == Some(Phase::Held));
    let unrecorded = held == Some(current.hash.as_str()) && check.is_some() && !recorded_held;
    if deployment.paused && !unrecorded {
        return None;
    }
    Some(Guard::Hold {
        current: current.clone(),
        check: check.map(|c| Box::new((**c).clone())),
    })
}

/// The status write marking `check` `Held` with the hold's `record` and `message`, under the
/// resourceVersion of the cached check (as every reconcile status write: a concurrent write
/// makes it fail, and the next reconcile plans again from what is there).
pub fn held_status(check: &CompactCheck, record: ActionRecord, message: String) -> Write {
    let old = check.status.as_deref();
    let mut status = old.cloned().unwrap_or_default();
    status.phase = Some(Phase::Held);
    if !status.actions.contains(&record) {
        status.push_action(record);
    }
    status.message = Some(message);
    Write::Status {
        name: check.name.clone(),
        status: Box::new(status),
        old: old.cloned().map(Box::new),
        resource_version: check.resource_version.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{
        ActionKind, ActionResult, Mode, PolicySnapshot, RegressionStep, ReleaseCheck,
        ReleaseCheckSpec, ReleaseCheckStatus,
    };
    use crate::release::detect;
    use crate::release::fixtures::{H2, H3, load};

    fn check(revision: i64, hash: &str, phase: Phase, released: bool) -> CompactCheck {
        let mut check = ReleaseCheck::new(
            &ReleaseCheck::name_for("checkout", revision),
            ReleaseCheckSpec {
                deployment: "checkout".to_string(),
                revision,
                template_hash: hash.to_string(),
                previous: None,
                policy: PolicySnapshot {
                    on_regression: vec![RegressionStep::Rollback],
                    flag: None,
                    mode: Mode::Act,
                    watch: String::new(),
                    watch_for_seconds: 1800,
                },
            },
        );
        check.metadata.resource_version = Some(format!("{revision}00"));
        check.status = Some(ReleaseCheckStatus {
            phase: Some(phase),
            ..ReleaseCheckStatus::default()
        });
        if released {
            check.metadata.annotations = Some(
                [(
                    crate::rollback::RELEASED_BY_ANNOTATION.to_string(),
                    "alice".to_string(),
                )]
                .into(),
            );
        }
        CompactCheck::from(&check)
    }

    /// The re-applied fixture, compacted, with its current revision; `edit` changes the
    /// Deployment first.
    fn reapplied(
        edit: impl FnOnce(&mut k8s_openapi::api::apps::v1::Deployment),
    ) -> (CompactDeployment, Revision) {
        let mut fixture = load("reapplied-failed.yaml");
        edit(&mut fixture.deployment);
        let release = detect(&fixture.deployment, &fixture.replica_sets)
            .expect("valid")
            .expect("a release");
        (
            CompactDeployment::from(&fixture.deployment),
            release.current,
        )
    }

    fn forget_annotation(deployment: &mut k8s_openapi::api::apps::v1::Deployment) {
        if let Some(a) = deployment.metadata.annotations.as_mut() {
            a.remove(ROLLED_BACK_FROM_ANNOTATION);
        }
    }

    fn pause(deployment: &mut k8s_openapi::api::apps::v1::Deployment, held: Option<&str>) {
        if let Some(spec) = deployment.spec.as_mut() {
            spec.paused = Some(true);
        }
        if let Some(held) = held {
            deployment
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(HELD_ANNOTATION.to_string(), held.to_string());
        }
    }

    #[test]
    fn a_re_applied_rolled_back_template_is_held_on_its_failed_check_without_a_verdict() {
        let (deployment, current) = reapplied(forget_annotation);
        assert_eq!((current.number, current.hash.as_str()), (5, H3));
        let failed = check(3, H3, Phase::RolledBack, false);
        let passed = check(4, H2, Phase::Passed, false);
        let Some(Guard::Hold { current, check }) =
            guard(&deployment, Some(&current), &[&passed, &failed])
        else {
            panic!("a hold expected");
        };
        assert_eq!(current.number, 5);
        assert_eq!(check.as_deref(), Some(&failed));
    }

    #[test]
    fn the_current_revisions_own_check_does_not_hold_it() {
        let (deployment, mut current) = reapplied(forget_annotation);
        current.number = 3;
        let failed = check(3, H3, Phase::RolledBack, false);
        assert_eq!(guard(&deployment, Some(&current), &[&failed]), None);
    }

    #[test]
    fn the_deployments_rollback_record_alone_holds_too() {
        let (deployment, current) = reapplied(|_| {});
        assert_eq!(
            guard(&deployment, Some(&current), &[]),
            Some(Guard::Hold {
                current,
                check: None
            })
        );
    }

    #[test]
    fn a_template_a_human_released_is_not_held_again() {
        let (deployment, current) = reapplied(|_| {});
        let released = check(3, H3, Phase::Held, true);
        assert_eq!(guard(&deployment, Some(&current), &[&released]), None);
    }

    #[test]
    fn a_template_that_was_never_rolled_back_is_not_held() {
        let (deployment, current) = reapplied(forget_annotation);
        let failed = check(3, H3, Phase::Failed, false);
        let passed = check(3, H3, Phase::Passed, false);
        assert_eq!(guard(&deployment, Some(&current), &[&failed]), None);
        assert_eq!(guard(&deployment, Some(&current), &[&passed]), None);
        assert_eq!(guard(&deployment, Some(&current), &[]), None);
    }

    #[test]
    fn a_paused_deployment_is_held_once_and_a_humans_pause_is_left_alone() {
        let failed = check(3, H3, Phase::RolledBack, false);
        let held = check(3, H3, Phase::Held, false);
        let (by_ripcord, current) = reapplied(|d| pause(d, Some(H3)));
        assert_eq!(guard(&by_ripcord, Some(&current), &[&held]), None);
        assert!(
            matches!(
                guard(&by_ripcord, Some(&current), &[&failed]),
                Some(Guard::Hold { check: Some(_), .. })
            ),
            "a hold whose record was lost is recorded"
        );
        let (by_human, current) = reapplied(|d| pause(d, None));
        assert_eq!(guard(&by_human, Some(&current), &[&failed]), None);
    }

    #[test]
    fn a_new_template_under_ripcords_pause_lifts_the_hold() {
        let held = check(3, H3, Phase::Held, false);
        let (deployment, _) = reapplied(|d| pause(d, Some(H3)));
        assert_eq!(
            guard(&deployment, None, &[&held]),
            Some(Guard::Resume {
                held: H3.to_string()
            })
        );
        let (by_human, _) = reapplied(|d| pause(d, None));
        assert_eq!(guard(&by_human, None, &[&held]), None);
    }

    #[test]
    fn the_hold_is_recorded_under_the_cached_checks_resource_version() {
        let failed = check(3, H3, Phase::RolledBack, false);
        let record = ActionRecord {
            kind: ActionKind::Hold,
            result: ActionResult::Succeeded,
            at: "2026-11-25T00:00:00Z".to_string(),
            detail: Some("held".to_string()),
        };
        let Write::Status {
            name,
            status,
            old,
            resource_version,
        } = held_status(&failed, record.clone(), "revision 5 held".to_string())
        else {
            panic!("a status write expected");
        };
        assert_eq!(name, "checkout-3");
        assert_eq!(resource_version.as_deref(), Some("300"));
        assert_eq!(old.as_deref(), failed.status.as_deref());
        assert_eq!(status.phase, Some(Phase::Held));
        assert_eq!(status.actions, [record]);
        assert_eq!(status.message.as_deref(), Some("revision 5 held"));
    }
}
