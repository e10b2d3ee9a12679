//! Flagger's and Argo Rollouts' analysis as documented, with the watch spec's tolerance.
//!
//! Every minute (at t = 60 s, 120 s, …) each watched metric is measured over the last minute for
//! both arms: the rate of a ratio metric, the `histogram_quantile` of latency. The check fails when
//! the canary's value is beyond the baseline's value over the same minute times `(1 + tolerance)`
//! (`max`) or `(1 − tolerance)` (`min`): for errors `canary_rate > 1.5 × baseline_rate`, for latency
//! `canary_p99 > 1.2 × baseline_p99`, for conversion `canary_rate < 0.95 × baseline_rate`. A minute
//! without canary or baseline trials is not a failure. With several metrics, a check fails if any
//! metric fails.
//! - Flagger: `interval: 1m`, `threshold: 5`: rolls back when failed checks reach 5 (Flagger counts
//!   failed checks over the analysis, not only consecutive ones). Earliest possible: 300 s.
//! - Argo Rollouts: `interval: 1m`, `failureLimit: 0`: the first failed measurement aborts. The first
//!   measurement is taken after the first minute (a measurement at t = 0 would have no canary data).

use super::{MinuteAccumulator, Policy, metric_value};
use crate::sim::stream::{ArmCounts, Tick};
use crate::sim::watch::Watch;

/// A threshold check every minute that fires after `failures_to_fire` failed checks.
#[derive(Debug, Clone)]
pub struct MinuteThreshold {
    watch: Watch,
    failures_to_fire: u32,
    failed: u32,
    minutes: MinuteAccumulator,
}

impl MinuteThreshold {
    /// Flagger's defaults: fire at the 5th failed check.
    pub fn flagger(watch: &Watch) -> MinuteThreshold {
        MinuteThreshold::new(watch, 5)
    }

    /// Argo Rollouts with `failureLimit: 0`: fire at the first failed measurement.
    pub fn argo(watch: &Watch) -> MinuteThreshold {
        MinuteThreshold::new(watch, 1)
    }

    fn new(watch: &Watch, failures_to_fire: u32) -> MinuteThreshold {
        MinuteThreshold {
            watch: watch.clone(),
            failures_to_fire,
            failed: 0,
            minutes: MinuteAccumulator::default(),
        }
    }

    /// Failed checks so far.
    pub fn failed_checks(&self) -> u32 {
        self.failed
    }

    fn check_fails(&self, canary: &ArmCounts, baseline: &ArmCounts) -> bool {
        self.watch.metrics.iter().any(|m| {
            match (metric_value(m, canary), metric_value(m, baseline)) {
                (Some(c), Some(b)) => m.beyond_tolerance(c, b),
                _ => false,
            }
        })
    }
}

impl Policy for MinuteThreshold {
    fn history(&mut self, _baseline: &[ArmCounts]) {}

    fn observe(&mut self, tick: &Tick) -> bool {
        let Some((canary, baseline)) = self.minutes.push(tick) else {
            return false;
        };
        if self.check_fails(&canary, &baseline) {
            self.failed += 1;
        }
        self.failed >= self.failures_to_fire
    }
}
