//! The JSON the window route serves, and its conversion back into [`Observation`]s for peers.
//!
//! A window states what each delta counts (`metrics`, see [`MetricDefinition`]), so that a
//! reader matches deltas to its own metrics by definition. Windows from a sidecar older than
//! that field have none; readers then take the deltas by position, and only when as many.
//!
//! Histogram bounds are strings in Prometheus' `le` spelling (`"0.25"`, `"+Inf"`), because JSON
//! numbers cannot hold infinity.

use serde::{Deserialize, Serialize};

use super::definition::MetricDefinition;
use super::{Error, Result};
use crate::window::{MetricDelta, Observation, Unavailable};

/// Version tag carried by every serialised window.
pub const WINDOW_VERSION: &str = "ripcord.dev/window/v1alpha1";

/// A slice of a sidecar's window: the observations taken in `(from_ms, to_ms]`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowJson {
    /// Always [`WINDOW_VERSION`].
    pub version: String,
    /// Observations taken strictly after this time (Unix milliseconds) are included.
    pub from_ms: i64,
    /// Observations taken at or before this time (Unix milliseconds) are included.
    pub to_ms: i64,
    /// Whether more observations were in range than the response holds; ask again from the
    /// last observation's `at_ms` for the rest.
    pub truncated: bool,
    /// The observations, oldest first.
    pub observations: Vec<ObservationJson>,
    /// What each observation's deltas count, one definition per delta in the same order:
    /// readers match deltas to their own metrics by [`MetricDefinition::counts`], not by
    /// position. Absent from a sidecar that predates the field (or watches nothing); its
    /// deltas are then taken by position when the reader watches as many metrics. Optional
    /// and additive: readers that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Vec<MetricDefinition>>,
}

/// A window read back: what its deltas count, when it says, and its observations.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedWindow {
    /// [`WindowJson::metrics`].
    pub metrics: Option<Vec<MetricDefinition>>,
    /// The observations, oldest first.
    pub observations: Vec<Observation>,
}

impl WindowJson {
    /// The window over `(from_ms, to_ms]` holding `observations`.
    pub fn new(from_ms: i64, to_ms: i64, truncated: bool, observations: &[Observation]) -> Self {
        WindowJson {
            version: WINDOW_VERSION.to_owned(),
            from_ms,
            to_ms,
            truncated,
            observations: observations.iter().map(ObservationJson::from).collect(),
            metrics: None,
        }
    }

    /// This window, stating that its deltas count `metrics` (one per delta, in order).
    pub fn with_metrics(mut self, metrics: Option<Vec<MetricDefinition>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A window answer read back into observations: JSON of this version, at most
    /// [`super::MAX_WINDOW_OBSERVATIONS`] of them, each well-formed; else why not.
    pub fn decode(body: &[u8]) -> std::result::Result<Vec<Observation>, String> {
        Self::decode_window(body).map(|window| window.observations)
    }

    /// [`WindowJson::decode`], keeping what the deltas count when the window says.
    pub fn decode_window(body: &[u8]) -> std::result::Result<DecodedWindow, String> {
        let window: WindowJson =
            serde_json::from_slice(body).map_err(|e| format!("not a window: {e}"))?;
        if window.version != WINDOW_VERSION {
            return Err(format!("window version {:?}", window.version));
        }
        let cap = super::MAX_WINDOW_OBSERVATIONS;
        if window.observations.len() > cap {
            return Err(format!(
                "{} observations, more than {cap}",
                window.observations.len()
            ));
        }
        let observations = window
            .observations
            .into_iter()
            .map(|o| o.into_observation().map_err(|e| e.to_string()))
            .collect::<std::result::Result<_, _>>()?;
        Ok(DecodedWindow {
            metrics: window.metrics,
            observations,
        })
    }
}

/// One [`Observation`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationJson {
    /// When the scrape was taken, in Unix milliseconds.
    pub at_ms: i64,
    /// One delta per watched metric, in spec order.
    pub metrics: Vec<DeltaJson>,
}

