//! The operations routes, as a `tower::Service`: `/metrics` (the controller's registry),
//! `/live` (the process answers) and `/ready` (its caches are synced and it can judge requests).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;

use super::metrics::Metrics;

/// Whether the controller is ready to serve: set once its caches have synced.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Marks the controller ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the controller is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The operations routes over the shared metrics and readiness; cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

impl Health {
    /// Routes over `metrics` and `readiness`.
    pub fn new(metrics: Arc<Metrics>, readiness: Readiness) -> Self {
        Health { metrics, readiness }
    }

    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        }
        match path {
            "/live" => text(StatusCode::OK, "ok\n"),
            "/ready" if self.readiness.get() => text(StatusCode::OK, "ready\n"),
            "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet\n"),
            "/metrics" => match self.metrics.encode() {
                Ok(body) => {
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    response.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    response
                }
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "metrics did not encode\n",
                ),
            },
            _ => text(StatusCode::NOT_FOUND, "routes: /live /ready /metrics\n"),
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<B> tower::Service<Request<B>> for Health {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(request.method(), request.uri().path())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(health: &Health, path: &str) -> (StatusCode, String) {
        let request = Request::get(path).body(()).expect("a request");
        let response = health.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("full body");
        (
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        )
    }

    #[tokio::test]
    async fn ready_follows_the_readiness_flag_and_live_always_answers() {
        let readiness = Readiness::default();
        let health = Health::new(Arc::new(Metrics::new()), readiness.clone());
        assert_eq!(get(&health, "/live").await.0, StatusCode::OK);
        assert_eq!(
            get(&health, "/ready").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        readiness.set(true);
        assert_eq!(get(&health, "/ready").await.0, StatusCode::OK);
        assert_eq!(get(&health, "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn metrics_serve_the_registry() {
        let metrics = Arc::new(Metrics::new());
        metrics.set_leader(true);
        let health = Health::new(Arc::clone(&metrics), Readiness::default());
        let (status, body) = get(&health, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("ripcord_controller_leader 1"), "{body}");
    }
}
