//! The judge: compares canary and baseline observations each tick with anytime-valid tests and
//! decides pass, fail or inconclusive, with evidence.
//!
//! Per metric ([`metric`]), every tick's counts go into two e-processes of [`crate::stats`]:
//! - the **fail test**, a share mixture e-process on ordered cells valid under any time-varying
//!   baseline ([`crate::stats::ordinal`]; two cells for a ratio metric); the metric fails when its e-value reaches `1/α_m` *and* the
//!   point estimate is beyond the tolerance (practical significance). Fail is sticky.
//! - the **pass test**, a one-cell conditional-binomial mixture against "worse by the tolerance or
//!   more" ([`crate::stats::ratio`]); the metric passes when its e-value reaches `1/α_m`. A passed
//!   metric keeps running the fail test, and a later fail overrides the pass.
//!
//! `α_m = α / M` for `M` watched metrics (Bonferroni), so the probability of any false alarm over
//! the whole, arbitrarily long, continuously monitored release is at most `α`.
//! Latency metrics are judged through the cells cut by a few bucket edges chosen from the baseline
//! only; the primary edge nearest the watched quantile drives the pass test and the gate, which
//! compares the canary's share above it with the baseline's share there at the tolerance
//! ([`latency`]). Overall: fail if any metric failed, pass if all passed, else inconclusive.
//!
//! Without a baseline ([`Judge::tick_alone`], or a baseline without traffic) a metric whose spec
//! gives an absolute limit is judged on the canary alone against it, with the one-sample fail
//! and pass tests of [`crate::stats::limit`] at the same `α_m` and the same gate (the observed
//! rate beyond the limit); which basis a metric is judged on is fixed once, by baseline traffic
//! or by a baseline silent long enough (see the `metric` module). The verdict says its basis.

pub mod evidence;
pub mod latency;
mod metric;

use crate::spec::WatchSpec;
use crate::verdict::{Basis, Decision, VERDICT_VERSION, Verdict};
use crate::window::{MetricDelta, Observation, Unavailable};
use evidence::PathPoint;
use metric::MetricJudge;

/// Why a metric cannot be judged at all; the metric stays inconclusive with this reason.
/// None of these goes away by retrying: the spec, the alpha or the app's histogram must change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// The configured alpha is not a probability the tests can spend.
    #[error("alpha {0} is not in (0, 1)")]
    Alpha(f64),
    /// A test could not be built or fed (a tolerance without usable effect sizes, invalid counts).
    #[error(transparent)]
    Stats(#[from] crate::stats::StatsError),
    /// The baseline histogram seen before judging lacks the edges chosen from it.
    #[error("baseline history lacks the chosen edges")]
    MissingEdges,
}

/// Result of the judge's set-up steps.
pub type Result<T, E = JudgeError> = std::result::Result<T, E>;

/// Settings of the judge.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeConfig {
    /// Family-wise bound on the probability of ever raising a false alarm, across all metrics.
    pub alpha: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig { alpha: 0.01 }
    }
}

/// Judges one release: feed it baseline history, then one canary and one baseline observation per tick.
#[derive(Debug)]
pub struct Judge {
    spec: WatchSpec,
    config: JudgeConfig,
    metrics: Vec<MetricJudge>,
    missing: MetricDelta,
    ticks: u64,
    first_at_ms: Option<i64>,
    last_at_ms: i64,
    decision: Decision,
    decided_at_ms: Option<i64>,
}

impl Judge {
    /// A judge for the metrics of `spec`. A configuration the tests cannot use (an alpha outside
    /// `(0, 1)`, a tolerance of zero) makes the affected metrics inconclusive with that reason.
    pub fn new(spec: &WatchSpec, config: JudgeConfig) -> Judge {
        let alpha_per_metric = config.alpha / spec.metrics.len().max(1) as f64;
        Judge {
            metrics: spec
                .metrics
                .iter()
                .map(|m| MetricJudge::new(m, alpha_per_metric))
                .collect(),
            spec: spec.clone(),
            config,
            missing: MetricDelta::Unavailable(Unavailable::NoSeries(
                "metric absent from the observation".to_string(),
            )),
            ticks: 0,
            first_at_ms: None,
            last_at_ms: 0,
            decision: Decision::Inconclusive,
            decided_at_ms: None,
        }
    }

    /// Feeds a baseline observation taken before the release (the snapshot handed over at release
    /// time). It informs latency edges and baseline rates; it never counts as canary evidence.
    pub fn baseline_history(&mut self, baseline: &Observation) {
        for (metric, delta) in self.metrics.iter_mut().zip(&baseline.metrics) {
            metric.baseline_history(delta);
        }
    }

