//! The naive z-test: a one-sided two-proportion z-test on cumulative counts since release, repeated
//! every second at alpha 0.01 with no correction for the repetition (or for several metrics).
//!
//! Each watched metric is a proportion: errors or conversions per request; for latency, the share of
//! requests above the bucket edge at or above the baseline's watched quantile in the 5-minute
//! pre-release history. The tolerance is a ratio margin on the proportion (the watch spec's): for
//! `max` it tests `p_canary > (1 + tol)·p_baseline` with
//! `z = (p̂_c − (1+tol)·p̂_b) / √(p̂_c(1−p̂_c)/n_c + (1+tol)²·p̂_b(1−p̂_b)/n_b)` (unpooled Wald
//! standard error), and mirrors it with `(1 − tol)` for `min`. It fires when any metric's `z`
//! exceeds `z_0.99 ≈ 2.326`.

use super::{Policy, edge_cell};
use crate::sim::stream::{ArmCounts, Tick};
use crate::sim::watch::{MetricKind, Watch};
use crate::spec::Direction;

/// One-sided critical value at alpha 0.01: the standard normal's 0.99 quantile.
pub const Z_CRITICAL: f64 = 2.326_347_874_040_840_8;

/// Cumulative counts and the latency edge of a repeated z-test.
#[derive(Debug, Clone)]
pub struct RepeatedZTest {
    watch: Watch,
    edges: Vec<usize>,
    canary: ArmCounts,
    baseline: ArmCounts,
}

impl RepeatedZTest {
    /// A repeated z-test of `watch`.
    pub fn new(watch: &Watch) -> RepeatedZTest {
        RepeatedZTest {
            watch: watch.clone(),
            edges: vec![edge_cell(0.5, &[]); watch.metrics.len()],
            canary: ArmCounts::default(),
            baseline: ArmCounts::default(),
        }
    }
}

/// The one-sided z statistic of a ratio margin test, `None` when its standard error is zero.
pub fn margin_z(
    events_c: u64,
    trials_c: u64,
    events_b: u64,
    trials_b: u64,
    margin: f64,
    direction: Direction,
) -> Option<f64> {
    if trials_c == 0 || trials_b == 0 {
        return None;
    }
    let (pc, pb) = (
        events_c as f64 / trials_c as f64,
        events_b as f64 / trials_b as f64,
    );
    let variance =
        pc * (1.0 - pc) / trials_c as f64 + margin * margin * pb * (1.0 - pb) / trials_b as f64;
    if variance <= 0.0 {
        return None;
    }
    let diff = pc - margin * pb;
    Some(
        match direction {
            Direction::Max => diff,
            Direction::Min => -diff,
        } / variance.sqrt(),
    )
}

impl Policy for RepeatedZTest {
    fn history(&mut self, baseline: &[ArmCounts]) {
        for (edge, metric) in self.edges.iter_mut().zip(&self.watch.metrics) {
            if metric.kind == MetricKind::Latency {
                *edge = edge_cell(metric.quantile, baseline);
            }
        }
    }

    fn observe(&mut self, tick: &Tick) -> bool {
        self.canary.add(&tick.canary);
        self.baseline.add(&tick.baseline);
        self.watch
            .metrics
            .iter()
            .zip(&self.edges)
            .any(|(m, &edge)| {
                let (ec, nc) = m.events_trials(&self.canary, edge);
                let (eb, nb) = m.events_trials(&self.baseline, edge);
                margin_z(ec, nc, eb, nb, m.margin(), m.direction).is_some_and(|z| z > Z_CRITICAL)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin_z_signs() {
        let z = margin_z(50, 1000, 10, 1000, 1.5, Direction::Max).unwrap();
        assert!(z > Z_CRITICAL);
        let z = margin_z(12, 1000, 10, 1000, 1.5, Direction::Max).unwrap();
        assert!(z < 0.0);
        let z = margin_z(50, 1000, 100, 1000, 0.95, Direction::Min).unwrap();
        assert!(z > Z_CRITICAL);
        assert_eq!(margin_z(0, 1000, 0, 1000, 1.5, Direction::Max), None);
    }
}
