//! Reads the JSON envelope of Prometheus' `/api/v1/query` and turns its instant vectors into
//! [`MetricDelta`]s.

use super::{BaselineError, Result};
use crate::window::{MetricDelta, Unavailable};
use serde::Deserialize;
use std::collections::HashMap;

/// How far a bucket may fall below the previous one before the histogram is refused: `increase`
/// extrapolates each bucket on its own, which can leave float-rounding dips.
const DIP_TOLERANCE: f64 = 1e-9;

/// The API's envelope: `{"status": "success", "data": ...}` or `{"status": "error", ...}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

/// One element of an instant vector: its labels and its `[time, "value"]` pair.
#[derive(Debug, Deserialize)]
struct VectorElement {
    metric: HashMap<String, String>,
    value: (f64, String),
}

/// One labelled value of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    /// The element's labels (after `sum by`, only the grouping labels).
    pub labels: HashMap<String, String>,
    /// The element's value.
    pub value: f64,
}

/// Parses the answer to `query` (HTTP `status`, raw `body`) into its instant vector, or the
/// error Prometheus reported.
pub fn parse_vector(query: &str, status: u16, body: &[u8]) -> Result<Vec<Element>> {
    let malformed = |reason: String| BaselineError::Malformed { status, reason };
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if envelope.status != "success" {
        return Err(BaselineError::Api {
            query: query.to_string(),
            error_type: envelope.error_type.unwrap_or_else(|| "unknown".into()),
            message: envelope
                .error
                .unwrap_or_else(|| format!("status {:?} without an error", envelope.status)),
        });
    }
    let unexpected = |reason: String| BaselineError::Unexpected {
        query: query.to_string(),
        reason,
    };
    let data = envelope
        .data
        .ok_or_else(|| unexpected("a success without data".into()))?;
    if data.result_type != "vector" {
        return Err(unexpected(format!(
            "a {} where an instant vector was expected",
            data.result_type
        )));
    }
    let elements: Vec<VectorElement> =
        serde_json::from_value(data.result).map_err(|e| unexpected(e.to_string()))?;
    elements
        .into_iter()
        .map(|element| {
            let value = sample_value(&element.value.1).ok_or_else(|| {
                unexpected(format!("{:?} is not a sample value", element.value.1))
            })?;
            Ok(Element {
                labels: element.metric,
                value,
            })
        })
        .collect()
}

/// A sample value as the API writes it: a decimal, `NaN`, `+Inf` or `-Inf`.
fn sample_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The single value of a `sum(...)`: `None` when no series matched (the vector is empty).
pub fn single_count(query: &str, vector: &[Element]) -> Result<Option<f64>> {
    let unexpected = |reason: String| BaselineError::Unexpected {
        query: query.to_string(),
        reason,
    };
    match vector {
        [] => Ok(None),
        [only] if only.value.is_finite() && only.value >= 0.0 => Ok(Some(only.value)),
        [only] => Err(unexpected(format!("{} is not a count", only.value))),
        more => Err(unexpected(format!(
            "{} elements where a sum gives one",
            more.len()
        ))),
    }
}

/// A ratio's delta from its two sums (`trials_query` names what matched nothing). No trial series is [`Unavailable::NoSeries`]; no event
/// series while trials exist is zero events (an error counter that never fired has no series).
pub fn ratio_delta(trials_query: &str, events: Option<f64>, trials: Option<f64>) -> MetricDelta {
    match trials {
        None => MetricDelta::Unavailable(Unavailable::NoSeries(trials_query.to_string())),
        Some(trials) => MetricDelta::Ratio {
            events: events.unwrap_or(0.0),
            trials,
        },
    }
}

