//! The parser on real captures (testdata/expo/, made by scripts/capture-expositions.sh): every
//! capture parses, and what comes back agrees with independent facts about it.

use std::collections::BTreeMap;

use ripcord_sidecar::expo::{Format, Limits, MetricType, parse};

/// One sample, owned, for assertions.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    metric_type: MetricType,
}

impl Owned {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

const CAPTURES: [&str; 6] = [
    "prometheus-server.prom.txt",
    "prometheus-server.om.txt",
    "node-exporter.prom.txt",
    "node-exporter.om.txt",
    "python-client.prom.txt",
    "python-client.om.txt",
];

/// Must match TRICKY_PATHS in testdata/expo/producer.py.
const TRICKY_PATHS: [&str; 8] = [
    "/plain",
    "/brace}close",
    "/comma,separated",
    "say \"hi\"",
    "back\\slash",
    "two\nlines",
    "all}of,them\"\\\n",
    "",
];

fn read(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/expo/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_all(name: &str) -> (Vec<Owned>, Format) {
    let mut samples = Vec::new();
    let summary = parse(&read(name), &Limits::default(), |s| {
        samples.push(Owned {
            name: s.name.to_owned(),
            labels: s
                .labels
                .iter()
                .map(|l| (l.name.to_owned(), l.value.to_string()))
                .collect(),
            value: s.value,
            metric_type: s.metric_type,
        });
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(summary.samples, samples.len());
    (samples, summary.format)
}

/// Independent count: lines that are neither blank nor comments.
fn count_sample_lines(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .filter(|line| {
            let line = line.trim_ascii_start();
            !line.is_empty() && !line.starts_with(b"#")
        })
        .count()
}

#[test]
fn every_capture_parses_with_one_sample_per_sample_line() {
    for name in CAPTURES {
        let (samples, format) = parse_all(name);
        let expected = count_sample_lines(&read(name));
        assert!(expected > 20, "{name} looks empty");
        assert_eq!(samples.len(), expected, "{name}");
        let want = if name.ends_with(".om.txt") {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        };
        assert_eq!(format, want, "{name}");
    }
}

#[test]
fn tricky_label_values_come_back_exactly_in_both_formats() {
    for name in ["python-client.prom.txt", "python-client.om.txt"] {
        let (samples, _) = parse_all(name);
        for (i, path) in TRICKY_PATHS.iter().enumerate() {
            let find = |method: &str| {
                samples
                    .iter()
                    .find(|s| {
                        s.name == "http_requests_total"
                            && s.label("path") == Some(path)
                            && s.label("method") == Some(method)
                    })
                    .unwrap_or_else(|| panic!("{name}: no {method} sample for path {path:?}"))
            };
            let extra = if *path == "/plain" { 1.0 } else { 0.0 };
            assert_eq!(
                find("GET").value,
                100.0 + i as f64 + extra,
                "{name} {path:?}"
            );
            assert_eq!(find("POST").value, i as f64, "{name} {path:?}");
            assert_eq!(find("GET").metric_type, MetricType::Counter);
        }
        let queue = samples.iter().find(|s| s.name == "queue_depth").unwrap();
        assert_eq!((queue.label("queue"), queue.value), (Some("q}1"), 7.0));
    }
}

#[test]
fn special_gauge_values_survive() {
    for name in ["python-client.prom.txt", "python-client.om.txt"] {
        let (samples, _) = parse_all(name);
        let value = |metric: &str| samples.iter().find(|s| s.name == metric).unwrap().value;
        assert!(value("temperature_celsius").is_nan(), "{name}");
        assert_eq!(value("capacity_bytes"), f64::INFINITY, "{name}");
        assert_eq!(value("headroom_bytes"), f64::NEG_INFINITY, "{name}");
    }
}

#[test]
fn python_histogram_and_summary_are_complete_and_typed() {
    for name in ["python-client.prom.txt", "python-client.om.txt"] {
        let (samples, _) = parse_all(name);
        let checkout: Vec<&Owned> = samples
            .iter()
            .filter(|s| {
                s.name.starts_with("request_latency_seconds")
                    && !s.name.ends_with("_created")
                    && s.label("route") == Some("/checkout")
            })
            .collect();
        assert!(
            checkout
                .iter()
                .all(|s| s.metric_type == MetricType::Histogram),
            "{name}"
        );
        let buckets: Vec<&&Owned> = checkout
            .iter()
            .filter(|s| s.name == "request_latency_seconds_bucket")
            .collect();
        // prometheus_client's default buckets: 14 finite edges and +Inf.
        assert_eq!(buckets.len(), 15, "{name}");
        assert_eq!(buckets.last().unwrap().label("le"), Some("+Inf"));
        assert_eq!(buckets.last().unwrap().value, 51.0);
        let summary: BTreeMap<&str, f64> = samples
            .iter()
            .filter(|s| s.name.starts_with("payload_bytes") && !s.name.ends_with("_created"))
            .map(|s| {
                assert_eq!(s.metric_type, MetricType::Summary, "{name} {}", s.name);
                (s.name.as_str(), s.value)
            })
            .collect();
        assert_eq!(summary.get("payload_bytes_count"), Some(&20.0), "{name}");
        assert_eq!(
            summary.get("payload_bytes_sum"),
            Some(&(512.0 * 210.0)),
            "{name}"
        );
    }
}

#[test]
fn openmetrics_only_types_and_created_samples() {
    let (samples, _) = parse_all("python-client.om.txt");
    let build = samples.iter().find(|s| s.name == "build_info").unwrap();
    assert_eq!(build.metric_type, MetricType::Info);
    assert_eq!(build.label("commit"), Some("abc\"def"));
    let rolling = samples
        .iter()
        .find(|s| s.name == "deploy_state" && s.label("deploy_state") == Some("rolling"))
        .unwrap();
    assert_eq!(
        (rolling.metric_type, rolling.value),
        (MetricType::StateSet, 1.0)
    );
    let created = samples
        .iter()
        .find(|s| s.name == "http_requests_created")
        .unwrap();
    assert_eq!(created.metric_type, MetricType::Counter);
    assert!(created.value > 1.6e9, "a _created sample is a Unix time");
}

/// A histogram series: base name and labels other than `le`, sorted.
type SeriesKey = (String, Vec<(String, String)>);

/// Checks every histogram in a capture: per series, buckets rise with `le`, end at `+Inf`, and
/// the `+Inf` bucket equals `_count`.
fn check_histograms(name: &str, samples: &[Owned]) -> usize {
    let mut series: BTreeMap<SeriesKey, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.metric_type == MetricType::Histogram)
    {
        let mut key_labels: Vec<_> = s
            .labels
            .iter()
            .filter(|(n, _)| n != "le")
            .cloned()
            .collect();
        key_labels.sort();
        if let Some(base) = s.name.strip_suffix("_bucket") {
            let le: f64 = s
                .label("le")
                .and_then(|le| le.parse().ok())
                .expect("a numeric le");
            series
                .entry((base.to_owned(), key_labels))
                .or_default()
                .push((le, s.value));
        } else if let Some(base) = s.name.strip_suffix("_count") {
            counts.insert((base.to_owned(), key_labels), s.value);
        }
    }
    for (key, buckets) in &series {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{name} {key:?}: {buckets:?}"
        );
        let (last_le, last_count) = *buckets.last().expect("at least one bucket");
        assert_eq!(last_le, f64::INFINITY, "{name} {key:?}");
        assert_eq!(
            Some(&last_count),
            counts.get(key),
            "{name} {key:?}: +Inf bucket != _count"
        );
    }
    series.len()
}

#[test]
fn every_histogram_in_every_capture_is_consistent() {
    for name in CAPTURES {
        let (samples, _) = parse_all(name);
        let histograms = check_histograms(name, &samples);
        // Node exporter 1.5 exposes no histogram; the others do.
        assert_eq!(
            histograms == 0,
            name.starts_with("node-exporter"),
            "{name}: {histograms}"
        );
    }
}

#[test]
fn node_exporter_cpu_counters() {
    for name in ["node-exporter.prom.txt", "node-exporter.om.txt"] {
        let (samples, _) = parse_all(name);
        let cpu: Vec<&Owned> = samples
            .iter()
            .filter(|s| s.name == "node_cpu_seconds_total")
            .collect();
        assert!(cpu.len() >= 8, "{name}: {} cpu samples", cpu.len());
        for s in &cpu {
            assert_eq!(s.metric_type, MetricType::Counter);
            assert!(s.label("cpu").is_some() && s.label("mode").is_some());
            assert!(s.value >= 0.0);
        }
        assert!(cpu.iter().any(|s| s.label("mode") == Some("idle")));
    }
}

/// The Go producers' OpenMetrics captures are their Prometheus-text output re-encoded, so both must
/// parse to the same samples (names, labels, values).
#[test]
fn both_formats_of_a_go_capture_agree() {
    let key = |s: &Owned| {
        let mut labels = s.labels.clone();
        labels.sort();
        (s.name.clone(), labels, s.value.to_bits())
    };
    for base in ["prometheus-server", "node-exporter"] {
        let (text, _) = parse_all(&format!("{base}.prom.txt"));
        let (open, _) = parse_all(&format!("{base}.om.txt"));
        let mut text: Vec<_> = text.iter().map(key).collect();
        let mut open: Vec<_> = open.iter().map(key).collect();
        text.sort();
        open.sort();
        assert_eq!(text, open, "{base}");
    }
}
