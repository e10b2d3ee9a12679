//! A synthetic app: a busy HTTP service's exposition (request counters by method, route and code,
//! a latency histogram with the default buckets per route, checkout counters, backend-call
//! counters and pool gauges), padded to an exact series count, whose counters advance each second.

use std::fmt::Write;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{FootprintError, Result};

const ROUTES: [&str; 10] = [
    "/",
    "/login",
    "/search",
    "/item",
    "/cart",
    "/checkout",
    "/api/v1/orders",
    "/api/v1/users",
    "/api/v1/stock",
    "/static",
];
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [&str; 5] = ["200", "304", "404", "500", "503"];
/// Share of requests per code, in per mille (sums to 1000).
const CODE_PER_MILLE: [u64; 5] = [930, 40, 20, 7, 3];
const PAYMENTS: [&str; 3] = ["card", "paypal", "invoice"];
/// The Prometheus clients' default histogram buckets (`+Inf` is added when rendering).
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Requests per second per (method, route).
const REQUESTS_PER_S: u64 = 40;

#[derive(Debug)]
struct Counter {
    labels: String,
    value: u64,
    rate: u64,
}

#[derive(Debug)]
struct Gauge {
    labels: String,
    value: f64,
}

#[derive(Debug)]
struct Histogram {
    labels: String,
    /// Observations per bucket (not cumulative), the last one beyond the largest bound.
    per_bucket: [u64; BUCKETS.len() + 1],
    sum: f64,
}

/// The app's metrics and their current values.
#[derive(Debug)]
pub struct SyntheticApp {
    requests: Vec<Counter>,
    latency: Vec<Histogram>,
    checkout_started: Vec<Counter>,
    checkout_completed: Vec<Counter>,
    backend_calls: Vec<Counter>,
    pool_connections: Vec<Gauge>,
    rng: StdRng,
}

impl SyntheticApp {
    /// An app exposing `series` series (at least the watched families' 386), seeded by `seed`.
    pub fn new(series: usize, seed: u64) -> Self {
        let mut app = SyntheticApp {
            requests: request_counters(),
            latency: histograms(),
            checkout_started: payment_counters(20),
            checkout_completed: payment_counters(18),
            backend_calls: Vec::new(),
            pool_connections: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
        };
        let filler = series.saturating_sub(app.series());
        app.backend_calls = (0..filler / 2)
            .map(|i| Counter {
                labels: format!("backend=\"b{}\",endpoint=\"e{}\"", i / 50, i % 50),
                value: 0,
                rate: 1 + (i % 7) as u64,
            })
            .collect();
        app.pool_connections = (0..filler - filler / 2)
            .map(|i| Gauge {
                labels: format!("pool=\"p{}\",state=\"s{}\"", i / 20, i % 20),
                value: 10.0,
            })
            .collect();
        app
    }

    /// Number of series the exposition holds.
    pub fn series(&self) -> usize {
        self.requests.len()
            + self.latency.len() * (BUCKETS.len() + 3)
            + self.checkout_started.len()
            + self.checkout_completed.len()
            + self.backend_calls.len()
            + self.pool_connections.len()
    }

    /// One second of traffic: every counter and histogram advances, gauges wander.
    pub fn advance(&mut self) {
        let rng = &mut self.rng;
        let counters = self
            .requests
            .iter_mut()
            .chain(&mut self.checkout_started)
            .chain(&mut self.checkout_completed)
            .chain(&mut self.backend_calls);
        for counter in counters {
            counter.value += rng.random_range(0..=2 * counter.rate);
        }
        for histogram in &mut self.latency {
            for _ in 0..rng.random_range(0..=2 * REQUESTS_PER_S) {
                let seconds = -0.06 * (1.0 - rng.random::<f64>()).ln();
                let bucket = BUCKETS.iter().take_while(|&&b| seconds > b).count();
                histogram.per_bucket[bucket] += 1;
                histogram.sum += seconds;
            }
        }
        for gauge in &mut self.pool_connections {
            gauge.value = (gauge.value + rng.random_range(-1.0..=1.0)).max(0.0);
        }
    }

