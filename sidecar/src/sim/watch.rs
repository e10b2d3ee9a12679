//! What the simulated service owner watches: the metrics, directions and tolerances, as a real
//! [`WatchSpec`] for Ripcord's judge and as plain numbers for the reference policies.

use crate::selector::Selector;
use crate::spec::{Direction, MetricSpec, Signal, WatchSpec};
use crate::window::{MetricDelta, Observation};

use super::latency::{CELLS, DEFAULT_BUCKETS};
use super::stream::ArmCounts;

/// Tolerance of the error-rate watch: `max +50%`.
pub const ERRORS_TOLERANCE: f64 = 0.5;
/// Tolerance of a p99 latency watch: `p99 max +20%`.
pub const P99_TOLERANCE: f64 = 0.2;
/// Tolerance of a median latency watch: `p50 max +5%`.
pub const P50_TOLERANCE: f64 = 0.05;
/// Tolerance of the conversion watch: `min -5%`.
pub const CONVERSION_TOLERANCE: f64 = 0.05;

/// The three simulated metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Failed requests over requests.
    Errors,
    /// The request-duration histogram.
    Latency,
    /// Conversions over requests.
    Conversion,
}

/// One watched metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WatchedMetric {
    /// Which metric.
    pub kind: MetricKind,
    /// For latency, the quantile watched.
    pub quantile: f64,
    /// Which way is worse.
    pub direction: Direction,
    /// Tolerated relative change.
    pub tolerance: f64,
}

impl WatchedMetric {
    /// Whether the canary's `canary` value is worse than the baseline's `baseline` beyond tolerance.
    pub fn beyond_tolerance(&self, canary: f64, baseline: f64) -> bool {
        match self.direction {
            Direction::Max => canary > baseline * (1.0 + self.tolerance),
            Direction::Min => canary < baseline * (1.0 - self.tolerance),
        }
    }

    /// The tolerance bound applied to a baseline value: `baseline × (1 ± tolerance)`.
    pub fn margin(&self) -> f64 {
        match self.direction {
            Direction::Max => 1.0 + self.tolerance,
            Direction::Min => 1.0 - self.tolerance,
        }
    }

    /// `(events, trials)` of a ratio metric; for latency, requests above `edge` and all requests.
    pub fn events_trials(&self, counts: &ArmCounts, edge_cell: usize) -> (u64, u64) {
        match self.kind {
            MetricKind::Errors => (counts.errors, counts.requests),
            MetricKind::Conversion => (counts.conversions, counts.requests),
            MetricKind::Latency => {
                let above: u64 = counts.latency_cells.iter().skip(edge_cell + 1).sum();
                (above, counts.latency_cells.iter().sum())
            }
        }
    }
}

/// A set of watched metrics with a name for the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// `errors`, `latency p99`, `all (p99)`.
    pub name: String,
    /// The metrics, in spec order.
    pub metrics: Vec<WatchedMetric>,
}

fn errors_metric() -> WatchedMetric {
    WatchedMetric {
        kind: MetricKind::Errors,
        quantile: 0.0,
        direction: Direction::Max,
        tolerance: ERRORS_TOLERANCE,
    }
}

fn latency_metric(quantile: f64) -> WatchedMetric {
    let tolerance = if quantile >= 0.9 {
        P99_TOLERANCE
    } else {
        P50_TOLERANCE
    };
    WatchedMetric {
        kind: MetricKind::Latency,
        quantile,
        direction: Direction::Max,
        tolerance,
    }
}

fn conversion_metric() -> WatchedMetric {
    WatchedMetric {
        kind: MetricKind::Conversion,
        quantile: 0.0,
        direction: Direction::Min,
        tolerance: CONVERSION_TOLERANCE,
    }
}

fn quantile_label(quantile: f64) -> String {
    format!("p{}", (quantile * 100.0).round())
}

impl Watch {
    /// `errors max +50%` alone.
    pub fn errors() -> Watch {
        Watch {
            name: "errors".to_string(),
            metrics: vec![errors_metric()],
        }
    }

    /// Latency at `quantile` alone (`+20%` for p90 and above, `+5%` below).
    pub fn latency(quantile: f64) -> Watch {
        Watch {
            name: format!("latency {}", quantile_label(quantile)),
            metrics: vec![latency_metric(quantile)],
        }
    }

