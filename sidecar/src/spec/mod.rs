//! The `ripcord.dev/watch` annotation language: which metrics to judge, in which direction, and
//! how much change is tolerated. Errors name the line and column they were found at.
//!
//! ```text
//! errors:     http_requests_total{code=~"5.."} / http_requests_total   max +50%
//! latency:    http_request_duration_seconds                             p99 max +20%
//! conversion: checkout_completed_total / checkout_started_total         min -5%   limit 3%
//! ```
//!
//! # Grammar
//!
//! ```text
//! spec       = { line "\n" }                       (at most 16 KiB and 32 metrics)
//! line       = blank | "#" comment | metric [ "#" comment ]
//! metric     = name ":" signal constraint [ limit ]
//! name       = letter { letter | digit | "_" | "-" }        (unique, at most 64 bytes)
//! signal     = selector "/" selector                        ratio: events / trials
//!            | selector quantile                            latency of a histogram family
//! quantile   = "p" digit [ digit ] [ "." digits ]           p50, p99, p99.9 (strictly 0..100)
//! constraint = "max" [ "+" ] percent                        higher is worse
//!            | "min" [ "-" ] percent                        lower is worse
//! percent    = number "%"                          (max: 0 to 1000 %, min: 0 to 90 %)
//! limit      = "limit" ( number "%"                   ratio: a rate strictly between 0 and 100 %
//!                      | number [ "us" | "ms" | "s" ] ) latency (max only): bare = the histogram's unit
//! ```
//!
//! `selector` is a PromQL series selector (see [`crate::selector`]). A ratio's selectors name
//! counters; a latency selector names the histogram family (`http_request_duration_seconds`, not
//! its `_bucket` series) and its matchers apply to the bucket series, `le` aside.
//!
//! The tolerance is relative to the baseline: `max +50%` flags the canary when its rate exceeds
//! the baseline's by more than half; `min -5%` when it falls more than 5 % below.
//!
//! The optional `limit` is absolute and is what a release without a baseline (its previous
//! revision ran no sidecar, or the baseline has no traffic) is judged against: `max +50% limit 2%`
//! means the error ratio must stay at or below 2 %, `min -5% limit 3%` that conversion must stay
//! at or above 3 %, `p99 max +20% limit 500ms` that the 99th percentile must stay at or below
//! 500 ms (durations are converted to seconds, the Prometheus base unit; a bare number is taken
//! in the histogram's own unit).

mod parse;
mod words;

use crate::selector::Selector;

pub use parse::parse_watch;

/// Largest accepted watch spec, in bytes.
pub const MAX_SPEC_BYTES: usize = 16 * 1024;

/// Most metrics one watch spec may name.
pub const MAX_METRICS: usize = 32;

/// Longest metric name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// A watch spec that could not be parsed: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct SpecError {
    /// Line of the spec (1-based).
    pub line: usize,
    /// Column of the offending token, in characters (1-based).
    pub column: usize,
    /// What is wrong, with a hint when one helps.
    pub message: String,
}

/// Result of parsing a watch spec.
pub type Result<T, E = SpecError> = std::result::Result<T, E>;

/// A parsed watch spec: the metrics to judge, in the order written.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// One entry per non-empty, non-comment line.
    pub metrics: Vec<MetricSpec>,
}

/// One watched metric.
#[derive(Debug, Clone)]
pub struct MetricSpec {
    /// The name the service owner gave it (`errors`, `latency`, `conversion`, ...).
    pub name: String,
    /// What is measured.
    pub signal: Signal,
    /// Which way is a regression.
    pub direction: Direction,
    /// Relative change that still counts as no regression: `0.5` for `max +50%`, `0.05` for `min -5%`.
    pub tolerance: f64,
    /// Absolute limit judged when there is no baseline: a rate in `(0, 1)` for a ratio (`0.02`
    /// for `limit 2%`), a duration in seconds (or the histogram's unit) for a latency quantile.
    /// The direction is the metric's: `max` bounds from above, `min` from below.
    pub limit: Option<f64>,
    /// Line (1-based) of the spec the metric was written on.
    pub line: usize,
}

/// What a watched metric measures.
#[derive(Debug, Clone)]
pub enum Signal {
    /// `numerator / denominator` of two counter selectors (error rate, conversion, custom ratios).
    Ratio {
        /// Counts the events (errors, conversions).
        numerator: Selector,
        /// Counts the trials (requests, checkouts started).
        denominator: Selector,
    },
    /// A quantile of a histogram, judged through counts above and below a baseline bucket edge.
    Latency {
        /// Selects the histogram's series by family name (without `_bucket`).
        histogram: Selector,
        /// The quantile, in (0, 1): `0.99` for `p99`.
        quantile: f64,
    },
}

/// Which way a metric regresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher is worse (`max`): errors, latency.
    Max,
    /// Lower is worse (`min`): conversion.
    Min,
}

impl Direction {
    /// The keyword that writes this direction in a spec.
    pub fn keyword(self) -> &'static str {
        match self {
            Direction::Max => "max",
            Direction::Min => "min",
        }
    }
}

#[cfg(test)]
mod tests;
