use proptest::prelude::*;

use super::*;
use crate::selector::MatchOp;

const DESIGN_EXAMPLE: &str = r#"
errors:     http_requests_total{code=~"5.."} / http_requests_total   max +50%
latency:    http_request_duration_seconds                             p99 max +20%
conversion: checkout_completed_total / checkout_started_total         min -5%
"#;

/// Parses `text` expecting an error and returns (line, column, message).
fn err(text: &str) -> (usize, usize, String) {
    match parse_watch(text) {
        Ok(spec) => panic!("{text:?} parsed: {spec:?}"),
        Err(e) => (e.line, e.column, e.message),
    }
}

#[test]
fn design_example_parses() {
    let spec = parse_watch(DESIGN_EXAMPLE).unwrap();
    let names: Vec<_> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["errors", "latency", "conversion"]);
    let errors = &spec.metrics[0];
    assert_eq!(
        (errors.direction, errors.tolerance, errors.line),
        (Direction::Max, 0.5, 2)
    );
    let Signal::Ratio {
        numerator,
        denominator,
    } = &errors.signal
    else {
        panic!("errors is not a ratio: {errors:?}")
    };
    assert_eq!(numerator.metric, "http_requests_total");
    assert_eq!(numerator.matchers[0].op, MatchOp::RegexMatch);
    assert_eq!(numerator.matchers[0].value, "5..");
    assert_eq!(denominator.to_string(), "http_requests_total");
    let latency = &spec.metrics[1];
    assert_eq!(
        (latency.direction, latency.tolerance),
        (Direction::Max, 0.2)
    );
    let Signal::Latency {
        histogram,
        quantile,
    } = &latency.signal
    else {
        panic!("latency is not a latency: {latency:?}")
    };
    assert_eq!(histogram.metric, "http_request_duration_seconds");
    assert_eq!(*quantile, 0.99);
    let conversion = &spec.metrics[2];
    assert_eq!(
        (conversion.direction, conversion.tolerance),
        (Direction::Min, 0.05)
    );
}

#[test]
fn comments_blank_lines_crlf_and_unsigned_tolerance() {
    let text = "# watched\r\n\r\n  slow: h{route=\"/a\"} p99.9 max 25.5%  # tail\r\n";
    let spec = parse_watch(text).unwrap();
    assert_eq!(spec.metrics.len(), 1);
    let m = &spec.metrics[0];
    assert_eq!((m.line, m.tolerance), (3, 0.255));
    let Signal::Latency { quantile, .. } = m.signal else {
        panic!("{m:?}")
    };
    assert_eq!(quantile, 0.999);
}

#[test]
fn quantiles_map_to_fractions() {
    for (written, expected) in [
        ("p50", 0.5),
        ("p90", 0.9),
        ("p95", 0.95),
        ("p5", 0.05),
        ("p99.99", 0.9999),
    ] {
        let spec = parse_watch(&format!("l: h {written} max +10%")).unwrap();
        let Signal::Latency { quantile, .. } = spec.metrics[0].signal else {
            panic!()
        };
        assert_eq!(quantile, expected, "{written}");
    }
}

#[test]
fn unknown_constraint_names_its_column_with_a_hint() {
    let (line, column, message) = err("a: x / y max +1%\nerrors: x / y mx +50%");
    assert_eq!((line, column), (2, 15));
    assert_eq!(
        message,
        "unknown constraint \"mx\"; expected \"max\" or \"min\" (did you mean \"max\"?)"
    );
    let (_, column, message) = err("a: x / y maximum +1%");
    assert_eq!(column, 10);
    assert!(!message.contains("did you mean"), "{message}");
}

#[test]
fn display_has_line_and_column() {
    let error = parse_watch("errors: x / y mx +50%").unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("line 1, column 15: unknown constraint \"mx\""),
        "{error}"
    );
}

#[test]
fn missing_colon() {
    let (line, column, message) = err("errors http_requests_total / x max +5%");
    assert_eq!((line, column), (1, 8));
    assert!(
        message.contains("expected \":\" after the metric name \"errors\""),
        "{message}"
    );
}

#[test]
fn sign_against_direction() {
    let (_, column, message) = err("e: x / y max -5%");
    assert_eq!(column, 14);
    assert!(
        message.contains("\"max\" takes a \"+\" tolerance"),
        "{message}"
    );
    let (_, column, message) = err("c: x / y min +5%");
    assert_eq!(column, 14);
    assert!(
        message.contains("\"min\" takes a \"-\" tolerance"),
        "{message}"
    );
}