/// A latency's delta from `sum by (le)` of the buckets: sorted by upper bound, ending at `+Inf`,
/// cumulative. An empty vector is [`Unavailable::NoSeries`]; buckets that are not cumulative
/// are [`Unavailable::NonMonotoneHistogram`].
pub fn histogram_delta(query: &str, vector: &[Element]) -> Result<MetricDelta> {
    if vector.is_empty() {
        let why = Unavailable::NoSeries(query.to_string());
        return Ok(MetricDelta::Unavailable(why));
    }
    let unexpected = |reason: String| BaselineError::Unexpected {
        query: query.to_string(),
        reason,
    };
    let mut buckets = Vec::with_capacity(vector.len());
    for element in vector {
        let le = element
            .labels
            .get("le")
            .ok_or_else(|| unexpected("a bucket without an `le` label".into()))?;
        let bound = sample_value(le)
            .filter(|b| !b.is_nan())
            .ok_or_else(|| unexpected(format!("le={le:?} is not an upper bound")))?;
        if !element.value.is_finite() || element.value < 0.0 {
            return Err(unexpected(format!(
                "bucket le={le:?} has count {}",
                element.value
            )));
        }
        buckets.push((bound, element.value));
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        let why = format!("{query}: no +Inf bucket");
        return Ok(MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(
            why,
        )));
    }
    if let Some(pair) = buckets.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(unexpected(format!("le={} appears twice", pair[0].0)));
    }
    let mut cumulative = Vec::with_capacity(buckets.len());
    let mut running: f64 = 0.0;
    for &(bound, count) in &buckets {
        if count < running * (1.0 - DIP_TOLERANCE) {
            let why = format!("{query}: le={bound} counts {count} < {running} below it");
            return Ok(MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(
                why,
            )));
        }
        running = running.max(count);
        cumulative.push(running);
    }
    Ok(MetricDelta::Histogram {
        upper_bounds: buckets.iter().map(|b| b.0).collect(),
        cumulative,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATIO: &str = include_str!("fixtures/ratio_sum.json");
    const HISTOGRAM: &str = include_str!("fixtures/histogram_by_le.json");
    const EMPTY: &str = include_str!("fixtures/empty.json");
    const BAD_QUERY: &str = include_str!("fixtures/bad_query.json");
    const BAD_TIME: &str = include_str!("fixtures/bad_time.json");
    const MATRIX: &str = include_str!("fixtures/matrix.json");

    #[test]
    fn a_captured_sum_reads_as_one_count() {
        let vector = parse_vector("q", 200, RATIO.as_bytes()).expect("a vector");
        assert_eq!(single_count("q", &vector).expect("a sum"), Some(25.0));
    }

    #[test]
    fn an_empty_sum_is_no_series_for_trials_and_zero_for_events() {
        let vector = parse_vector("q", 200, EMPTY.as_bytes()).expect("a vector");
        let none = single_count("q", &vector).expect("an empty sum");
        assert_eq!(none, None);
        assert_eq!(
            ratio_delta("t_total", Some(3.0), none),
            MetricDelta::Unavailable(Unavailable::NoSeries("t_total".into()))
        );
        assert_eq!(
            ratio_delta("t_total", none, Some(40.0)),
            MetricDelta::Ratio {
                events: 0.0,
                trials: 40.0
            }
        );
    }

    #[test]
    fn captured_buckets_are_sorted_by_upper_bound_and_cumulative() {
        let vector = parse_vector("q", 200, HISTOGRAM.as_bytes()).expect("a vector");
        let delta = histogram_delta("q", &vector).expect("a histogram");
        assert_eq!(
            delta,
            MetricDelta::Histogram {
                upper_bounds: vec![0.1, 0.5, f64::INFINITY],
                cumulative: vec![300.0, 450.0, 500.0],
            }
        );
    }

    #[test]
    fn api_errors_keep_their_type_and_message() {
        for (body, status, expected) in [
            (BAD_QUERY, 400, "unexpected character inside braces"),
            (BAD_TIME, 400, "Invalid time value"),
        ] {
            let error = parse_vector("the query", status, body.as_bytes()).expect_err("an error");
            let BaselineError::Api {
                query,
                error_type,
                message,
            } = &error
            else {
                panic!("an API error, got {error:?}");
            };
            assert_eq!(
                (query.as_str(), error_type.as_str()),
                ("the query", "bad_data")
            );
            assert!(message.contains(expected), "{message}");
            assert!(error.to_string().contains("the query"), "{error}");
        }
    }

    #[test]
    fn a_matrix_or_a_non_json_body_is_refused_with_the_reason() {
        let matrix = parse_vector("q", 200, MATRIX.as_bytes()).expect_err("not a vector");
        assert!(matrix.to_string().contains("a matrix"), "{matrix}");
        let html = parse_vector("q", 502, b"<html>Bad Gateway</html>").expect_err("not JSON");
        assert!(
            matches!(html, BaselineError::Malformed { status: 502, .. }),
            "{html:?}"
        );
    }

    #[test]
    fn special_values_parse_and_are_refused_as_counts() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1.5,"NaN"]}]}}"#;
        let vector = parse_vector("q", 200, body.as_bytes()).expect("a vector");
        assert!(vector[0].value.is_nan());
        assert!(single_count("q", &vector).is_err());
        assert_eq!(sample_value("+Inf"), Some(f64::INFINITY));
        assert_eq!(sample_value("12e3"), Some(12e3));
        assert_eq!(sample_value("twelve"), None);
    }

    fn bucket(le: &str, value: f64) -> Element {
        Element {
            labels: HashMap::from([("le".to_string(), le.to_string())]),
            value,
        }
    }

    #[test]
    fn broken_histograms_are_unavailable_or_refused() {
        let no_inf = [bucket("0.1", 1.0), bucket("1", 2.0)];
        let decreasing = [bucket("0.1", 5.0), bucket("+Inf", 2.0)];
        for broken in [&no_inf[..], &decreasing[..]] {
            let delta = histogram_delta("q", broken).expect("a delta");
            assert!(
                matches!(
                    delta,
                    MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(_))
                ),
                "{delta:?}"
            );
        }
        let bad_le = [bucket("fast", 1.0), bucket("+Inf", 2.0)];
        assert!(histogram_delta("q", &bad_le).is_err());
        let twice = [bucket("1", 1.0), bucket("1.0", 1.0), bucket("+Inf", 2.0)];
        assert!(histogram_delta("q", &twice).is_err());
    }
}