/// One [`MetricDelta`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeltaJson {
    /// A ratio metric's increases.
    Ratio {
        /// Numerator increase.
        events: f64,
        /// Denominator increase.
        trials: f64,
    },
    /// A histogram's cumulative bucket increases.
    Histogram {
        /// Bucket upper bounds in `le` spelling, ascending, the last `"+Inf"`.
        le: Vec<String>,
        /// Cumulative count increase at each bound.
        cumulative: Vec<f64>,
    },
    /// No trustworthy delta.
    Unavailable {
        /// `first_scrape`, `scrape_failed`, `no_series`, `counter_reset`,
        /// `non_monotone_histogram` or `spec_differs` (only in a canary's own baseline, never
        /// in a served window).
        reason: String,
        /// What the reason is about (the error, the selector, the series); empty for
        /// `first_scrape`.
        #[serde(default)]
        detail: String,
    },
}

impl From<&Observation> for ObservationJson {
    fn from(observation: &Observation) -> Self {
        ObservationJson {
            at_ms: observation.at_ms,
            metrics: observation.metrics.iter().map(DeltaJson::from).collect(),
        }
    }
}

impl ObservationJson {
    /// Converts back into an [`Observation`], refusing malformed deltas.
    pub fn into_observation(self) -> Result<Observation> {
        let at_ms = self.at_ms;
        let metrics = self
            .metrics
            .into_iter()
            .enumerate()
            .map(|(index, delta)| delta.into_delta(at_ms, index))
            .collect::<Result<Vec<_>>>()?;
        Ok(Observation { at_ms, metrics })
    }
}

impl From<&MetricDelta> for DeltaJson {
    fn from(delta: &MetricDelta) -> Self {
        match delta {
            MetricDelta::Ratio { events, trials } => DeltaJson::Ratio {
                events: *events,
                trials: *trials,
            },
            MetricDelta::Histogram {
                upper_bounds,
                cumulative,
            } => DeltaJson::Histogram {
                le: upper_bounds.iter().map(|b| format_le(*b)).collect(),
                cumulative: cumulative.clone(),
            },
            MetricDelta::Unavailable(reason) => {
                let (reason, detail) = unavailable_parts(reason);
                DeltaJson::Unavailable {
                    reason: reason.to_owned(),
                    detail,
                }
            }
        }
    }
}

