//! Streaming parser for the Prometheus text exposition format (0.0.4) and OpenMetrics text (1.0).
//!
//! The parser walks the input once and hands each sample to a visitor without building the whole
//! scrape in memory: the caller keeps only the series its watch spec selects. Every input is
//! untrusted, so every size is capped by [`Limits`] and every error names its line and column.

use std::borrow::Cow;

/// Size caps applied while parsing one exposition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted exposition, in bytes.
    pub max_bytes: usize,
    /// Largest number of samples in one exposition.
    pub max_samples: usize,
    /// Longest accepted line, in bytes.
    pub max_line_bytes: usize,
    /// Most labels on one sample.
    pub max_labels: usize,
}

/// The type a `# TYPE` line gives a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonically increasing counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A cumulative histogram (`_bucket{le=...}`, `_sum`, `_count`).
    Histogram,
    /// An OpenMetrics gauge histogram.
    GaugeHistogram,
    /// A summary (`{quantile=...}`, `_sum`, `_count`).
    Summary,
    /// An OpenMetrics info metric.
    Info,
    /// An OpenMetrics state set.
    StateSet,
    /// No `# TYPE` line, or `untyped`/`unknown`.
    Unknown,
}

/// One label pair of a sample; the value is unescaped (borrowed when it held no escapes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label<'a> {
    /// Label name.
    pub name: &'a str,
    /// Label value, unescaped.
    pub value: Cow<'a, str>,
}

/// One sample line, as handed to the visitor.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    /// Full sample name, e.g. `http_requests_total` or `latency_seconds_bucket`.
    pub name: &'a str,
    /// Labels in the order they appeared.
    pub labels: &'a [Label<'a>],
    /// Sample value; may be NaN or ±Inf.
    pub value: f64,
    /// Timestamp in milliseconds, if the line carried one.
    pub timestamp_ms: Option<i64>,
    /// Type of the family this sample belongs to.
    pub metric_type: MetricType,
}
