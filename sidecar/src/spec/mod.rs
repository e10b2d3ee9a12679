//! The `ripcord.dev/watch` annotation language: which metrics to judge, in which direction, and
//! how much change is tolerated. Errors name the line and column they were found at.

use crate::selector::Selector;

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
