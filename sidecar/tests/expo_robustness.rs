//! Robustness bars for the exposition parser: no panic on any input, exact round trips of nasty
//! label values, and every cap refusing oversized input with an error that names it.
//!
//! Property tests stand in for a cargo-fuzz target: arbitrary bytes, mutated real captures, and
//! generated series rendered in both text formats.

use proptest::prelude::*;
use ripcord_sidecar::expo::{Format, Limits, ParseErrorKind, parse};

fn capture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/../testdata/expo/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("capture is readable")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut seen = 0;
        let result = parse(&bytes, &Limits::default(), |_| seen += 1);
        if let Ok(summary) = result {
            prop_assert_eq!(summary.samples, seen);
        }
    }

    #[test]
    fn text_like_bytes_never_panic(text in r#"[a-z_{}=",\\# \n.0-9+eEIfNa\t-]{0,300}"#) {
        let _ = parse(text.as_bytes(), &Limits::default(), |_| {});
        let with_eof = format!("{text}\n# EOF\n");
        let _ = parse(with_eof.as_bytes(), &Limits::default(), |_| {});
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Real captures with a few bytes replaced, inserted or deleted: deep paths, no panic.
    #[test]
    fn mutated_captures_never_panic(
        file in prop::sample::select(vec!["python-client.om.txt", "python-client.prom.txt", "prometheus-server.prom.txt"]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut bytes = capture(file);
        for (at, byte, op) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        let _ = parse(&bytes, &Limits::default(), |_| {});
    }
}

/// One generated series.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
}

fn label_value() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just('}'),
            Just('{'),
            Just(','),
            Just('"'),
            Just('\\'),
            Just('\n'),
            Just('='),
            Just(' '),
            Just('#'),
            Just('é'),
            Just('世'),
            Just('🦀'),
            Just('n'),
            prop::char::range('a', 'z'),
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn series() -> impl Strategy<Value = Series> {
    let labels = prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,8}", label_value(), 0..6);
    let value = prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        (-1e6..1e6f64),
    ];
    let timestamp = prop::option::of(0..4_000_000_000_000i64);
    ("[a-zA-Z_:][a-zA-Z0-9_:]{0,16}", labels, value, timestamp).prop_map(
        |(name, labels, value, timestamp_ms)| Series {
            name,
            labels: labels.into_iter().collect(),
            value,
            timestamp_ms,
        },
    )
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_value(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".to_owned(),
        v if v == f64::INFINITY => "+Inf".to_owned(),
        v if v == f64::NEG_INFINITY => "-Inf".to_owned(),
        v => format!("{v:?}"),
    }
}

fn render(all: &[Series], format: Format) -> String {
    let mut out = String::new();
    for s in all {
        out.push_str(&s.name);
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(n, v)| format!("{n}=\"{}\"", escape(v)))
            .collect();
        out.push_str(&format!(
            "{{{}}} {}",
            labels.join(","),
            render_value(s.value)
        ));
        match (s.timestamp_ms, format) {
            (Some(ms), Format::Prometheus) => out.push_str(&format!(" {ms}")),
            (Some(ms), Format::OpenMetrics) => {
                out.push_str(&format!(" {}.{:03}", ms / 1000, ms % 1000))
            }
            (None, _) => {}
        }
        out.push('\n');
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn rendered_series_round_trip_exactly(
        all in prop::collection::vec(series(), 0..20),
        openmetrics in any::<bool>(),
    ) {
        let format = if openmetrics { Format::OpenMetrics } else { Format::Prometheus };
        let text = render(&all, format);
        let mut got = Vec::new();
        let summary = parse(text.as_bytes(), &Limits::default(), |s| {
            got.push(Series {
                name: s.name.to_owned(),
                labels: s.labels.iter().map(|l| (l.name.to_owned(), l.value.to_string())).collect(),
                value: s.value,
                timestamp_ms: s.timestamp_ms,
            });
        });
        let summary = summary.map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(summary.format, format);
        prop_assert_eq!(got.len(), all.len());
        for (want, got) in all.iter().zip(&got) {
            prop_assert_eq!(&want.name, &got.name);
            prop_assert_eq!(&want.labels, &got.labels);
            prop_assert!(want.value.to_bits() == got.value.to_bits() || (want.value.is_nan() && got.value.is_nan()));
            prop_assert_eq!(want.timestamp_ms, got.timestamp_ms);
        }
    }
}

