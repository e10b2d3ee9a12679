//! The Prometheus baseline against a real Prometheus server: the test serves a small app whose
//! counters and histogram grow at known rates for two revisions (`pod_template_hash` old and new),
//! starts `/usr/bin/prometheus` on a free loopback port scraping it every second, waits for five
//! seconds of data, and checks that the previous revision's deltas read through PromQL match the
//! rates the app served. Prometheus down or silent gives `Unavailable` with the reason.
//!
//! Skipped, with a message saying so, when no Prometheus binary is installed
//! (`apt-get install -y prometheus`; `RIPCORD_PROMETHEUS` overrides the path). CI sets
//! `RIPCORD_REQUIRE_PROMETHEUS=1` so that a missing binary fails instead of skipping.

mod prometheus_support;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_support::{PrometheusServer, free_port, now_ms, prometheus_binary};
use ripcord_sidecar::baseline::{PrometheusBaseline, PrometheusConfig};
use ripcord_sidecar::spec::{WatchSpec, parse_watch};
use ripcord_sidecar::window::{MetricDelta, Unavailable};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const OLD: &str = "a1b2c3d4";
const NEW: &str = "e5f6a7b8";

/// Per second, for each revision: (ok requests, failed requests, buckets le=0.1, 0.5, +Inf).
const OLD_RATES: Rates = Rates {
    ok: 95.0,
    failed: 5.0,
    buckets: [60.0, 90.0, 100.0],
};
const NEW_RATES: Rates = Rates {
    ok: 30.0,
    failed: 20.0,
    buckets: [10.0, 20.0, 50.0],
};
const BOUNDS: [&str; 3] = ["0.1", "0.5", "+Inf"];

const WATCH: &str = "\
errors: app_requests_total{code=\"500\"} / app_requests_total max +50%
latency: app_request_seconds p99 max +20%
absent: app_missing_total / app_missing_total max +10%
";

/// How much Prometheus' `increase` (extrapolated to the window's edges) may differ from the
/// served rate times the window.
const RELATIVE_TOLERANCE: f64 = 0.03;

struct Rates {
    ok: f64,
    failed: f64,
    buckets: [f64; 3],
}

fn spec() -> WatchSpec {
    parse_watch(WATCH).expect("the spec parses")
}

/// The app's exposition `elapsed` seconds after it started: every counter is its rate times
/// the elapsed time, so it advances between any two scrapes.
fn exposition(elapsed: f64) -> String {
    let mut text = String::from("# TYPE app_requests_total counter\n");
    for (hash, rates) in [(OLD, &OLD_RATES), (NEW, &NEW_RATES)] {
        for (code, rate) in [("200", rates.ok), ("500", rates.failed)] {
            text.push_str(&format!(
                "app_requests_total{{pod_template_hash=\"{hash}\",code=\"{code}\"}} {}\n",
                rate * elapsed
            ));
        }
    }
    text.push_str("# TYPE app_request_seconds histogram\n");
    for (hash, rates) in [(OLD, &OLD_RATES), (NEW, &NEW_RATES)] {
        for (le, rate) in BOUNDS.iter().zip(rates.buckets) {
            text.push_str(&format!(
                "app_request_seconds_bucket{{pod_template_hash=\"{hash}\",le=\"{le}\"}} {}\n",
                rate * elapsed
            ));
        }
        let count = rates.buckets[2] * elapsed;
        text.push_str(&format!(
            "app_request_seconds_sum{{pod_template_hash=\"{hash}\"}} {}\n\
             app_request_seconds_count{{pod_template_hash=\"{hash}\"}} {count}\n",
            count * 0.2
        ));
    }
    text
}

/// Serves [`exposition`] on a free loopback port until the test ends.
async fn serve_app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let started = Instant::now();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |_request| async move {
                let body = exposition(started.elapsed().as_secs_f64());
                let response = Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(Full::new(Bytes::from(body)))
                    .expect("a response");
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    addr
}

