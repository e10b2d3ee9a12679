//! Parse benchmark: this crate's streaming parser against `prometheus-parse` on the real captures
//! in testdata/expo/ and on a generated 10,000-series exposition.
//!
//! Run: `cargo bench -p ripcord-sidecar --bench parse`. Prints, per input, the median time of one
//! full parse and the throughput in MB/s (10^6 bytes per second) for both parsers.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ripcord_sidecar::expo::{Limits, parse};

/// Time budget per (input, parser) pair.
const BUDGET: Duration = Duration::from_millis(600);

fn main() {
    let mut inputs: Vec<(String, String)> = [
        "prometheus-server.prom.txt",
        "prometheus-server.om.txt",
        "node-exporter.prom.txt",
        "node-exporter.om.txt",
        "python-client.prom.txt",
        "python-client.om.txt",
    ]
    .iter()
    .map(|name| {
        let path = format!("{}/../testdata/expo/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        ((*name).to_owned(), text)
    })
    .collect();
    inputs.push(("generated 10,000 series".to_owned(), generated(10_000)));

    println!(
        "{:<28} {:>9} {:>8} | {:>10} {:>8} | {:>10} {:>8} | {:>6}",
        "input", "bytes", "samples", "ours µs", "MB/s", "p-parse µs", "MB/s", "speedup"
    );
    for (name, text) in &inputs {
        let samples = ours(text);
        let ours_median = median_time(|| ours(text));
        let theirs_median = median_time(|| theirs(text));
        println!(
            "{:<28} {:>9} {:>8} | {:>10.1} {:>8.0} | {:>10.1} {:>8.0} | {:>5.1}x",
            name,
            text.len(),
            samples,
            micros(ours_median),
            mb_per_s(text.len(), ours_median),
            micros(theirs_median),
            mb_per_s(text.len(), theirs_median),
            theirs_median.as_secs_f64() / ours_median.as_secs_f64(),
        );
    }
}

/// Parses with this crate, touching every sample; returns the sample count.
fn ours(text: &str) -> usize {
    let mut count = 0usize;
    let mut sum = 0.0;
    let result = parse(text.as_bytes(), &Limits::default(), |s| {
        count += 1;
        sum += s.value + s.labels.len() as f64;
    });
    black_box(sum);
    result
        .map(|summary| summary.samples)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Parses with prometheus-parse (its API takes owned lines).
fn theirs(text: &str) -> usize {
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())));
    black_box(scrape.map(|s| s.samples.len()).unwrap_or_default())
}

/// Median wall time of `f` over as many runs as fit the budget (at least 11).
fn median_time(mut f: impl FnMut() -> usize) -> Duration {
    let mut times = Vec::new();
    let started = Instant::now();
    while times.len() < 11 || started.elapsed() < BUDGET {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// A Prometheus-text exposition of `series` series: counters by route and code, and latency
/// histograms, the shape of a busy HTTP service.
fn generated(series: usize) -> String {
    let mut out = String::new();
    out.push_str("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
    let counters = series / 2;
    for i in 0..counters {
        out.push_str(&format!(
            "http_requests_total{{method=\"GET\",route=\"/api/v1/items/{}\",code=\"{}\"}} {}\n",
            i / 4,
            [200, 404, 500, 503][i % 4],
            i * 7
        ));
    }
    out.push_str("# HELP http_latency_seconds Latency.\n# TYPE http_latency_seconds histogram\n");
    let edges = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
    ];
    let mut written = counters;
    let mut route = 0;
    while written < series {
        for (k, le) in edges.iter().enumerate() {
            out.push_str(&format!(
                "http_latency_seconds_bucket{{route=\"/api/v1/items/{route}\",le=\"{le}\"}} {}\n",
                route * 3 + k
            ));
        }
        out.push_str(&format!(
            "http_latency_seconds_sum{{route=\"/api/v1/items/{route}\"}} {}.25\n",
            route
        ));
        out.push_str(&format!(
            "http_latency_seconds_count{{route=\"/api/v1/items/{route}\"}} {}\n",
            route * 3 + 9
        ));
        written += edges.len() + 2;
        route += 1;
    }
    out
}