    /// Judges one tick: the canary's and the baseline's deltas over the same interval.
    pub fn tick(&mut self, canary: &Observation, baseline: &Observation) -> Decision {
        self.start_tick(canary.at_ms);
        for (index, metric) in self.metrics.iter_mut().enumerate() {
            let a = canary.metrics.get(index).unwrap_or(&self.missing);
            let b = baseline.metrics.get(index).unwrap_or(&self.missing);
            metric.tick(a, b, canary.at_ms);
        }
        self.end_tick(canary.at_ms)
    }

    /// Judges one tick without a baseline (no source answered, for `reason`): metrics with an
    /// absolute limit are judged on the canary alone; the others skip the tick with the reason.
    pub fn tick_alone(&mut self, canary: &Observation, reason: &str) -> Decision {
        self.start_tick(canary.at_ms);
        for (index, metric) in self.metrics.iter_mut().enumerate() {
            let a = canary.metrics.get(index).unwrap_or(&self.missing);
            metric.tick_alone(a, reason, canary.at_ms);
        }
        self.end_tick(canary.at_ms)
    }

    fn start_tick(&mut self, at_ms: i64) {
        self.ticks += 1;
        self.first_at_ms.get_or_insert(at_ms);
        self.last_at_ms = at_ms;
    }

    fn end_tick(&mut self, at_ms: i64) -> Decision {
        let decision = self.overall();
        if decision != self.decision {
            self.decision = decision;
            self.decided_at_ms = (decision != Decision::Inconclusive).then_some(at_ms);
        }
        decision
    }

    /// What the overall decision rests on (see [`Verdict::basis`]).
    fn basis(&self) -> Basis {
        let absolute = |m: &MetricJudge| m.absolute_basis().is_some();
        let rests_on_limits = if self.decision == Decision::Fail {
            self.metrics
                .iter()
                .any(|m| m.decision == Decision::Fail && absolute(m))
        } else {
            !self.metrics.is_empty() && self.metrics.iter().all(absolute)
        };
        if rests_on_limits {
            Basis::Absolute
        } else {
            Basis::Relative
        }
    }

    fn overall(&self) -> Decision {
        if self.metrics.iter().any(|m| m.decision == Decision::Fail) {
            Decision::Fail
        } else if !self.metrics.is_empty()
            && self.metrics.iter().all(|m| m.decision == Decision::Pass)
        {
            Decision::Pass
        } else {
            Decision::Inconclusive
        }
    }

    /// The current decision, cheap to ask.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The fail test's log e-value path of the metric at `index` (spec order), oldest first:
    /// the last ticks at full resolution, earlier ones downsampled. `None` for no such metric.
    pub fn e_value_path(&self, index: usize) -> Option<Vec<PathPoint>> {
        self.metrics.get(index).map(|m| m.path.points())
    }

    /// The current verdict with full evidence (computes the confidence intervals).
    pub fn verdict(&self) -> Verdict {
        let metrics: Vec<_> = self.metrics.iter().map(MetricJudge::evidence).collect();
        Verdict {
            version: VERDICT_VERSION.to_string(),
            decision: self.decision,
            reason: self.reason(),
            at_ms: self.last_at_ms,
            elapsed_ms: self.first_at_ms.map_or(0, |first| self.last_at_ms - first),
            ticks: self.ticks,
            alpha: self.config.alpha,
            decided_at_ms: self.decided_at_ms,
            basis: self.basis(),
            metrics,
        }
    }

    fn reason(&self) -> String {
        if self.spec.metrics.is_empty() {
            return "the watch spec has no metrics".to_string();
        }
        let listed = |wanted: Decision| {
            self.metrics
                .iter()
                .filter(|m| m.decision == wanted)
                .map(|m| format!("{} ({})", m.spec.name, m.reason()))
                .collect::<Vec<_>>()
                .join("; ")
        };
        match self.decision {
            Decision::Fail => format!("regression: {}", listed(Decision::Fail)),
            Decision::Pass if self.basis() == Basis::Absolute => {
                "every metric is within its absolute limit".to_string()
            }
            Decision::Pass => "every metric is within tolerance".to_string(),
            Decision::Inconclusive if self.ticks == 0 => {
                "no canary observation judged yet".to_string()
            }
            Decision::Inconclusive => {
                format!("lacking evidence: {}", listed(Decision::Inconclusive))
            }
        }
    }
}
