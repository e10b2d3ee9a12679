//! Evidence: the bounded path of the fail test's log e-value, and the verdict's per-metric evidence.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::metric::MetricJudge;
use crate::spec::{Direction, Signal};
use crate::verdict::{ArmCounts, Decision, Effect, LatencyEvidence, MetricEvidence};

/// The measure of an absolute judgement's effect: the canary's own rate.
const MEASURE_RATE: &str = "rate";

/// Points of the path kept at full resolution, and at most as many older, downsampled points.
pub const PATH_RECENT: usize = 600;

/// The largest natural-log e-value reported as a number (beyond it `exp` overflows).
const MAX_REPORTED_LOG_E: f64 = 700.0;

/// One point of the e-value path.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PathPoint {
    /// Time of the tick, Unix milliseconds.
    pub at_ms: i64,
    /// Natural logarithm of the fail test's e-value after the tick.
    pub log_e_value: f64,
}

/// The fail test's log e-value over time: the last [`PATH_RECENT`] ticks at full resolution and
/// the earlier ones downsampled (every `stride`-th evicted point, the stride doubling when full),
/// so memory stays bounded over any run length and nothing is allocated after the first ticks.
#[derive(Debug, Clone, Default)]
pub struct EvidencePath {
    recent: VecDeque<PathPoint>,
    older: Vec<PathPoint>,
    stride: u64,
    evicted: u64,
}

impl EvidencePath {
    /// Appends a tick's point.
    pub fn push(&mut self, at_ms: i64, log_e_value: f64) {
        if self.recent.capacity() == 0 {
            self.recent.reserve_exact(PATH_RECENT);
            self.older.reserve_exact(PATH_RECENT);
            self.stride = 1;
        }
        if self.recent.len() == PATH_RECENT
            && let Some(evicted) = self.recent.pop_front()
        {
            self.keep_older(evicted);
        }
        self.recent.push_back(PathPoint { at_ms, log_e_value });
    }

    fn keep_older(&mut self, point: PathPoint) {
        if self.evicted.is_multiple_of(self.stride) {
            if self.older.len() == PATH_RECENT {
                let mut index = 0;
                self.older.retain(|_| {
                    index += 1;
                    index % 2 == 1
                });
                self.stride *= 2;
            }
            if self.evicted.is_multiple_of(self.stride) {
                self.older.push(point);
            }
        }
        self.evicted += 1;
    }

    /// All kept points, oldest first.
    pub fn points(&self) -> Vec<PathPoint> {
        self.older.iter().chain(&self.recent).copied().collect()
    }
}

fn arm(events: f64, trials: f64) -> ArmCounts {
    ArmCounts {
        events,
        trials,
        rate: (trials > 0.0).then(|| events / trials),
    }
}

fn reported_e_value(log_e: f64) -> f64 {
    if log_e.is_nan() {
        return 0.0;
    }
    log_e.min(MAX_REPORTED_LOG_E).exp()
}

impl MetricJudge {
    /// This metric's evidence; computes the confidence sequence.
    pub(crate) fn evidence(&self) -> MetricEvidence {
        let mut evidence = self.relative_evidence();
        if let Some(absolute) = self.absolute_basis() {
            let found = absolute.evidence(self.alpha, reported_e_value);
            evidence.canary = found.canary.clone();
            evidence.effect = Effect {
                measure: MEASURE_RATE.to_string(),
                estimate: found.canary.rate,
                lower: Some(found.lower),
                upper: Some(found.upper),
                confidence: 1.0 - self.alpha,
            };
            evidence.absolute = Some(found);
        }
        evidence
    }

    fn relative_evidence(&self) -> MetricEvidence {
        let totals = self.totals;
        let interval = self
            .tests
            .as_ref()
            .ok()
            .map(|t| t.ratio.confidence_interval(self.alpha));
        let latency = self.latency.as_ref().and_then(|latency| {
            let edge = latency.edge?;
            Some(LatencyEvidence {
                quantile: latency.quantile,
                edge: edge.bound,
                baseline_share_below_edge: edge.share_below,
                canary_quantile: latency.canary_judged.quantile(latency.quantile),
                baseline_quantile: latency.baseline_judged.quantile(latency.quantile),
            })
        });
        MetricEvidence {
            name: self.spec.name.clone(),
            signal: match self.spec.signal {
                Signal::Ratio { .. } => "ratio",
                Signal::Latency { .. } => "latency",
            }
            .to_string(),
            direction: match self.spec.direction {
                Direction::Max => "max",
                Direction::Min => "min",
            }
            .to_string(),
            tolerance: self.spec.tolerance,
            decision: self.decision,
            reason: self.reason(),
            canary: arm(totals.canary_events, totals.canary_trials),
            baseline: arm(totals.baseline_events, totals.baseline_trials),
            effect: Effect {
                measure: "rate_ratio".to_string(),
                estimate: totals.rate_ratio(),
                lower: interval.map(|i| i.lower),
                upper: interval.and_then(|i| i.upper),
                confidence: 1.0 - self.alpha,
            },
            e_value: reported_e_value(self.log_e_value),
            threshold: (1.0 / self.alpha).min(f64::MAX),
            alpha: self.alpha,
            decided_at_ms: self.decided_at_ms,
            skipped_ticks: self.skipped_ticks,
            latency,
            absolute: None,
        }
    }

    /// Whether the metric is still waiting for its latency edge.
    pub(crate) fn choosing_edge(&self) -> bool {
        self.latency.as_ref().is_some_and(|l| l.edge.is_none())
    }

