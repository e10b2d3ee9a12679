//! Exactly once: many fail verdicts from many canary pods, handled concurrently by two
//! controller replicas against one API server, roll the Deployment back once and notify once.
//! Runs against the stateful fake API server, which enforces resourceVersion preconditions the
//! way the real one does.

mod support;

use std::sync::Arc;
use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use ripcord_controller::act::{Actor, Handled};
use ripcord_controller::crd::{Mode, Phase, RegressionStep, ReleaseCheck};
use ripcord_controller::ops::metrics::Metrics;
use support::{Hook, World, fail_report};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_fail_verdicts_from_ten_pods_through_two_replicas_roll_back_once_and_notify_once() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let hook = Hook::start().await;
    let replicas: Vec<Actor> = ["controller-a", "controller-b"]
        .iter()
        .map(|name| {
            Actor::new(world.client(), name, Arc::new(Metrics::new()))
                .with_notifier(hook.notifier())
        })
        .collect();
    let reports: Vec<_> = (0..50)
        .map(|i| fail_report(&format!("checkout-59c4d7f8b6-pod{}", i % 10), i))
        .collect();
    let start = Arc::new(tokio::sync::Barrier::new(reports.len()));
    let mut tasks = Vec::new();
    for (i, report) in reports.into_iter().enumerate() {
        let actor = replicas[i % 2].clone();
        let start = Arc::clone(&start);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
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
            Handled::Skipped(_) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(acted, 1, "exactly one verdict acts");
    let patches = world.deployment_patches();
    assert_eq!(patches.len(), 1, "one rollback patch: {patches:#?}");
    let patch = &patches[0];
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    let ops: serde_json::Value = serde_json::from_slice(&patch.body).expect("JSON patch");
    assert_eq!(ops[0]["op"], "test");
    assert_eq!(ops[0]["path"], "/metadata/resourceVersion");
    assert_eq!(hook.count(), 1, "one notification");
    world.assert_rolled_back_to_revision_2();
    let check = world.check();
    let status = check.status.expect("status");
    assert_eq!(status.phase, Some(Phase::RolledBack));
    assert!(status.timeline.detected.is_some() && status.timeline.acted.is_some());
    assert_eq!(status.actions.len(), 1);
    assert!(status.claimed_by.is_some());
}

#[tokio::test]
async fn observe_mode_reports_once_and_writes_nothing_to_the_deployment() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Observe).await;
    let hook = Hook::start().await;
    let actor = Actor::new(world.client(), "controller-a", Arc::new(Metrics::new()))
        .with_notifier(hook.notifier());
    for i in 0..5 {
        let report = fail_report("checkout-59c4d7f8b6-pod0", i);
        actor
            .handle(&report, Instant::now())
            .await
            .expect("handled");
    }
    assert!(world.deployment_patches().is_empty());
    assert_eq!(hook.count(), 1);
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Observed));
    assert!(status.actions.is_empty());
}

#[tokio::test]
async fn a_pass_verdict_records_evidence_without_acting() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
    let actor = Actor::new(world.client(), "controller-a", Arc::new(Metrics::new()));
    let report = support::report("checkout-59c4d7f8b6-pod0", 1, "healthy");
    assert_eq!(
        actor
            .handle(&report, Instant::now())
            .await
            .expect("handled"),
        Handled::Recorded
    );
    assert!(world.deployment_patches().is_empty());
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Watching));
    assert!(!status.metrics.is_empty());
}

#[tokio::test]
async fn a_release_without_a_baseline_records_fail_verdicts_and_never_acts() {
    let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
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
    let hook = Hook::start().await;
    let actor = Actor::new(world.client(), "controller-a", Arc::new(Metrics::new()))
        .with_notifier(hook.notifier());
    let report = fail_report("checkout-59c4d7f8b6-pod0", 1);
    assert_eq!(
        actor
            .handle(&report, Instant::now())
            .await
            .expect("handled"),
        Handled::Recorded
    );
    assert!(world.deployment_patches().is_empty());
    assert_eq!(hook.count(), 0);
    let status = world.check().status.expect("status");
    assert_eq!(status.phase, Some(Phase::Inconclusive));
    assert!(!status.metrics.is_empty(), "the evidence is still recorded");
}