#[test]
fn a_100_mb_exposition_is_refused_before_any_parsing() {
    let line = b"http_requests_total{code=\"200\",path=\"/a\"} 1\n";
    let big: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(100 * 1024 * 1024)
        .collect();
    let mut visited = 0;
    let err = parse(&big, &Limits::default(), |_| visited += 1).unwrap_err();
    assert_eq!(
        visited, 0,
        "nothing is parsed once the size is known to be over the cap"
    );
    assert_eq!(
        err.kind,
        ParseErrorKind::InputTooLarge {
            size: 100 * 1024 * 1024,
            limit: 32 * 1024 * 1024
        }
    );
    assert_eq!(
        err.to_string(),
        "exposition is 104857600 bytes, over the max_bytes cap of 33554432 bytes"
    );
}

#[test]
fn a_million_series_are_refused_by_max_samples() {
    let mut text = String::with_capacity(20 * 1_000_000);
    text.push_str("# TYPE requests counter\n");
    for i in 0..1_000_000 {
        text.push_str(&format!("requests{{p=\"{i}\"}} 1\n"));
    }
    let limits = Limits::default();
    assert!(
        text.len() < limits.max_bytes,
        "the cap hit must be max_samples, not max_bytes"
    );
    let mut visited = 0;
    let err = parse(text.as_bytes(), &limits, |_| visited += 1).unwrap_err();
    assert_eq!(visited, limits.max_samples);
    assert_eq!(err.kind, ParseErrorKind::TooManySamples { limit: 500_000 });
    assert_eq!(
        err.line, 500_002,
        "the TYPE line, then 500,000 accepted samples"
    );
    assert_eq!(
        err.to_string(),
        "line 500002, column 1: more than 500000 samples, over the max_samples cap"
    );
}

#[test]
fn an_over_long_line_is_refused_at_the_cap() {
    let limits = Limits {
        max_line_bytes: 1024,
        ..Limits::default()
    };
    let ok = format!("up{{a=\"{}\"}} 1\n", "x".repeat(1000));
    assert!(parse(ok.as_bytes(), &limits, |_| {}).is_ok());
    let long = format!("up 1\nup{{a=\"{}\"}} 1\n", "x".repeat(2000));
    let err = parse(long.as_bytes(), &limits, |_| {}).unwrap_err();
    assert_eq!((err.line, err.column), (2, 1025));
    assert_eq!(
        err.to_string(),
        "line 2, column 1025: line is longer than the max_line_bytes cap of 1024 bytes"
    );
}

#[test]
fn a_single_huge_line_is_refused_without_scanning_it_all() {
    let limits = Limits {
        max_bytes: 200 * 1024 * 1024,
        ..Limits::default()
    };
    let huge = vec![b'a'; 100 * 1024 * 1024];
    let err = parse(&huge, &limits, |_| {}).unwrap_err();
    // The search for the line's end stops at the cap, so the error comes at once.
    assert_eq!(err.kind, ParseErrorKind::LineTooLong { limit: 64 * 1024 });
    assert_eq!((err.line, err.column), (1, 64 * 1024 + 1));
}

#[test]
fn too_many_labels_names_the_cap() {
    let labels: Vec<String> = (0..65).map(|i| format!("l{i}=\"v\"")).collect();
    let text = format!("m{{{}}} 1\n", labels.join(","));
    let err = parse(text.as_bytes(), &Limits::default(), |_| {}).unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TooManyLabels { limit: 64 });
    assert!(err.to_string().contains("max_labels"));
}