    /// The exposition in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.series() * 96);
        family(
            &mut out,
            "http_requests_total",
            "counter",
            "Requests served.",
        );
        counters(&mut out, "http_requests_total", &self.requests);
        family(
            &mut out,
            "http_request_duration_seconds",
            "histogram",
            "Request latency.",
        );
        for histogram in &self.latency {
            render_histogram(&mut out, histogram);
        }
        family(
            &mut out,
            "checkout_started_total",
            "counter",
            "Checkouts begun.",
        );
        counters(&mut out, "checkout_started_total", &self.checkout_started);
        family(
            &mut out,
            "checkout_completed_total",
            "counter",
            "Checkouts paid.",
        );
        counters(
            &mut out,
            "checkout_completed_total",
            &self.checkout_completed,
        );
        family(
            &mut out,
            "app_backend_calls_total",
            "counter",
            "Backend calls.",
        );
        counters(&mut out, "app_backend_calls_total", &self.backend_calls);
        family(
            &mut out,
            "app_pool_connections",
            "gauge",
            "Pooled connections.",
        );
        for gauge in &self.pool_connections {
            let _ = writeln!(
                out,
                "app_pool_connections{{{}}} {}",
                gauge.labels, gauge.value
            );
        }
        out
    }
}

fn request_counters() -> Vec<Counter> {
    let mut out = Vec::new();
    for route in ROUTES {
        for method in METHODS {
            for (code, per_mille) in CODES.iter().zip(CODE_PER_MILLE) {
                out.push(Counter {
                    labels: format!("method=\"{method}\",route=\"{route}\",code=\"{code}\""),
                    value: 0,
                    rate: (REQUESTS_PER_S * per_mille).div_ceil(1000),
                });
            }
        }
    }
    out
}

fn histograms() -> Vec<Histogram> {
    let mut out = Vec::new();
    for route in ROUTES {
        for method in METHODS {
            out.push(Histogram {
                labels: format!("method=\"{method}\",route=\"{route}\""),
                per_bucket: [0; BUCKETS.len() + 1],
                sum: 0.0,
            });
        }
    }
    out
}

fn payment_counters(rate: u64) -> Vec<Counter> {
    PAYMENTS
        .iter()
        .map(|payment| Counter {
            labels: format!("payment=\"{payment}\""),
            value: 0,
            rate,
        })
        .collect()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counters(out: &mut String, name: &str, series: &[Counter]) {
    for counter in series {
        let _ = writeln!(out, "{name}{{{}}} {}", counter.labels, counter.value);
    }
}

fn render_histogram(out: &mut String, histogram: &Histogram) {
    let name = "http_request_duration_seconds";
    let labels = &histogram.labels;
    let mut cumulative = 0;
    let bounds = BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".into()]);
    for (bound, count) in bounds.zip(histogram.per_bucket) {
        cumulative += count;
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", histogram.sum);
    let _ = writeln!(out, "{name}_count{{{labels}}} {cumulative}");
}

/// Serves `app`'s exposition on `listener` at any path, advancing it every second, until the
/// listener fails.
pub async fn serve_app(listener: TcpListener, mut app: SyntheticApp) -> Result<()> {
    let (publish, current) = watch::channel(Bytes::from(app.render()));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticks.tick().await;
            app.advance();
            if publish.send(Bytes::from(app.render())).is_err() {
                return;
            }
        }
    });
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|source| FootprintError::Io {
                context: "accepting a scrape",
                source,
            })?;
        let current = current.clone();
        let service = service_fn(move |_: Request<hyper::body::Incoming>| {
            let body = current.borrow().clone();
            async move {
                Response::builder()
                    .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                    .body(Full::new(body))
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expo::{Limits, parse};

    fn samples(text: &str) -> usize {
        parse(text.as_bytes(), &Limits::default(), |_| {})
            .unwrap()
            .samples
    }

    #[test]
    fn the_exposition_holds_exactly_the_asked_series_and_parses() {
        for series in [1_000, 10_000, 10_001] {
            let mut app = SyntheticApp::new(series, 7);
            app.advance();
            assert_eq!(app.series(), series);
            assert_eq!(samples(&app.render()), series);
        }
    }

    #[test]
    fn counters_advance_and_histograms_stay_cumulative() {
        let mut app = SyntheticApp::new(2_000, 7);
        let before = app.render();
        app.advance();
        app.advance();
        let after = app.render();
        assert_ne!(before, after);
        let value = |text: &str, prefix: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(prefix)).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let first = "http_requests_total{method=\"GET\",route=\"/\",code=\"200\"}";
        assert!(value(&after, first) > value(&before, first));
        let bucket = |le: &str| {
            let prefix = format!(
                "http_request_duration_seconds_bucket{{method=\"GET\",route=\"/\",le=\"{le}\"}}"
            );
            value(&after, &prefix)
        };
        assert!(bucket("0.005") <= bucket("0.1") && bucket("0.1") <= bucket("+Inf"));
        assert!(bucket("+Inf") > 0.0);
    }
}
