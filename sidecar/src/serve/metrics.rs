//! The sidecar's own metrics, all in one `prometheus-client` registry, every label from a small
//! fixed set of values (the e-value gauge's metric names are capped at the spec's
//! [`MAX_METRICS`](crate::spec::MAX_METRICS)).

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::spec::MAX_METRICS;
use crate::verdict::{Decision, Verdict};

/// How one scrape ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeResult {
    /// The exposition was fetched and parsed.
    Ok,
    /// The scrape failed; see [`ScrapeErrorKind`].
    Error,
}

/// Why a scrape failed: a fixed set, so the error counter's series stay bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrapeErrorKind {
    /// The app's endpoint could not be reached.
    Connect,
    /// The app did not answer within the scrape timeout.
    Timeout,
    /// The app answered with a non-success HTTP status.
    HttpStatus,
    /// The exposition exceeded the response size cap.
    TooLarge,
    /// The exposition could not be parsed.
    Parse,
}

impl ScrapeErrorKind {
    /// The label value this kind is exported under.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeErrorKind::Connect => "connect",
            ScrapeErrorKind::Timeout => "timeout",
            ScrapeErrorKind::HttpStatus => "http_status",
            ScrapeErrorKind::TooLarge => "too_large",
            ScrapeErrorKind::Parse => "parse",
        }
    }
}

/// The decision label of the verdict counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum DecisionLabel {
    Pass,
    Fail,
    Inconclusive,
}

impl ScrapeResult {
    /// The label value this result is exported under.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeResult::Ok => "ok",
            ScrapeResult::Error => "error",
        }
    }
}

impl DecisionLabel {
    fn as_str(self) -> &'static str {
        match self {
            DecisionLabel::Pass => "pass",
            DecisionLabel::Fail => "fail",
            DecisionLabel::Inconclusive => "inconclusive",
        }
    }
}

/// Writes a fixed label value.
macro_rules! fixed_label_value {
    ($($label:ty),*) => {$(
        impl EncodeLabelValue for $label {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                std::fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

fixed_label_value!(ScrapeResult, ScrapeErrorKind, DecisionLabel);

impl From<Decision> for DecisionLabel {
    fn from(decision: Decision) -> Self {
        match decision {
            Decision::Pass => DecisionLabel::Pass,
            Decision::Fail => DecisionLabel::Fail,
            Decision::Inconclusive => DecisionLabel::Inconclusive,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: ScrapeResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    kind: ScrapeErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DecisionLabels {
    decision: DecisionLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MetricLabels {
    metric: String,
}

/// Upper bounds of the parse-time histogram, in seconds: 100 µs to about 1.6 s.
const PARSE_SECONDS_START: f64 = 0.0001;
const PARSE_SECONDS_FACTOR: f64 = 2.0;
const PARSE_SECONDS_BUCKETS: u16 = 15;

/// The sidecar's metrics and the registry they are exported from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    scrapes: Family<ResultLabels, Counter>,
    scrape_errors: Family<ErrorLabels, Counter>,
    parse_seconds: Histogram,
    verdicts: Family<DecisionLabels, Counter>,
    e_values: Family<MetricLabels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `ripcord_sidecar` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ripcord_sidecar");
        let scrapes = Family::<ResultLabels, Counter>::default();
        let scrape_errors = Family::<ErrorLabels, Counter>::default();
        let parse_seconds =
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                PARSE_SECONDS_START,
                PARSE_SECONDS_FACTOR,
                PARSE_SECONDS_BUCKETS,
            ));
        let verdicts = Family::<DecisionLabels, Counter>::default();
        let e_values = Family::<MetricLabels, Gauge<f64, AtomicU64>>::default();
        registry.register("scrapes", "Scrapes of the app, by result", scrapes.clone());
        registry.register(
            "scrape_errors",
            "Failed scrapes, by kind",
            scrape_errors.clone(),
        );
        registry.register(
            "parse_seconds",
            "Time to parse one exposition, in seconds",
            parse_seconds.clone(),
        );
        registry.register(
            "verdicts",
            "Verdicts reached, by decision",
            verdicts.clone(),
        );
        registry.register(
            "e_value",
            "Current e-value of each watched metric's regression test",
            e_values.clone(),
        );
        Metrics {
            registry,
            scrapes,
            scrape_errors,
            parse_seconds,
            verdicts,
            e_values,
        }
    }

    /// Counts a successful scrape and the time its parse took.
    pub fn scrape_ok(&self, parse_time: Duration) {
        self.scrapes
            .get_or_create(&ResultLabels {
                result: ScrapeResult::Ok,
            })
            .inc();
        self.parse_seconds.observe(parse_time.as_secs_f64());
    }

    /// Counts a failed scrape under its kind.
    pub fn scrape_error(&self, kind: ScrapeErrorKind) {
        self.scrapes
            .get_or_create(&ResultLabels {
                result: ScrapeResult::Error,
            })
            .inc();
        self.scrape_errors
            .get_or_create(&ErrorLabels { kind })
            .inc();
    }

    /// Counts a verdict and replaces the e-value gauges with its metrics' (at most
    /// [`MAX_METRICS`] of them, so the gauge's series stay bounded whatever the verdict holds).
    pub fn verdict(&self, verdict: &Verdict) {
        self.verdicts
            .get_or_create(&DecisionLabels {
                decision: verdict.decision.into(),
            })
            .inc();
        self.e_values.clear();
        for metric in verdict.metrics.iter().take(MAX_METRICS) {
            self.e_values
                .get_or_create(&MetricLabels {
                    metric: metric.name.clone(),
                })
                .set(metric.e_value);
        }
    }

    /// The registry in OpenMetrics text.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
