//! Where `prometheus-parse` 0.2.5 (the crate DESIGN.md proposed to start from) goes wrong on our
//! real captures, shown side by side with this crate's parser. Each test asserts prometheus-parse's
//! wrong output, so a fixed upstream release would make it fail and prompt a re-evaluation.
//!
//! Defects shown: samples whose label values hold `}` are silently dropped; values holding `,`
//! are truncated; escapes (`\"`, `\\`, `\n`) are not unescaped; OpenMetrics counters (`_total`
//! under `# TYPE x counter`) come back untyped; OpenMetrics timestamps are replaced by "now";
//! malformed lines are skipped instead of failing the scrape; content after `# EOF` and truncated
//! OpenMetrics are accepted.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};
use ripcord_sidecar::expo::{Limits, MetricType, parse};

fn capture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../testdata/expo/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("capture is readable")
}

fn theirs(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("in-memory lines cannot fail")
}

/// Our samples: (name, labels, value, type).
fn ours(text: &str) -> Vec<(String, BTreeMap<String, String>, f64, MetricType)> {
    let mut out = Vec::new();
    parse(text.as_bytes(), &Limits::default(), |s| {
        let labels = s
            .labels
            .iter()
            .map(|l| (l.name.to_owned(), l.value.to_string()))
            .collect();
        out.push((s.name.to_owned(), labels, s.value, s.metric_type));
    })
    .expect("our parser accepts the input");
    out
}

fn scalar(value: &Value) -> Option<f64> {
    match value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(*v),
        Value::Histogram(_) | Value::Summary(_) => None,
    }
}

/// `path` label of each GET `http_requests_total` sample, keyed by its (unique) value.
fn get_paths_theirs(scrape: &Scrape) -> BTreeMap<u64, String> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == "http_requests_total" && s.labels.get("method") == Some("GET"))
        .map(|s| {
            (
                scalar(&s.value).expect("a counter is a scalar") as u64,
                s.labels.get("path").unwrap_or("<none>").to_owned(),
            )
        })
        .collect()
}

fn get_paths_ours(text: &str) -> BTreeMap<u64, String> {
    ours(text)
        .into_iter()
        .filter(|(name, labels, ..)| name == "http_requests_total" && labels["method"] == "GET")
        .map(|(_, labels, value, _)| (value as u64, labels["path"].clone()))
        .collect()
}

#[test]
fn samples_with_a_brace_in_a_label_value_are_silently_dropped() {
    let text = capture("python-client.prom.txt");
    let our_samples: Vec<_> = ours(&text)
        .into_iter()
        .filter(|s| s.0 == "http_requests_total")
        .collect();
    let with_brace = our_samples
        .iter()
        .filter(|s| s.1["path"].contains('}'))
        .count();
    assert_eq!(with_brace, 4, "the capture has 4 such samples");
    let scrape = theirs(&text);
    let their_count = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "http_requests_total")
        .count();
    assert_eq!(their_count, our_samples.len() - with_brace);
    let queue = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "queue_depth")
        .count();
    assert_eq!(queue, 0, "queue_depth{{queue=\"q}}1\"}} is gone too");
}

#[test]
fn label_values_are_truncated_at_commas_and_left_escaped() {
    let text = capture("python-client.prom.txt");
    let ours = get_paths_ours(&text);
    let theirs = get_paths_theirs(&theirs(&text));
    // GET counts are 100 + the path's index (+1 for /plain), see testdata/expo/producer.py.
    assert_eq!(
        (ours[&102].as_str(), theirs[&102].as_str()),
        ("/comma,separated", "/comma")
    );
    assert_eq!(
        (ours[&103].as_str(), theirs[&103].as_str()),
        ("say \"hi\"", r#"say \"hi\"#)
    );
    assert_eq!(
        (ours[&104].as_str(), theirs[&104].as_str()),
        ("back\\slash", r"back\\slash")
    );
    assert_eq!(
        (ours[&105].as_str(), theirs[&105].as_str()),
        ("two\nlines", r"two\nlines")
    );
    assert_eq!(ours[&107], theirs[&107], "an empty value is right in both");
    let build = theirs_sample(&text, "build_info");
    assert_eq!(
        build.labels.get("commit"),
        Some(r#"abc\"def"#),
        "ours gives abc\"def"
    );
}

fn theirs_sample(text: &str, metric: &str) -> prometheus_parse::Sample {
    theirs(text)
        .samples
        .into_iter()
        .find(|s| s.metric == metric)
        .expect("metric present")
}

#[test]
fn histogram_series_with_a_comma_in_a_label_are_merged_under_a_wrong_label() {
    let text = capture("python-client.prom.txt");
    let routes: Vec<String> = theirs(&text)
        .samples
        .iter()
        .filter(|s| s.metric == "request_latency_seconds" && matches!(s.value, Value::Histogram(_)))
        .map(|s| s.labels.get("route").unwrap().to_owned())
        .collect();
    assert!(routes.contains(&"/search".to_owned()), "{routes:?}");
    assert!(!routes.contains(&"/search,all".to_owned()));
    let our_routes: Vec<String> = ours(&text)
        .into_iter()
        .filter_map(|s| s.1.get("route").cloned())
        .collect();
    assert!(our_routes.contains(&"/search,all".to_owned()));
}

#[test]
fn openmetrics_counters_come_back_untyped() {
    for (file, metric) in [
        ("python-client.om.txt", "http_requests_total"),
        ("node-exporter.om.txt", "node_cpu_seconds_total"),
    ] {
        let text = capture(file);
        let their = theirs_sample(&text, metric);
        assert!(
            matches!(their.value, Value::Untyped(_)),
            "{file}: {:?}",
            their.value
        );
        let our_type = ours(&text).into_iter().find(|s| s.0 == metric).unwrap().3;
        assert_eq!(our_type, MetricType::Counter, "{file}");
    }
}

#[test]
fn openmetrics_timestamps_are_replaced_by_now() {
    let text = "# TYPE up gauge\nup 1 1700000000.5\n# EOF\n";
    let their = theirs_sample(text, "up");
    assert_ne!(their.timestamp.timestamp_millis(), 1_700_000_000_500);
    let mut ours_ts = None;
    parse(text.as_bytes(), &Limits::default(), |s| {
        ours_ts = s.timestamp_ms
    })
    .unwrap();
    assert_eq!(ours_ts, Some(1_700_000_000_500));
}

#[test]
fn broken_input_is_accepted_silently() {
    let cases = [
        ("a malformed value", "up 1\nreq_total 12x\n"),
        ("content after # EOF", "up 1\n# EOF\nup 2\n"),
        (
            "a truncated OpenMetrics scrape",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {t=\"a\"} 0.5\n",
        ),
    ];
    for (what, text) in cases {
        assert!(
            !theirs(text).samples.is_empty(),
            "{what}: prometheus-parse returns a partial scrape"
        );
        let err = parse(text.as_bytes(), &Limits::default(), |_| {}).unwrap_err();
        assert!(
            err.line >= 2,
            "{what}: ours refuses it at line {}: {err}",
            err.line
        );
    }
}
