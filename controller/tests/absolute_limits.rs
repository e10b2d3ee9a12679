//! A release whose previous revision ran no sidecar (ReleaseCheck `Inconclusive`): a fail judged
//! against the watch spec's absolute limits rolls it back exactly once; a fail judged against a
//! baseline, or anything else, is recorded and never acted on. Against the fake API server.

mod support;

use std::sync::Arc;
use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use ripcord_controller::act::{Actor, Handled};
use ripcord_controller::crd::{Basis as StatusBasis, Mode, Phase, RegressionStep, ReleaseCheck};
use ripcord_controller::ops::metrics::Metrics;
use ripcord_sidecar::report::VerdictReport;
use ripcord_sidecar::verdict::Basis;
use support::{Hook, World, fail_report, report, verdict};

/// A world whose release check says the previous revision ran no sidecar.
async fn without_baseline(mode: Mode) -> World {
    let world = World::start(vec![RegressionStep::Rollback], mode).await;
    let checks: Api<ReleaseCheck> = Api::namespaced(world.client(), "shop");
    checks
        .patch_status(
            "checkout-3",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": { "phase": "Inconclusive" } })),
        )
        .await
        .expect("phase set");
    world.server.clear_requests();
    world
}

/// The recorded verdict of the errors scenario's canary judged alone against its limits.
fn absolute_fail_report(pod: &str, sequence: u64) -> VerdictReport {
    let report = report(pod, sequence, "errors-absolute");
    assert_eq!(
        report.verdict.basis,
        Basis::Absolute,
        "the recording's basis"
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_fail_without_a_baseline_rolls_back_once() {
    let world = without_baseline(Mode::Act).await;
    let hook = Hook::start().await;
    let replicas: Vec<Actor> = ["controller-a", "controller-b"]
        .iter()
        .map(|name| {
            Actor::new(world.client(), name, Arc::new(Metrics::new()))
                .with_notifier(hook.notifier())
        })
        .collect();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let actor = replicas[i % 2].clone();
        let report = absolute_fail_report(&format!("checkout-59c4d7f8b6-pod{}", i % 3), i as u64);
        tasks.push(tokio::spawn(async move {
            actor.handle(&report, Instant::now()).await
        }));
    }
    let mut acted = 0;
    for task in tasks {
        match task.await.expect("task joins").expect("handled") {
            Handled::Acted { phase, .. } => {
                assert_eq!(phase, Phase::RolledBack);
                acted += 1;
            }
            Handled::Skipped(_) | Handled::Recorded => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(acted, 1, "exactly one verdict acts");
    assert_eq!(world.deployment_patches().len(), 1, "one rollback patch");
    world.assert_rolled_back_to_revision_2();
    assert_eq!(hook.count(), 1, "one notification");
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert_eq!(status.actions.len(), 1);
    let detail = status
        .verdict_detail
        .as_ref()
        .expect("the verdict's detail");
    assert_eq!(detail.basis, StatusBasis::Absolute);
    let errors = &status.metrics[0];
    assert_eq!(
        (errors.name.as_str(), errors.basis),
        ("errors", StatusBasis::Absolute)
    );
    let limit = errors.absolute.as_ref().expect("the limit's evidence");
    assert_eq!((limit.limit, limit.rate_limit), (0.02, 0.02));
    assert!(
        limit.lower > 0.02 && limit.e_value >= limit.threshold,
        "{limit:?}"
    );
}

#[tokio::test]
async fn without_a_baseline_relative_verdicts_are_recorded_and_never_acted_on() {
    let world = without_baseline(Mode::Act).await;
    let hook = Hook::start().await;
    let actor = Actor::new(world.client(), "controller-a", Arc::new(Metrics::new()))
        .with_notifier(hook.notifier());
    let mut healthy = report("checkout-59c4d7f8b6-pod0", 2, "healthy");
    healthy.verdict.basis = Basis::Absolute;
    let relative_fail = fail_report("checkout-59c4d7f8b6-pod0", 1);
    assert_eq!(relative_fail.verdict.basis, Basis::Relative);
    assert_eq!(
        verdict("errors").basis,
        Basis::Relative,
        "recorded before absolute limits existed"
    );
    for report in [relative_fail, healthy] {
        assert_eq!(
            actor
                .handle(&report, Instant::now())
                .await
                .expect("handled"),
            Handled::Recorded
        );
    }
    assert!(world.deployment_patches().is_empty());
    assert_eq!(hook.count(), 0);
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Inconclusive));
}

#[tokio::test]
async fn observe_mode_never_acts_on_an_absolute_fail_either() {
    let world = without_baseline(Mode::Observe).await;
    let hook = Hook::start().await;
    let actor = Actor::new(world.client(), "controller-a", Arc::new(Metrics::new()))
        .with_notifier(hook.notifier());
    for i in 0..3 {
        actor
            .handle(
                &absolute_fail_report("checkout-59c4d7f8b6-pod0", i),
                Instant::now(),
            )
            .await
            .expect("handled");
    }
    assert!(world.deployment_patches().is_empty());
    assert_eq!(hook.count(), 1, "reported once");
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Observed));
}
