//! The sidecar's HTTP surface, as a `tower::Service` over a shared [`State`].
//!
//! | route                          | answers                                                     |
//! |--------------------------------|-------------------------------------------------------------|
//! | `GET /live`                    | 200 always                                                  |
//! | `GET /ready`                   | 200 once a scrape succeeded, else 503 with the reason       |
//! | `GET /metrics`                 | the sidecar's own metrics, OpenMetrics text                 |
//! | `GET /v1/window?from=&to=`     | observations in `(from, to]` (Unix ms) as [`WindowJson`]    |
//! | `GET /v1/verdict`              | the latest [`Verdict`](crate::verdict::Verdict), 503 before |
//! | `GET`/`PUT /admin/log-level`   | the log filter; loopback peers only ([`PeerAddr`]), else 403 |
//!
//! Unknown paths give 404, other methods 405 with `Allow`; request bodies are capped at
//! [`MAX_BODY_BYTES`] and window responses at [`MAX_WINDOW_OBSERVATIONS`] observations.
//! [`Server`] runs the routes on hyper with graceful shutdown.

mod admin;
mod bind;
mod definition;
mod metrics;
mod query;
mod response;
mod routes;
mod state;
mod wire;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

pub use admin::{LogLevelControl, PeerAddr, StoredLogLevel};
pub use bind::Server;
pub use definition::{MetricDefinition, align};
pub use metrics::{Metrics, ScrapeErrorKind, ScrapeResult};
pub use state::{Readiness, State};
pub use wire::{DecodedWindow, DeltaJson, ObservationJson, WINDOW_VERSION, WindowJson};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 1024;

/// Most observations one window response holds (an hour of one-second scrapes).
pub const MAX_WINDOW_OBSERVATIONS: usize = 3600;

/// What can go wrong in the HTTP surface.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query parameter is missing or malformed.
    #[error("query parameter `{param}`: {message}")]
    BadQuery {
        /// The parameter's name.
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A window observation read back from JSON is malformed.
    #[error("observation at {at_ms} ms, metric #{index}: {message}")]
    InvalidObservation {
        /// The observation's time.
        at_ms: i64,
        /// The metric's position in the observation.
        index: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Result of the HTTP surface's fallible steps.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The response body every route answers with.
pub type Body = Full<Bytes>;

/// The error type request bodies may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The sidecar's HTTP routes over a shared [`State`]; cheap to clone (one per connection).
#[derive(Debug, Clone)]
pub struct Router {
    state: Arc<State>,
}

impl Router {
    /// Routes requests to `state`.
    pub fn new(state: Arc<State>) -> Self {
        Router { state }
    }
}

impl<B> tower::Service<Request<B>> for Router
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let state = Arc::clone(&self.state);
        Box::pin(async move { Ok(routes::route(&state, request).await) })
    }
}
