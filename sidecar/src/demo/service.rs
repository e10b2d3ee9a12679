//! The demo's built-in service: `GET /checkout` simulates one checkout (status, latency and
//! conversion drawn from a seeded generator) and `GET /metrics` exposes the Prometheus text the
//! watch spec reads. The handler records the drawn latency instead of sleeping it, so the demo
//! is fast and deterministic while the sidecar sees exactly what a real service would export.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal};
use tokio::net::TcpListener;

/// Prometheus client libraries' default histogram buckets, in seconds.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a version of the service behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Share of requests answered 500.
    pub error_rate: f64,
    /// Median latency, in seconds (log-normal).
    pub median_s: f64,
    /// Spread of the log-latency.
    pub sigma: f64,
    /// Share of checkouts completed.
    pub conversion: f64,
}

/// v1, the healthy version.
pub const HEALTHY: Behaviour = Behaviour {
    error_rate: 0.01,
    median_s: 0.050,
    sigma: 0.6,
    conversion: 0.30,
};

/// v2, the regressed version: errors 1 % → 6 %, median latency × 1.5, conversion 30 % → 20 %.
pub const REGRESSED: Behaviour = Behaviour {
    error_rate: 0.06,
    median_s: 0.075,
    sigma: 0.6,
    conversion: 0.20,
};

/// The counters one service keeps.
#[derive(Debug)]
struct Counters {
    ok: u64,
    errors: u64,
    buckets: [u64; DEFAULT_BUCKETS.len()],
    count: u64,
    sum: f64,
    started: u64,
    completed: u64,
    rng: StdRng,
}

/// One simulated service version.
#[derive(Debug)]
pub struct Service {
    behaviour: Behaviour,
    latency: LogNormal<f64>,
    counters: Mutex<Counters>,
}

impl Service {
    /// A service behaving as `behaviour`, drawing from a generator seeded with `seed`.
    pub fn new(behaviour: Behaviour, seed: u64) -> Result<Service, rand_distr::NormalError> {
        Ok(Service {
            behaviour,
            latency: LogNormal::new(behaviour.median_s.ln(), behaviour.sigma)?,
            counters: Mutex::new(Counters {
                ok: 0,
                errors: 0,
                buckets: [0; DEFAULT_BUCKETS.len()],
                count: 0,
                sum: 0.0,
                started: 0,
                completed: 0,
                rng: StdRng::seed_from_u64(seed),
            }),
        })
    }

    /// Handles one checkout; returns whether it succeeded.
    pub fn checkout(&self) -> bool {
        let Ok(mut c) = self.counters.lock() else {
            return false;
        };
        let failed = c.rng.random::<f64>() < self.behaviour.error_rate;
        let latency = self.latency.sample(&mut c.rng);
        let completed = c.rng.random::<f64>() < self.behaviour.conversion;
        if failed {
            c.errors += 1;
        } else {
            c.ok += 1;
        }
        for (bucket, bound) in c.buckets.iter_mut().zip(DEFAULT_BUCKETS) {
            *bucket += u64::from(latency <= bound);
        }
        c.count += 1;
        c.sum += latency;
        c.started += 1;
        c.completed += u64::from(completed);
        !failed
    }

    /// The Prometheus text exposition of the counters.
    pub fn exposition(&self) -> String {
        let Ok(c) = self.counters.lock() else {
            return String::new();
        };
        let mut text = String::with_capacity(2048);
        let _ = writeln!(text, "# TYPE http_requests_total counter");
        let _ = writeln!(text, "http_requests_total{{code=\"200\"}} {}", c.ok);
        let _ = writeln!(text, "http_requests_total{{code=\"500\"}} {}", c.errors);
        let _ = writeln!(text, "# TYPE http_request_duration_seconds histogram");
        for (bound, count) in DEFAULT_BUCKETS.iter().zip(c.buckets) {
            let _ = writeln!(
                text,
                "http_request_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            text,
            "http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            c.count
        );
        let _ = writeln!(text, "http_request_duration_seconds_sum {}", c.sum);
        let _ = writeln!(text, "http_request_duration_seconds_count {}", c.count);
        let _ = writeln!(text, "# TYPE checkout_started_total counter");
        let _ = writeln!(text, "checkout_started_total {}", c.started);
        let _ = writeln!(text, "# TYPE checkout_completed_total counter");
        let _ = writeln!(text, "checkout_completed_total {}", c.completed);
        text
    }

    fn respond(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, body) = match path {
            "/metrics" => (StatusCode::OK, self.exposition()),
            "/checkout" if self.checkout() => (StatusCode::OK, "ok\n".to_string()),
            "/checkout" => (StatusCode::INTERNAL_SERVER_ERROR, "failed\n".to_string()),
            _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        response
    }
}

/// Serves `service` on an ephemeral loopback port; returns the address. The server runs until
/// the runtime stops.
pub async fn start(service: Arc<Service>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, service));
    Ok(addr)
}

/// Serves `service` on `listener` until the runtime stops.
pub async fn serve(listener: TcpListener, service: Arc<Service>) {
    while let Ok((stream, _)) = listener.accept().await {
        let service = Arc::clone(&service);
        let handler = service_fn(move |request: Request<hyper::body::Incoming>| {
            let response = service.respond(request.uri().path());
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), handler)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(line_start))
            .and_then(|rest| rest.trim().parse().ok())
            .expect("line present")
    }

    #[test]
    fn the_regressed_version_shows_its_regression_in_the_counters() {
        let healthy = Service::new(HEALTHY, 1).expect("healthy");
        let regressed = Service::new(REGRESSED, 2).expect("regressed");
        for _ in 0..20_000 {
            healthy.checkout();
            regressed.checkout();
        }
        let rate = |s: &Service, num: &str, den: &str| {
            let text = s.exposition();
            total(&text, num) / total(&text, den)
        };
        let errors = |s: &Service| {
            let text = s.exposition();
            let bad = total(&text, "http_requests_total{code=\"500\"}");
            bad / (bad + total(&text, "http_requests_total{code=\"200\"}"))
        };
        assert!((errors(&healthy) - 0.01).abs() < 0.003);
        assert!((errors(&regressed) - 0.06).abs() < 0.006);
        let conversion =
            |s: &Service| rate(s, "checkout_completed_total", "checkout_started_total");
        assert!((conversion(&healthy) - 0.30).abs() < 0.015);
        assert!((conversion(&regressed) - 0.20).abs() < 0.015);
        let under_50ms = |s: &Service| {
            rate(
                s,
                "http_request_duration_seconds_bucket{le=\"0.05\"}",
                "http_request_duration_seconds_count",
            )
        };
        assert!(
            (under_50ms(&healthy) - 0.5).abs() < 0.02,
            "median of v1 is 50 ms"
        );
        assert!(under_50ms(&regressed) < 0.3, "median of v2 is 75 ms");
    }

    #[test]
    fn the_exposition_parses() {
        let service = Service::new(HEALTHY, 3).expect("service");
        service.checkout();
        let text = service.exposition();
        let mut names = 0;
        crate::expo::parse(text.as_bytes(), &crate::expo::Limits::default(), |_| {
            names += 1
        })
        .expect("parses");
        assert_eq!(names, 2 + 12 + 2 + 2);
    }
}
