//! A Kayenta-style judgement: one canary analysis at the end of a 60-minute interval, each metric
//! classified by a Mann-Whitney U test on per-minute points of the two arms.
//!
//! Interpretation of the documented defaults: the points are the 60 per-minute values of each arm
//! (rate of a ratio metric, `histogram_quantile` of latency). A metric is classified as a regression
//! when the one-sided Mann-Whitney p-value (in the bad direction) is below `1 − 0.98 = 0.02` *and* the
//! ratio of the arms' mean points is beyond the watch spec's tolerance (Kayenta's effect-size check).
//! With several metrics one regressing metric drops the score below the pass threshold, so the
//! canary fails. The single judgement happens at t = 3600 s; before that Kayenta never fires.

use statrs::distribution::{ContinuousCDF, Normal};

use super::{MinuteAccumulator, Policy, metric_value};
use crate::sim::stream::{ArmCounts, Tick};
use crate::sim::watch::Watch;
use crate::spec::Direction;

/// Seconds until Kayenta's one judgement.
pub const INTERVAL_S: u32 = 3600;
/// Confidence of the Mann-Whitney classification.
pub const CONFIDENCE: f64 = 0.98;

/// Kayenta-style policy state: per-minute points per metric and arm.
#[derive(Debug, Clone)]
pub struct Kayenta {
    watch: Watch,
    minutes: MinuteAccumulator,
    canary_points: Vec<Vec<f64>>,
    baseline_points: Vec<Vec<f64>>,
}

impl Kayenta {
    /// A Kayenta-style judge of `watch`.
    pub fn new(watch: &Watch) -> Kayenta {
        let n = watch.metrics.len();
        Kayenta {
            watch: watch.clone(),
            minutes: MinuteAccumulator::default(),
            canary_points: vec![Vec::new(); n],
            baseline_points: vec![Vec::new(); n],
        }
    }

    fn record(&mut self, canary: &ArmCounts, baseline: &ArmCounts) {
        for (i, m) in self.watch.metrics.iter().enumerate() {
            if let Some(v) = metric_value(m, canary) {
                self.canary_points[i].push(v);
            }
            if let Some(v) = metric_value(m, baseline) {
                self.baseline_points[i].push(v);
            }
        }
    }

    fn judge(&self) -> bool {
        self.watch.metrics.iter().enumerate().any(|(i, m)| {
            let (c, b) = (&self.canary_points[i], &self.baseline_points[i]);
            let (Some(p), Some(mc), Some(mb)) =
                (mann_whitney_p(c, b, m.direction), mean(c), mean(b))
            else {
                return false;
            };
            p < 1.0 - CONFIDENCE && m.beyond_tolerance(mc, mb)
        })
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// One-sided Mann-Whitney U p-value that `canary` is stochastically larger (`Max`) or smaller
/// (`Min`) than `baseline`: normal approximation with mid-ranks, tie correction and continuity
/// correction, as scipy's `mannwhitneyu(method="asymptotic")`. `None` with an empty arm or all ties.
pub fn mann_whitney_p(canary: &[f64], baseline: &[f64], direction: Direction) -> Option<f64> {
    let (n1, n2) = (canary.len() as f64, baseline.len() as f64);
    if canary.is_empty() || baseline.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = canary
        .iter()
        .map(|&v| (v, true))
        .chain(baseline.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum, mut tie_term, mut i) = (0.0, 0.0, 0usize);
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid_rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum += mid_rank * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - n1 * (n1 + 1.0) / 2.0;
    let big_n = n1 + n2;
    let variance = n1 * n2 / 12.0 * ((big_n + 1.0) - tie_term / (big_n * (big_n - 1.0)));
    if variance <= 0.0 {
        return None;
    }
    let centre = n1 * n2 / 2.0;
    let normal = Normal::new(0.0, 1.0).ok()?;
    Some(match direction {
        Direction::Max => normal.sf((u - centre - 0.5) / variance.sqrt()),
        Direction::Min => normal.cdf((u - centre + 0.5) / variance.sqrt()),
    })
}

impl Policy for Kayenta {
    fn history(&mut self, _baseline: &[ArmCounts]) {}

    fn observe(&mut self, tick: &Tick) -> bool {
        if let Some((canary, baseline)) = self.minutes.push(tick) {
            self.record(&canary, &baseline);
        }
        tick.second == INTERVAL_S && self.judge()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu([3,4,5,6,7],[1,2,3,4,5], alternative="greater", method="asymptotic")
        let p = mann_whitney_p(
            &[3.0, 4.0, 5.0, 6.0, 7.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            Direction::Max,
        )
        .unwrap();
        assert!((p - 0.056_923_149_003_329).abs() < 1e-9, "{p}");
        let q = mann_whitney_p(
            &[3.0, 4.0, 5.0, 6.0, 7.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            Direction::Min,
        )
        .unwrap();
        assert!((q - 0.963_430_100_170_545_5).abs() < 1e-9, "{q}");
    }
}
