//! Turns successive scrapes of one app into per-metric count deltas, with Prometheus' counter-reset
//! semantics, and keeps a bounded window of them.
//!
//! [`Extractor`] keeps, per watched selector, the last trusted value of each series it matched
//! (bounded by a series cap) and turns each scrape into an [`Observation`]: for a ratio, the
//! summed increases of the numerator's and the denominator's series; for a latency, the summed
//! cumulative bucket increases of the histogram's series. Anything untrustworthy (first scrape,
//! restart, broken histogram, failed scrape, missing series, NaN counters) is an [`Unavailable`]
//! with its reason, never a number. A failed scrape also costs the next good one: that scrape
//! only sets the starting point again (its delta would span the whole gap, landing a gap's
//! counts in one tick that is judged against one tick of baseline). [`Window`] keeps the latest
//! observations in a bounded ring.

mod counter;
mod cumulative;
mod extract;
mod histogram;
mod ring;
mod staging;

pub use extract::{DEFAULT_MAX_SERIES, Extractor, MAX_INCREASE_PER_SCRAPE};
pub use ring::{RangeTotal, Window, total};

/// What one scrape added to one watched metric since the previous scrape.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricDelta {
    /// A ratio metric: events (numerator) and trials (denominator) added.
    Ratio {
        /// Numerator increase (errors, conversions).
        events: f64,
        /// Denominator increase (requests, checkouts started).
        trials: f64,
    },
    /// A histogram: cumulative bucket increases at each upper bound, the last one `+Inf`.
    Histogram {
        /// Bucket upper bounds, ascending, ending with `f64::INFINITY`.
        upper_bounds: Vec<f64>,
        /// Cumulative count increase at each upper bound (non-decreasing).
        cumulative: Vec<f64>,
    },
    /// No trustworthy delta this scrape, and why.
    Unavailable(Unavailable),
}

/// Why a scrape gave no trustworthy delta for a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The first scrape only sets the starting point.
    FirstScrape,
    /// The scrape failed or could not be parsed.
    ScrapeFailed(String),
    /// No series matched a selector that must match.
    NoSeries(String),
    /// A counter went down: the app restarted. The delta is not trusted.
    CounterReset(String),
    /// A histogram's buckets were not cumulative. The scrape is not trusted.
    NonMonotoneHistogram(String),
    /// Only in a canary's baseline: the baseline source counts this metric otherwise (the
    /// release changed the watch spec), so it has no baseline from that source; why.
    SpecDiffers(String),
}

/// The deltas of one scrape, one per watched metric, in spec order.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// When the scrape was taken, in Unix milliseconds.
    pub at_ms: i64,
    /// One delta per metric of the watch spec, in the spec's order.
    pub metrics: Vec<MetricDelta>,
}

impl Observation {
    /// Whether at least one metric has a usable delta.
    pub fn any_usable(&self) -> bool {
        self.metrics
            .iter()
            .any(|m| !matches!(m, MetricDelta::Unavailable(_)))
    }
}