impl DeltaJson {
    fn into_delta(self, at_ms: i64, index: usize) -> Result<MetricDelta> {
        let invalid = |message: String| Error::InvalidObservation {
            at_ms,
            index,
            message,
        };
        match self {
            DeltaJson::Ratio { events, trials } => Ok(MetricDelta::Ratio { events, trials }),
            DeltaJson::Histogram { le, cumulative } => {
                if le.len() != cumulative.len() {
                    return Err(invalid(format!(
                        "{} bucket bounds but {} cumulative counts",
                        le.len(),
                        cumulative.len()
                    )));
                }
                let upper_bounds = le
                    .iter()
                    .map(|bound| {
                        parse_le(bound).ok_or_else(|| invalid(format!("bad le {bound:?}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(MetricDelta::Histogram {
                    upper_bounds,
                    cumulative,
                })
            }
            DeltaJson::Unavailable { reason, detail } => unavailable_from(&reason, detail)
                .map(MetricDelta::Unavailable)
                .ok_or_else(|| invalid(format!("unknown unavailable reason {reason:?}"))),
        }
    }
}

fn unavailable_parts(reason: &Unavailable) -> (&'static str, String) {
    match reason {
        Unavailable::FirstScrape => ("first_scrape", String::new()),
        Unavailable::ScrapeFailed(detail) => ("scrape_failed", detail.clone()),
        Unavailable::NoSeries(detail) => ("no_series", detail.clone()),
        Unavailable::CounterReset(detail) => ("counter_reset", detail.clone()),
        Unavailable::NonMonotoneHistogram(detail) => ("non_monotone_histogram", detail.clone()),
        Unavailable::SpecDiffers(detail) => ("spec_differs", detail.clone()),
    }
}

fn unavailable_from(reason: &str, detail: String) -> Option<Unavailable> {
    Some(match reason {
        "first_scrape" => Unavailable::FirstScrape,
        "scrape_failed" => Unavailable::ScrapeFailed(detail),
        "no_series" => Unavailable::NoSeries(detail),
        "counter_reset" => Unavailable::CounterReset(detail),
        "non_monotone_histogram" => Unavailable::NonMonotoneHistogram(detail),
        "spec_differs" => Unavailable::SpecDiffers(detail),
        _ => return None,
    })
}

fn format_le(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_owned()
    } else if bound == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        bound.to_string()
    }
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|b| b.is_finite()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(delta: MetricDelta) -> MetricDelta {
        let observation = Observation {
            at_ms: 7,
            metrics: vec![delta],
        };
        let text = serde_json::to_string(&ObservationJson::from(&observation)).unwrap();
        let back: ObservationJson = serde_json::from_str(&text).unwrap();
        back.into_observation().unwrap().metrics.remove(0)
    }

    #[test]
    fn every_delta_kind_survives_json() {
        let deltas = [
            MetricDelta::Ratio {
                events: 3.0,
                trials: 1e9 + 0.5,
            },
            MetricDelta::Histogram {
                upper_bounds: vec![0.005, 0.1, 2.5, f64::INFINITY],
                cumulative: vec![1.0, 4.0, 9.0, 10.0],
            },
            MetricDelta::Unavailable(Unavailable::FirstScrape),
            MetricDelta::Unavailable(Unavailable::ScrapeFailed("timeout".into())),
            MetricDelta::Unavailable(Unavailable::NoSeries("x_total".into())),
            MetricDelta::Unavailable(Unavailable::CounterReset("x_total{a=\"b\"}".into())),
            MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram("h".into())),
            MetricDelta::Unavailable(Unavailable::SpecDiffers("errors".into())),
        ];
        for delta in deltas {
            assert_eq!(roundtrip(delta.clone()), delta);
        }
    }

    #[test]
    fn a_window_states_what_it_counts_and_one_without_is_still_read() {
        let spec = crate::spec::parse_watch("errors: e_total / r_total max +50%").unwrap();
        let metrics = Some(MetricDefinition::of_spec(&spec));
        let observations = [Observation {
            at_ms: 7,
            metrics: vec![MetricDelta::Ratio {
                events: 1.0,
                trials: 2.0,
            }],
        }];
        let stated = WindowJson::new(0, 7, false, &observations).with_metrics(metrics.clone());
        let text = serde_json::to_vec(&stated).unwrap();
        let decoded = WindowJson::decode_window(&text).unwrap();
        assert_eq!(decoded.metrics, metrics);
        assert_eq!(decoded.observations, observations);
        let older = serde_json::to_string(&WindowJson::new(0, 7, false, &observations)).unwrap();
        assert!(
            !older.contains("metrics\":null"),
            "absent, not null: {older}"
        );
        let decoded = WindowJson::decode_window(older.as_bytes()).unwrap();
        assert_eq!(
            (decoded.metrics, decoded.observations),
            (None, observations.to_vec())
        );
    }

    #[test]
    fn malformed_deltas_are_refused_with_their_place() {
        let bad = [
            r#"{"at_ms":5,"metrics":[{"kind":"ratio","events":1,"trials":2},{"kind":"histogram","le":["1","+Inf"],"cumulative":[1]}]}"#,
            r#"{"at_ms":5,"metrics":[{"kind":"ratio","events":1,"trials":2},{"kind":"histogram","le":["one"],"cumulative":[1]}]}"#,
            r#"{"at_ms":5,"metrics":[{"kind":"ratio","events":1,"trials":2},{"kind":"unavailable","reason":"bored"}]}"#,
        ];
        for text in bad {
            let parsed: ObservationJson = serde_json::from_str(text).unwrap();
            let err = parsed.into_observation().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidObservation {
                        at_ms: 5,
                        index: 1,
                        ..
                    }
                ),
                "{err}"
            );
        }
    }
}