#[test]
fn tolerance_out_of_range() {
    let (_, column, message) = err("c: x / y min -100%");
    assert_eq!(column, 15);
    assert!(message.contains("out of range"), "{message}");
    let (_, column, _) = err("e: x / y max +1000.5%");
    assert_eq!(column, 15);
    let (_, column, _) = err("e: x / y max +99999999999999999999%");
    assert_eq!(column, 15);
    assert!(parse_watch("e: x / y max +0%").is_ok());
    // A drop of more than 90 % leaves the judge no room to tell "worse" from "gone".
    let (_, column, message) = err("c: x / y min -99.8%");
    assert_eq!(column, 15);
    assert!(message.contains("-90%"), "{message}");
    assert!(parse_watch("c: x / y min -90%").is_ok());
}

#[test]
fn percent_sign_missing_or_number_missing() {
    let (_, column, message) = err("e: x / y max +50");
    assert_eq!(column, 17);
    assert!(message.contains("missing \"%\""), "{message}");
    let (_, column, message) = err("e: x / y max +%");
    assert_eq!(column, 15);
    assert!(message.contains("expected a tolerance"), "{message}");
    let (_, column, _) = err("e: x / y max +5.%");
    assert_eq!(column, 15);
}

#[test]
fn missing_constraint() {
    let (_, column, message) = err("e: x / y   # no constraint");
    assert_eq!(column, 12);
    assert!(message.contains("missing constraint"), "{message}");
}

#[test]
fn duplicate_names() {
    let (line, column, message) = err("e: x / y max +5%\n\n  e: z / y max +5%");
    assert_eq!((line, column), (3, 3));
    assert!(
        message.contains("duplicate metric name \"e\" (first defined on line 1)"),
        "{message}"
    );
}

#[test]
fn empty_spec() {
    for text in ["", "\n  \n", "# only a comment\n"] {
        let (line, column, message) = err(text);
        assert_eq!((line, column), (1, 1));
        assert!(message.starts_with("empty watch spec"), "{message}");
    }
}

#[test]
fn bad_quantiles() {
    let (_, column, message) = err("l: h p999 max +5%");
    assert_eq!(column, 6);
    assert!(message.contains("write \"p99.9\""), "{message}");
    let (_, column, message) = err("l: h P99 max +5%");
    assert_eq!(column, 6);
    assert!(message.contains("lower-case, \"p99\""), "{message}");
    let (_, _, message) = err("l: h p0 max +5%");
    assert!(message.contains("above 0"), "{message}");
    let (_, _, message) = err("l: h p9x max +5%");
    assert!(message.contains("bad quantile \"p9x\""), "{message}");
    let (_, _, message) = err("l: h p99. max +5%");
    assert!(message.contains("bad quantile"), "{message}");
}

#[test]
fn bad_selector_points_inside_the_selector() {
    let (_, column, message) = err("e: x{code=~\"5..\" foo=\"b\"} / y max +5%");
    assert_eq!(column, 18);
    assert!(
        message.starts_with("bad a selector") || message.contains("selector"),
        "{message}"
    );
    let (_, column, message) = err("e: x{code=~\"(5\"} / y max +5%");
    assert_eq!(column, 12);
    assert!(message.contains("bad regular expression"), "{message}");
    let (_, column, message) = err("e: x / {a=\"b\"} max +5%");
    assert_eq!(column, 8);
    assert!(message.contains("denominator"), "{message}");
    let (_, column, message) = err("é: x / y max +5%");
    assert_eq!(column, 1);
    assert!(message.contains("metric name"), "{message}");
    let (_, column, _) = err("éé: x{a=\"é\" b} / y max +5%");
    assert_eq!(column, 1);
    let (_, column, _) = err("e: x{a=\"é\" b} / y max +5%");
    assert_eq!(column, 12, "columns count characters, not bytes");
}

#[test]
fn quantile_on_a_ratio_and_ratio_without_denominator() {
    let (_, column, message) = err("latency: a / b p99 max +20%");
    assert_eq!(column, 16);
    assert!(
        message.contains("a quantile applies to one histogram"),
        "{message}"
    );
    let (_, column, message) = err("errors: a max +20%");
    assert_eq!(column, 11);
    assert!(message.contains("expected \"/\""), "{message}");
    let (_, column, message) = err("latency: h_bucket p99 max +20%");
    assert_eq!(column, 10);
    assert!(message.contains("without \"_bucket\""), "{message}");
}

#[test]
fn trailing_garbage() {
    let (_, column, message) = err("e: x / y max +5% now");
    assert_eq!(column, 18);
    assert!(
        message.contains("unexpected \"now\" after the constraint"),
        "{message}"
    );
    let (_, column, _) = err("e: x / y max +5%%");
    assert_eq!(column, 17);
}