fn assert_close(what: &str, got: f64, expected: f64) {
    let error = (got - expected).abs() / expected;
    assert!(
        error <= RELATIVE_TOLERANCE,
        "{what}: got {got}, served {expected} ({:.1} % off)",
        error * 100.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_revision_counts_match_what_the_app_served() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let app = serve_app().await;
    let mut prometheus = PrometheusServer::start(&binary, app);
    // Six scrapes, five seconds, of the previous revision's requests.
    let scraped = format!(
        "count_over_time(app_requests_total{{pod_template_hash=\"{OLD}\",code=\"200\"}}[1m])"
    );
    prometheus.wait_for(&scraped, 6.0).await;

    let baseline = PrometheusBaseline::new(PrometheusConfig::new(&prometheus.url, OLD))
        .expect("a valid config");
    let range = Duration::from_secs(4);
    let window = range.as_secs_f64();
    let observation = baseline.observe(&spec(), now_ms(), range).await;
    assert_eq!(observation.metrics.len(), 3, "{observation:?}");
    eprintln!(
        "previous revision over {range:?}: {:?}",
        observation.metrics
    );

    let MetricDelta::Ratio { events, trials } = observation.metrics[0] else {
        panic!("errors: {:?}\n{}", observation.metrics[0], prometheus.log());
    };
    assert_close("errors events", events, OLD_RATES.failed * window);
    assert_close(
        "errors trials",
        trials,
        (OLD_RATES.ok + OLD_RATES.failed) * window,
    );

    let MetricDelta::Histogram {
        upper_bounds,
        cumulative,
    } = &observation.metrics[1]
    else {
        panic!("latency: {:?}", observation.metrics[1]);
    };
    assert_eq!(upper_bounds, &[0.1, 0.5, f64::INFINITY]);
    for ((bound, got), rate) in upper_bounds.iter().zip(cumulative).zip(OLD_RATES.buckets) {
        assert_close(&format!("bucket le={bound}"), *got, rate * window);
    }

    assert!(
        matches!(&observation.metrics[2], MetricDelta::Unavailable(Unavailable::NoSeries(s)) if s.contains("app_missing_total")),
        "absent: {:?}",
        observation.metrics[2]
    );

    // The new revision's hash reads the new revision's rates: the hash matcher really selects.
    let new = PrometheusBaseline::new(PrometheusConfig::new(&prometheus.url, NEW))
        .expect("a valid config");
    let observation = new.observe(&spec(), now_ms(), range).await;
    let MetricDelta::Ratio { events, trials } = observation.metrics[0] else {
        panic!("errors (new): {:?}", observation.metrics[0]);
    };
    assert_close("new events", events, NEW_RATES.failed * window);
    assert_close(
        "new trials",
        trials,
        (NEW_RATES.ok + NEW_RATES.failed) * window,
    );

    // Prometheus stopped: every metric is unavailable with the reason, nothing panics.
    let url = prometheus.url.clone();
    drop(prometheus);
    let observation = baseline.observe(&spec(), now_ms(), range).await;
    assert_all_unavailable(&observation.metrics, &url, "unreachable");
}

#[tokio::test]
async fn prometheus_down_is_unavailable_with_the_reason() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let baseline = PrometheusBaseline::new(PrometheusConfig::new(&url, OLD)).expect("a config");
    let observation = baseline
        .observe(&spec(), now_ms(), Duration::from_secs(30))
        .await;
    assert_eq!(observation.metrics.len(), 3);
    assert_all_unavailable(&observation.metrics, &url, "unreachable");
}

#[tokio::test]
async fn a_silent_prometheus_is_unavailable_after_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    // Accepts connections and never answers.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let url = format!("http://{addr}");
    let mut config = PrometheusConfig::new(&url, OLD);
    config.timeout = Duration::from_millis(200);
    let baseline = PrometheusBaseline::new(config).expect("a config");
    let started = Instant::now();
    let observation = baseline
        .observe(&spec(), now_ms(), Duration::from_secs(30))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_all_unavailable(&observation.metrics, &url, "did not answer within 200 ms");
    holder.abort();
}

fn assert_all_unavailable(metrics: &[MetricDelta], url: &str, reason: &str) {
    for metric in metrics {
        let MetricDelta::Unavailable(Unavailable::ScrapeFailed(why)) = metric else {
            panic!("expected unavailable, got {metric:?}");
        };
        assert!(why.contains(url) && why.contains(reason), "{why}");
    }
}

#[tokio::test]
async fn a_slow_prometheus_is_asked_every_query_at_once() {
    // Answers every query after 300 ms, counting how many are in flight together.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let in_flight = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (counting, peaked) = (in_flight.clone(), peak.clone());
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (in_flight, peak) = (counting.clone(), peaked.clone());
            let service = service_fn(move |_| {
                let (in_flight, peak) = (in_flight.clone(), peak.clone());
                async move {
                    use std::sync::atomic::Ordering::SeqCst;
                    peak.fetch_max(in_flight.fetch_add(1, SeqCst) + 1, SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    in_flight.fetch_sub(1, SeqCst);
                    let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"12"]}]}}"#;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    let spec = parse_watch(
        "errors: e_total / r_total max +50%\n\
         conversion: c_total / s_total min -5%\n\
         retries: x_total / r_total max +50%\n",
    )
    .expect("a spec");
    let mut config = PrometheusConfig::new(format!("http://{addr}"), OLD);
    config.timeout = Duration::from_millis(800);
    let baseline = PrometheusBaseline::new(config).expect("a config");
    let observation = baseline
        .observe(&spec, now_ms(), Duration::from_secs(30))
        .await;
    for metric in &observation.metrics {
        assert!(matches!(metric, MetricDelta::Ratio { .. }), "{metric:?}");
    }
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(peak, 6, "queries in flight at once");
    server.abort();
}