    /// Why the metric's decision is what it is, in one sentence.
    pub(crate) fn reason(&self) -> String {
        let skipped = match (&self.last_skip, self.skipped_ticks) {
            (Some(last), 1) => format!("; 1 tick skipped ({last})"),
            (Some(last), n) if n > 0 => format!("; {n} ticks skipped (last: {last})"),
            _ => String::new(),
        };
        let estimate = self
            .estimate()
            .map_or("none".to_string(), |e| format!("{e:.3}"));
        if let Some(absolute) = self.absolute_basis() {
            return self.absolute_reason(absolute) + &skipped;
        }
        if self.basis.is_none()
            && self.absolute.is_some()
            && self.absent_ticks > 0
            && let Some(why) = &self.no_baseline
        {
            return format!(
                "{why}; judged against its absolute limit once the baseline has shown no traffic \
                 for {} ticks and {} canary requests (so far {} and {})",
                super::metric::ABSENT_AFTER_TICKS,
                super::metric::ABSENT_AFTER_TRIALS,
                self.absent_ticks,
                self.absent_trials
            ) + &skipped;
        }
        if self.basis.is_none()
            && self.absolute.is_none()
            && let Some(why) = &self.no_baseline
        {
            return format!(
                "{why}, and no absolute limit to judge the canary alone against \
                 (add one, e.g. \"limit 2%\")"
            ) + &skipped;
        }
        let base = match (&self.tests, self.decision) {
            (Err(problem), _) => format!("cannot be judged: {problem}"),
            (_, Decision::Fail) => format!(
                "regressed: e-value {:.3e} ≥ {:.0} and estimate {estimate} beyond tolerance {}",
                reported_e_value(self.log_e_value),
                1.0 / self.alpha,
                self.spec.tolerance
            ),
            (_, Decision::Pass) => format!(
                "within tolerance: pass e-value {:.3e} ≥ {:.0}",
                reported_e_value(self.pass_log_e_value),
                1.0 / self.alpha
            ),
            _ if self.choosing_edge() => {
                "choosing the latency edge from baseline requests".to_string()
            }
            _ if self.raw_canary_trials <= 0.0 => "no canary traffic".to_string(),
            _ if self.raw_baseline_trials <= 0.0 => "baseline has no traffic".to_string(),
            _ if self.totals.canary_trials <= 0.0 => {
                "canary and baseline never had traffic in the same tick".to_string()
            }
            _ if self.pass_log_e_value >= self.ln_threshold && self.pass_blocked().is_some() => {
                format!("cannot pass: {}", self.pass_blocked().unwrap_or_default())
            }
            _ if self.log_e_value >= self.ln_threshold => {
                format!("a change is evident but the estimate {estimate} is within tolerance")
            }
            _ => format!(
                "not enough evidence yet: e-value {:.3} and pass e-value {:.3} of {:.0} needed",
                reported_e_value(self.log_e_value),
                reported_e_value(self.pass_log_e_value),
                1.0 / self.alpha
            ),
        };
        base + &skipped
    }
}

impl MetricJudge {
    /// Why the decision against the absolute limit is what it is.
    fn absolute_reason(&self, absolute: &super::metric::AbsoluteJudge) -> String {
        let limit = absolute.limit_text();
        let why = self.no_baseline.as_deref().unwrap_or("no baseline");
        let rate = absolute
            .rate()
            .map_or("none".to_string(), |r| format!("{r:.4}"));
        let threshold = 1.0 / self.alpha;
        let detail = match self.decision {
            Decision::Fail => format!(
                "beyond the limit {limit}: e-value {:.3e} ≥ {threshold:.0} and rate {rate}",
                reported_e_value(self.log_e_value)
            ),
            Decision::Pass => format!(
                "within the limit {limit}: pass e-value {:.3e} ≥ {threshold:.0}",
                reported_e_value(self.pass_log_e_value)
            ),
            Decision::Inconclusive => match absolute.problem() {
                Some(problem) => format!("cannot be judged against the limit: {problem}"),
                None if self.raw_canary_trials <= 0.0 => "no canary traffic".to_string(),
                None if self.pass_log_e_value >= self.ln_threshold => format!(
                    "cannot pass: {}",
                    absolute.pass_blocked().unwrap_or_default()
                ),
                None if self.log_e_value >= self.ln_threshold => {
                    format!("rate {rate} is evidently off but within the limit {limit}")
                }
                None => format!(
                    "against the limit {limit}, not enough evidence yet: e-value {:.3} and pass \
                     e-value {:.3} of {threshold:.0} needed (rate {rate})",
                    reported_e_value(self.log_e_value),
                    reported_e_value(self.pass_log_e_value),
                ),
            },
        };
        format!("{why}; judged on the canary alone, {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_stays_bounded_and_ordered() {
        let mut path = EvidencePath::default();
        for t in 0..100_000 {
            path.push(t, t as f64);
        }
        let points = path.points();
        assert!(points.len() <= 2 * PATH_RECENT, "{}", points.len());
        assert!(points.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
        assert_eq!(points.last().map(|p| p.at_ms), Some(99_999));
        assert_eq!(
            points[points.len() - PATH_RECENT].at_ms,
            100_000 - PATH_RECENT as i64
        );
        assert!(
            points[0].at_ms < 1_000,
            "the oldest ticks are kept downsampled"
        );
    }

    #[test]
    fn huge_e_values_stay_finite() {
        assert!(reported_e_value(1e6).is_finite());
        assert_eq!(reported_e_value(f64::NAN), 0.0);
    }
}