#[test]
fn size_caps() {
    let line = "e: x / y max +5%\n";
    let padded = format!("{line}{}", "#".repeat(MAX_SPEC_BYTES));
    let (line_no, column, message) = err(&padded);
    assert_eq!((line_no, column), (1, 1));
    assert!(message.contains("at most 16384"), "{message}");
    let many: String = (0..=MAX_METRICS)
        .map(|i| format!("m{i}: x / y max +5%\n"))
        .collect();
    let (line_no, _, message) = err(&many);
    assert_eq!(line_no, MAX_METRICS + 1);
    assert!(message.contains("too many metrics"), "{message}");
    let exactly: String = (0..MAX_METRICS)
        .map(|i| format!("m{i}: x / y max +5%\n"))
        .collect();
    assert_eq!(parse_watch(&exactly).unwrap().metrics.len(), MAX_METRICS);
    let long_name = format!("{}: x / y max +5%", "n".repeat(MAX_NAME_BYTES + 1));
    assert!(err(&long_name).2.contains("at most 64"));
}

#[test]
fn absolute_limits_parse_for_ratios_and_latency() {
    let spec = parse_watch(
        "errors: x / y  max +50%  limit 2%\n\
         latency: h p99 max +20% limit 500ms  # at most half a second\n\
         conversion: a / b min -5% limit 3.5%\n\
         slow: h p50 max +10% limit 1.5s\n\
         fast: h p90 max 10% limit 250us\n\
         raw: h p90 max 10% limit 0.25\n\
         plain: x / y max +50%",
    )
    .unwrap();
    let limits: Vec<_> = spec.metrics.iter().map(|m| m.limit).collect();
    assert_eq!(
        limits,
        [
            Some(0.02),
            Some(0.5),
            Some(0.035),
            Some(1.5),
            Some(0.00025),
            Some(0.25),
            None
        ]
    );
    assert_eq!(spec.metrics[0].tolerance, 0.5);
    assert_eq!(spec.metrics[2].direction, Direction::Min);
}

#[test]
fn bad_limits_name_their_column() {
    let (line, column, message) = err("e: x / y max +5%\ne: x / y max +5% limit 2");
    assert_eq!((line, column), (2, 25), "where the % is missing");
    assert!(message.contains("percentage: write 2%"), "{message}");
    let (_, column, message) = err("e: x / y max +5% limit 100%");
    assert_eq!(column, 24);
    assert!(message.contains("strictly between"), "{message}");
    let (_, column, _) = err("e: x / y max +5% limit 0%");
    assert_eq!(column, 24);
    let (_, column, message) = err("e: x / y max +5% limit");
    assert_eq!(column, 23);
    assert!(message.contains("limit 2%"), "{message}");
    let (_, column, message) = err("l: h p99 max +5% limit 5m");
    assert_eq!(column, 25);
    assert!(message.contains("unknown duration unit \"m\""), "{message}");
    let (_, column, message) = err("l: h p99 min -5% limit 5ms");
    assert_eq!(column, 18);
    assert!(message.contains("use it with \"max\""), "{message}");
    let (_, column, message) = err("l: h p99 max +5% limit 0ms");
    assert_eq!(column, 24);
    assert!(message.contains("above zero"), "{message}");
    let (_, column, message) = err("e: x / y max +5% limit 2% 3%");
    assert_eq!(column, 27);
    assert!(message.contains("after the limit"), "{message}");
    let (_, column, message) = err("e: x / y max +5% limits 2%");
    assert_eq!(column, 18);
    assert!(message.contains("written e.g. \"limit 2%\""), "{message}");
}

fn spec_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("errors".to_owned()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
        Just("/".to_owned()),
        Just("x{a=~\"5.\"}".to_owned()),
        Just("p99".to_owned()),
        Just("p".to_owned()),
        Just("max".to_owned()),
        Just("min".to_owned()),
        Just("+".to_owned()),
        Just("-".to_owned()),
        Just("50".to_owned()),
        Just(".".to_owned()),
        Just("%".to_owned()),
        Just("limit".to_owned()),
        Just("ms".to_owned()),
        Just("\n".to_owned()),
        Just("#".to_owned()),
        "\\PC{0,3}",
    ];
    proptest::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse_watch(&text);
    }

    #[test]
    fn spec_like_text_never_panics_and_errors_point_inside(text in spec_like()) {
        if let Err(e) = parse_watch(&text) {
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(e.line >= 1 && e.line <= lines.len().max(1), "{e}");
            let width = lines.get(e.line - 1).map_or(0, |l| l.chars().count());
            prop_assert!(e.column >= 1 && e.column <= width + 1, "{e} in {text:?}");
        }
    }
}
