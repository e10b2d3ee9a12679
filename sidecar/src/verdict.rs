//! The verdict and its evidence: what a canary sidecar reports and the controller acts on.
//!
//! This is a wire format, versioned by [`VERDICT_VERSION`]; fields are only ever added.

use serde::{Deserialize, Serialize};

/// Version tag carried by every serialised verdict.
pub const VERDICT_VERSION: &str = "ripcord.dev/verdict/v1alpha1";

/// The outcome of judging a release, overall or for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Sure, at the configured alpha, that the canary is within tolerance of the baseline.
    Pass,
    /// Sure, at the configured alpha, that the canary is worse than the baseline (or its
    /// limit), with the estimated change beyond the tolerance; the tolerance gates the estimate
    /// and is not part of the test's null.
    Fail,
    /// Not sure yet, or no trustworthy data; `reason` says which.
    Inconclusive,
}

impl Decision {
    /// The `replay` exit code for this decision: 0 pass, 1 regression, 2 inconclusive.
    pub fn exit_code(self) -> u8 {
        match self {
            Decision::Pass => 0,
            Decision::Fail => 1,
            Decision::Inconclusive => 2,
        }
    }
}

/// A verdict on a release, with the evidence for every watched metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Always [`VERDICT_VERSION`].
    pub version: String,
    /// Overall decision: `fail` if any metric failed, `pass` if every metric passed.
    pub decision: Decision,
    /// Why the decision is what it is, in one sentence for a human.
    pub reason: String,
    /// Time of the latest canary observation judged, Unix milliseconds.
    pub at_ms: i64,
    /// Time since the first canary observation, milliseconds.
    pub elapsed_ms: i64,
    /// Number of ticks judged.
    pub ticks: u64,
    /// Family-wise false-alarm bound across all metrics.
    pub alpha: f64,
    /// When the overall decision became `fail` or `pass`, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    /// What the decision rests on: `absolute` when a failed metric was judged against its
    /// absolute limit (or, for pass and inconclusive, every metric was), else `relative`.
    /// Verdicts from before this field decode as `relative`.
    #[serde(default)]
    pub basis: Basis,
    /// Evidence per watched metric, in the spec's order.
    pub metrics: Vec<MetricEvidence>,
}

/// What a metric, or a verdict, is judged against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The canary against the baseline, at the spec's relative tolerance.
    #[default]
    Relative,
    /// The canary alone against the spec's absolute limit (no baseline to compare with).
    Absolute,
}

/// Evidence of a metric judged on the canary alone against its absolute limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbsoluteEvidence {
    /// The limit as written: a rate for a ratio (`0.02` for `limit 2%`), seconds (or the
    /// histogram's unit) for a latency quantile.
    pub limit: f64,
    /// The bound on the event rate actually tested: the limit for a ratio, `1 - quantile` for
    /// latency (the share of requests allowed above the limit).
    pub rate_limit: f64,
    /// Latency: the smallest bucket edge at or above the limit; the fail test counts requests
    /// above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<f64>,
    /// Latency: the largest bucket edge at or below the limit; the pass test counts requests
    /// above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_edge: Option<f64>,
    /// Canary events (errors, conversions, requests above `edge`) and trials.
    pub canary: ArmCounts,
    /// Lower end of the always-valid confidence sequence on the canary's rate.
    pub lower: f64,
    /// Upper end of that confidence sequence.
    pub upper: f64,
    /// The fail test's e-value (evidence that the rate is beyond `rate_limit`).
    pub e_value: f64,
    /// The pass test's e-value (evidence that the rate is within `rate_limit`).
    pub pass_e_value: f64,
    /// The e-value either test must reach: `1 / alpha` of the metric.
    pub threshold: f64,
    /// Latency: the canary's quantile, interpolated within buckets as `histogram_quantile` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_quantile: Option<f64>,
}

/// Counts and rate of one arm (canary or baseline) over the judged window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmCounts {
    /// Events counted: errors, conversions, or requests slower than the latency edge.
    pub events: f64,
    /// Trials counted: requests, checkouts started, or all requests of the histogram.
    pub trials: f64,
    /// `events / trials`, absent when there were no trials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// The estimated effect of the canary on one metric, with an always-valid interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// What the numbers measure: `rate_ratio` (canary rate / baseline rate), or `rate` (the
    /// canary's own rate) for a metric judged against its absolute limit.
    pub measure: String,
    /// Point estimate, absent without data in both arms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<f64>,
    /// Lower end of the confidence sequence (valid at any time it is looked at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Upper end of the confidence sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Coverage of the interval, `1 - alpha` of the metric.
    pub confidence: f64,
}

/// Latency-specific evidence: the bucket edge the counts were taken at and the quantiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyEvidence {
    /// The quantile the spec watches, e.g. `0.99`.
    pub quantile: f64,
    /// Bucket upper bound (seconds, or the histogram's unit) chosen from the baseline.
    pub edge: f64,
    /// Share of baseline requests at or below the edge when it was chosen.
    pub baseline_share_below_edge: f64,
    /// The canary's quantile, interpolated within buckets as `histogram_quantile` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_quantile: Option<f64>,
    /// The baseline's quantile, interpolated the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_quantile: Option<f64>,
}

/// Evidence for one watched metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEvidence {
    /// The metric's name in the watch spec.
    pub name: String,
    /// `ratio` or `latency`.
    pub signal: String,
    /// `max` (higher is worse) or `min` (lower is worse).
    pub direction: String,
    /// Tolerated relative change, e.g. `0.5` for `+50%`.
    pub tolerance: f64,
    /// This metric's decision.
    pub decision: Decision,
    /// Why, in one sentence.
    pub reason: String,
    /// Canary counts over the judged window.
    pub canary: ArmCounts,
    /// Baseline counts over the judged window.
    pub baseline: ArmCounts,
    /// Effect estimate and always-valid interval.
    pub effect: Effect,
    /// Current e-value of the regression test (evidence against "no regression").
    pub e_value: f64,
    /// The e-value at which the metric fails: `1 / alpha` of the metric.
    pub threshold: f64,
    /// The share of the family-wise alpha spent on this metric.
    pub alpha: f64,
    /// When this metric's decision became `fail` or `pass`, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at_ms: Option<i64>,
    /// Ticks skipped for this metric because their data was untrustworthy.
    pub skipped_ticks: u64,
    /// Latency evidence, for latency metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyEvidence>,
    /// Present when the metric was judged on the canary alone against its absolute limit
    /// (no baseline); `decision`, `e_value` and `threshold` above are then this test's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absolute: Option<AbsoluteEvidence>,
}
