//! Time from a fail verdict reaching the actor to the rollback patch answered by the API
//! server (the stateful fake, over loopback HTTP), over many releases; prints p50, p99, max.
//!
//! `cargo bench -p ripcord-controller --bench act [-- --releases N]`

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ripcord_controller::act::{Actor, Handled};
use ripcord_controller::crd::{Mode, Phase, RegressionStep};
use ripcord_controller::ops::metrics::Metrics;
use support::{Hook, World, fail_report};

fn releases() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--releases")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(300)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count = releases();
    let mut times = Vec::with_capacity(count);
    let metrics = Arc::new(Metrics::new());
    for i in 0..count {
        let world = World::start(vec![RegressionStep::Rollback], Mode::Act).await;
        let hook = Hook::start().await;
        let actor = Actor::new(world.client(), "bench", Arc::clone(&metrics))
            .with_notifier(hook.notifier());
        let report = fail_report("checkout-59c4d7f8b6-pod0", i as u64);
        let handled = actor
            .handle(&report, Instant::now())
            .await
            .expect("the verdict is handled");
        let Handled::Acted {
            phase: Phase::RolledBack,
            first_action_after: Some(elapsed),
        } = handled
        else {
            panic!("release {i} was not rolled back: {handled:?}");
        };
        assert_eq!(world.deployment_patches().len(), 1);
        assert_eq!(hook.count(), 1);
        assert_eq!(
            world.check().status.and_then(|s| s.phase),
            Some(Phase::RolledBack)
        );
        world.assert_rolled_back_to_revision_2();
        times.push(elapsed);
    }
    times.sort();
    println!(
        "verdict received -> rollback patch answered, {count} releases (fake API server on loopback):"
    );
    println!(
        "  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms   (goal: p99 <= 50 ms)",
        percentile(&times, 50.0).as_secs_f64() * 1e3,
        percentile(&times, 99.0).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}
