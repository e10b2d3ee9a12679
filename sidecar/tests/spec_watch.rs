//! The watch spec through the public API: the annotation from DESIGN.md, and errors as an owner
//! sees them in an Event.

use ripcord_sidecar::spec::{Direction, Signal, parse_watch};

#[test]
fn design_annotation_round_trips_its_selectors() {
    let spec = parse_watch(
        "errors:     http_requests_total{code=~\"5..\"} / http_requests_total   max +50%\n\
         latency:    http_request_duration_seconds                             p99 max +20%\n\
         conversion: checkout_completed_total / checkout_started_total         min -5%\n",
    )
    .expect("the design's example parses");
    let written: Vec<String> = spec
        .metrics
        .iter()
        .map(|m| match &m.signal {
            Signal::Ratio {
                numerator,
                denominator,
            } => format!("{numerator} / {denominator}"),
            Signal::Latency {
                histogram,
                quantile,
            } => format!("{histogram} q{quantile}"),
        })
        .collect();
    assert_eq!(
        written,
        [
            "http_requests_total{code=~\"5..\"} / http_requests_total",
            "http_request_duration_seconds q0.99",
            "checkout_completed_total / checkout_started_total",
        ]
    );
    assert_eq!(spec.metrics[2].direction, Direction::Min);
}

#[test]
fn errors_read_as_line_column_message() {
    let error = parse_watch("errors: a / b max +50%\nlatency: h p99 mx +20%")
        .expect_err("typo must be refused");
    assert_eq!(
        error.to_string(),
        "line 2, column 16: unknown constraint \"mx\"; expected \"max\" or \"min\" (did you mean \"max\"?)"
    );
}