    /// `conversion min -5%` alone.
    pub fn conversion() -> Watch {
        Watch {
            name: "conversion".to_string(),
            metrics: vec![conversion_metric()],
        }
    }

    /// Errors, latency at `quantile` and conversion together.
    pub fn all(quantile: f64) -> Watch {
        Watch {
            name: format!("all ({})", quantile_label(quantile)),
            metrics: vec![
                errors_metric(),
                latency_metric(quantile),
                conversion_metric(),
            ],
        }
    }

    /// Whether more than one metric is watched.
    pub fn is_all(&self) -> bool {
        self.metrics.len() > 1
    }

    /// The watch as the judge reads it.
    pub fn spec(&self) -> WatchSpec {
        let selector = |metric: &str| Selector {
            metric: metric.to_string(),
            matchers: vec![],
        };
        let metrics = self
            .metrics
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let (name, signal) = match m.kind {
                    MetricKind::Errors => (
                        "errors",
                        Signal::Ratio {
                            numerator: selector("http_request_errors_total"),
                            denominator: selector("http_requests_total"),
                        },
                    ),
                    MetricKind::Latency => (
                        "latency",
                        Signal::Latency {
                            histogram: selector("http_request_duration_seconds"),
                            quantile: m.quantile,
                        },
                    ),
                    MetricKind::Conversion => (
                        "conversion",
                        Signal::Ratio {
                            numerator: selector("checkout_completed_total"),
                            denominator: selector("http_requests_total"),
                        },
                    ),
                };
                MetricSpec {
                    name: name.to_string(),
                    signal,
                    direction: m.direction,
                    tolerance: m.tolerance,
                    limit: None,
                    line: i + 1,
                }
            })
            .collect();
        WatchSpec { metrics }
    }

    /// One arm's counts of one tick as the judge's observation (one delta per watched metric).
    pub fn observation(&self, counts: &ArmCounts, at_ms: i64) -> Observation {
        let metrics = self
            .metrics
            .iter()
            .map(|m| match m.kind {
                MetricKind::Errors => MetricDelta::Ratio {
                    events: counts.errors as f64,
                    trials: counts.requests as f64,
                },
                MetricKind::Conversion => MetricDelta::Ratio {
                    events: counts.conversions as f64,
                    trials: counts.requests as f64,
                },
                MetricKind::Latency => histogram_delta(&counts.latency_cells),
            })
            .collect();
        Observation { at_ms, metrics }
    }
}

fn histogram_delta(cells: &[u64; CELLS]) -> MetricDelta {
    let mut running = 0u64;
    let cumulative = cells
        .iter()
        .map(|&c| {
            running += c;
            running as f64
        })
        .collect();
    MetricDelta::Histogram {
        upper_bounds: DEFAULT_BUCKETS.to_vec(),
        cumulative,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observation_follows_spec_order_and_is_cumulative() {
        let watch = Watch::all(0.99);
        let mut counts = ArmCounts {
            requests: 10,
            errors: 1,
            conversions: 2,
            latency_cells: [0; CELLS],
        };
        counts.latency_cells[4] = 6;
        counts.latency_cells[11] = 4;
        let obs = watch.observation(&counts, 5);
        assert_eq!(
            obs.metrics[0],
            MetricDelta::Ratio {
                events: 1.0,
                trials: 10.0
            }
        );
        assert_eq!(
            obs.metrics[2],
            MetricDelta::Ratio {
                events: 2.0,
                trials: 10.0
            }
        );
        let MetricDelta::Histogram {
            cumulative,
            upper_bounds,
        } = &obs.metrics[1]
        else {
            panic!("latency is a histogram")
        };
        assert_eq!(cumulative[3], 0.0);
        assert_eq!(cumulative[4], 6.0);
        assert_eq!(cumulative[11], 10.0);
        assert!(upper_bounds[11].is_infinite());
        assert_eq!(watch.spec().metrics.len(), 3);
    }

    #[test]
    fn tolerance_directions() {
        let conv = conversion_metric();
        assert!(conv.beyond_tolerance(0.09, 0.10));
        assert!(!conv.beyond_tolerance(0.096, 0.10));
        let err = errors_metric();
        assert!(err.beyond_tolerance(0.016, 0.01));
        assert!(!err.beyond_tolerance(0.014, 0.01));
    }
}
