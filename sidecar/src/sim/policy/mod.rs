//! Detection policies fed the same per-second streams: Ripcord's judge and the reference policies
//! (Flagger's and Argo Rollouts' threshold checks, a Kayenta-style Mann-Whitney judgement and a
//! naive z-test repeated every second), plus the oracle SPRT, a non-deployable reference that knows
//! the scenario's true parameters.

pub mod kayenta;
pub mod oracle;
pub mod ripcord;
pub mod threshold;
pub mod ztest;

use crate::verdict::Decision;

use super::latency::{CELLS, histogram_quantile};
use super::stream::{ArmCounts, Tick};
use super::watch::{MetricKind, Watch, WatchedMetric};

/// A policy that watches one release and may fire (roll back).
pub trait Policy: Send {
    /// Feeds the baseline's per-second counts from before the release, oldest first.
    fn history(&mut self, baseline: &[ArmCounts]);
    /// Feeds one second of both arms; `true` when the policy fires on this tick.
    fn observe(&mut self, tick: &Tick) -> bool;
    /// Ripcord's current decision; `None` for policies without one.
    fn decision(&self) -> Option<Decision> {
        None
    }
}

/// The policies the benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Ripcord's anytime-valid judge at alpha 0.01.
    Ripcord,
    /// Flagger: a check a minute, rollback after 5 failed checks.
    Flagger,
    /// Argo Rollouts: a measurement a minute, `failureLimit: 0`.
    Argo,
    /// Kayenta-style: Mann-Whitney U on per-minute points, judged at 60 minutes.
    Kayenta,
    /// A two-proportion z-test on cumulative counts, repeated every second at alpha 0.01.
    ZTest,
    /// Wald's SPRT knowing the true parameters: what the best possible test achieves. Not deployable.
    OracleSprt,
}

impl PolicyKind {
    /// Every policy, Ripcord first.
    pub const ALL: [PolicyKind; 6] = [
        PolicyKind::Ripcord,
        PolicyKind::Flagger,
        PolicyKind::Argo,
        PolicyKind::Kayenta,
        PolicyKind::ZTest,
        PolicyKind::OracleSprt,
    ];

    /// Whether a real rollout could run this policy; the oracle knows the answer and cannot, so it
    /// is never a "best reference" nor in a check.
    pub fn is_deployable(self) -> bool {
        self != PolicyKind::OracleSprt
    }

    /// Whether the policy needs the scenario's true parameters, and so has no alternative in A/A.
    pub fn needs_truth(self) -> bool {
        self == PolicyKind::OracleSprt
    }

    /// Name in the table.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::Ripcord => "ripcord",
            PolicyKind::Flagger => "flagger",
            PolicyKind::Argo => "argo",
            PolicyKind::Kayenta => "kayenta",
            PolicyKind::ZTest => "z-test/1s",
            PolicyKind::OracleSprt => "sprt-oracle",
        }
    }

    /// A fresh policy of this kind watching `watch`. The oracle SPRT built this way has no
    /// alternative to test and never fires: use [`PolicyKind::build_knowing`] to hand it the truth.
    pub fn build(self, watch: &Watch) -> Box<dyn Policy> {
        self.build_knowing(watch, None)
    }

    /// A fresh policy of this kind watching `watch`, handing `truth` to the policies that use it
    /// (the oracle SPRT; without a truth it never fires).
    pub fn build_knowing(self, watch: &Watch, truth: Option<&oracle::Truth>) -> Box<dyn Policy> {
        match self {
            PolicyKind::Ripcord => Box::new(ripcord::RipcordPolicy::new(watch)),
            PolicyKind::Flagger => Box::new(threshold::MinuteThreshold::flagger(watch)),
            PolicyKind::Argo => Box::new(threshold::MinuteThreshold::argo(watch)),
            PolicyKind::Kayenta => Box::new(kayenta::Kayenta::new(watch)),
            PolicyKind::ZTest => Box::new(ztest::RepeatedZTest::new(watch)),
            PolicyKind::OracleSprt => match truth {
                Some(truth) => Box::new(oracle::OracleSprt::new(watch, truth)),
                None => Box::new(Never),
            },
        }
    }
}

/// A policy that never fires: the oracle SPRT without an alternative to test.
#[derive(Debug, Clone, Copy, Default)]
pub struct Never;

impl Policy for Never {
    fn history(&mut self, _baseline: &[ArmCounts]) {}

    fn observe(&mut self, _tick: &Tick) -> bool {
        false
    }
}

/// The value a minute-based reference policy compares: the rate of a ratio metric, or the
/// `histogram_quantile` of latency. `None` without trials.
pub fn metric_value(metric: &WatchedMetric, counts: &ArmCounts) -> Option<f64> {
    match metric.kind {
        MetricKind::Latency => histogram_quantile(metric.quantile, &counts.latency_cells),
        _ => {
            let (events, trials) = metric.events_trials(counts, 0);
            (trials > 0).then(|| events as f64 / trials as f64)
        }
    }
}

/// The latency cell whose upper bound is the first at or above the baseline's `quantile` over
/// `history` (the bucket edge a count-based test compares above); the last finite cell without data.
pub fn edge_cell(quantile: f64, history: &[ArmCounts]) -> usize {
    let mut cells = [0u64; CELLS];
    for counts in history {
        for (a, b) in cells.iter_mut().zip(counts.latency_cells) {
            *a += b;
        }
    }
    let total: u64 = cells.iter().sum();
    let mut below = 0u64;
    for (i, c) in cells.iter().enumerate().take(CELLS - 1) {
        below += c;
        if total > 0 && below as f64 >= quantile * total as f64 {
            return i;
        }
    }
    CELLS - 2
}

/// Sums per-second counts into whole minutes for the minute-based policies.
#[derive(Debug, Default, Clone)]
pub struct MinuteAccumulator {
    canary: ArmCounts,
    baseline: ArmCounts,
}

impl MinuteAccumulator {
    /// Adds a tick; at each minute boundary returns the minute's `(canary, baseline)` and restarts.
    pub fn push(&mut self, tick: &Tick) -> Option<(ArmCounts, ArmCounts)> {
        self.canary.add(&tick.canary);
        self.baseline.add(&tick.baseline);
        tick.second.is_multiple_of(60).then(|| {
            (
                std::mem::take(&mut self.canary),
                std::mem::take(&mut self.baseline),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cell_is_at_or_above_the_quantile() {
        let mut counts = ArmCounts::default();
        counts.latency_cells[4] = 60;
        counts.latency_cells[5] = 39;
        counts.latency_cells[6] = 1;
        assert_eq!(edge_cell(0.5, &[counts]), 4);
        assert_eq!(edge_cell(0.99, &[counts]), 5);
        assert_eq!(edge_cell(0.995, &[counts]), 6);
        assert_eq!(edge_cell(0.5, &[]), CELLS - 2);
    }
}
