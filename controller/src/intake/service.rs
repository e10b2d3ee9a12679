//! The intake's routes as a `tower::Service`: `POST /v1/verdicts` takes a sidecar's verdict
//! report after authenticating, authorizing and de-duplicating it, and hands it to the acting
//! part through a bounded channel; `GET /v1/assignment` tells a sidecar its part; `GET
//! /v1/snapshot` hands a canary its release's baseline snapshot.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use ripcord_sidecar::assign::Assignment;
use ripcord_sidecar::report::{MAX_REPORT_BYTES, VerdictReport};
use ripcord_sidecar::verdict::Decision;
use serde_json::json;
use tokio::sync::mpsc;

use super::auth::{self, PodIdentity};
use super::cache::ReviewCache;
use super::directory::{
    AssignmentSource, ReleaseDirectory, ReleaseState, SnapshotSource, authorize, release_name,
};
use super::error::{Error, Result};
use super::lock;
use super::sequences::SequenceBook;
use crate::decode_verdict;
use crate::ops::metrics::{Metrics, VerdictDecision};
use crate::snapshot::SNAPSHOT_PATH;

/// Path of the verdict route.
pub const VERDICTS_PATH: &str = "/v1/verdicts";

/// Path of the assignment route.
pub const ASSIGNMENT_PATH: &str = "/v1/assignment";

/// Longest a client may take to send a report body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// `Retry-After` when the verdict queue is full.
const RETRY_AFTER_SECS: u64 = 1;

/// A verdict the intake accepted, for the acting part.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedVerdict {
    /// The report as the sidecar sent it.
    pub report: VerdictReport,
    /// The pod that sent it, as the TokenReview vouched.
    pub caller: PodIdentity,
    /// When the intake received it (for the verdict-to-action time).
    pub received_at: Instant,
}

/// The intake service; cheap to clone (one per connection).
#[derive(Clone)]
pub struct Intake {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    directory: Arc<dyn ReleaseDirectory>,
    assignments: Arc<dyn AssignmentSource>,
    snapshots: OnceLock<Arc<dyn SnapshotSource>>,
    verdicts: mpsc::Sender<AcceptedVerdict>,
    metrics: Arc<Metrics>,
    sequences: Mutex<SequenceBook>,
    reviews: Mutex<ReviewCache>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake")
            .field("queue_capacity", &self.inner.verdicts.max_capacity())
            .finish_non_exhaustive()
    }
}

impl Intake {
    /// An intake that checks tokens with `client`'s TokenReviews, asks `directory` about pods
    /// and releases and `assignments` about roles, sends accepted verdicts on `verdicts`, and
    /// counts into `metrics`.
    pub fn new(
        client: kube::Client,
        directory: Arc<dyn ReleaseDirectory>,
        assignments: Arc<dyn AssignmentSource>,
        verdicts: mpsc::Sender<AcceptedVerdict>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Intake {
            inner: Arc::new(Inner {
                client,
                directory,
                assignments,
                snapshots: OnceLock::new(),
                verdicts,
                metrics,
                sequences: Mutex::new(SequenceBook::default()),
                reviews: Mutex::new(ReviewCache::default()),
            }),
        }
    }
}

impl Intake {
    /// This intake, serving canaries' baseline snapshots from `snapshots` (without it,
    /// `GET /v1/snapshot` answers 404). Set once: a second source is ignored.
    pub fn with_snapshots(self, snapshots: Arc<dyn SnapshotSource>) -> Self {
        let _ = self.inner.snapshots.set(snapshots);
        self
    }
}

impl<B> tower::Service<Request<B>> for Intake
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { Ok(inner.respond(request).await) })
    }
}

impl Inner {
    async fn respond<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let outcome = match (&method, path.as_str()) {
            (&Method::POST, VERDICTS_PATH) => self.verdict(request).await.map(|sequence| {
                json_response(
                    StatusCode::ACCEPTED,
                    &json!({"accepted": true, "sequence": sequence}),
                )
            }),
            (&Method::GET, ASSIGNMENT_PATH) => self
                .assignment(request.headers())
                .await
                .map(|assignment| json_response(StatusCode::OK, &json!(assignment))),
            (&Method::GET, SNAPSHOT_PATH) => self.snapshot(request.headers()).await.map(|window| {
                let mut response = Response::new(Full::new(window));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                response
            }),
            (_, VERDICTS_PATH | ASSIGNMENT_PATH | SNAPSHOT_PATH) => {
                Err(Error::MethodNotAllowed(method.to_string()))
            }
            _ => Err(Error::NotFound(path.clone())),
        };
        outcome.unwrap_or_else(|error| {
            if path == VERDICTS_PATH
                && let Some(reason) = error.refusal_reason()
            {
                self.metrics.verdict_refused(reason);
            }
            // Unauthenticated noise is for debugging; a refusal of a known pod is worth a line.
            if matches!(
                error.status(),
                StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
            ) {
                tracing::debug!(%method, %path, code = error.code(), "intake refused: {error}");
            } else {
                tracing::info!(%method, %path, code = error.code(), "intake refused: {error}");
            }
            refusal(&error)
        })
    }

    /// Takes one verdict report; returns its sequence number.
    async fn verdict<B>(&self, request: Request<B>) -> Result<u64>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let received_at = Instant::now();
        let (parts, body) = request.into_parts();
        let token = auth::bearer(&parts.headers)?;
        if content_length(&parts.headers).is_some_and(|length| length > MAX_REPORT_BYTES) {
            return Err(Error::TooLarge {
                cap: MAX_REPORT_BYTES,
            });
        }
        let caller = self.authenticate(token).await?;
        let body = read_body(body).await?;
        let report = decode_verdict(&body)?;
        let membership = self.directory.membership(&caller.namespace, &caller.pod);
        authorize(&caller, &report.release, membership.as_ref())?;
        if let ReleaseState::Closed(reason) = self.directory.state(&report.release) {
            return Err(Error::ReleaseClosed {
                release: release_name(&report.release),
                reason,
            });
        }
        let decision = report.verdict.decision;
        let sequence = report.sequence;
        self.enqueue(AcceptedVerdict {
            report,
            caller,
            received_at,
        })?;
        self.metrics.verdict_accepted(match decision {
            Decision::Pass => VerdictDecision::Pass,
            Decision::Fail => VerdictDecision::Fail,
            Decision::Inconclusive => VerdictDecision::Inconclusive,
        });
        Ok(sequence)
    }

    /// Checks the sequence, sends the verdict, and records the sequence, under one lock so two
    /// copies of a report cannot both pass.
    fn enqueue(&self, accepted: AcceptedVerdict) -> Result<()> {
        let pod = accepted.caller.qualified();
        let sequence = accepted.report.sequence;
        let mut book = lock(&self.sequences);
        book.check(&pod, sequence)?;
        self.verdicts
            .try_send(accepted)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => Error::Overloaded {
                    retry_after_secs: RETRY_AFTER_SECS,
                },
                mpsc::error::TrySendError::Closed(_) => Error::Closed,
            })?;
        book.record(&pod, sequence);
        Ok(())
    }

    /// The pod `token` is bound to: from a recent review, else from a new TokenReview.
    async fn authenticate(&self, token: &str) -> Result<PodIdentity> {
        let cached = lock(&self.reviews).get(token, Instant::now());
        if let Some(identity) = cached {
            return Ok(identity);
        }
        let identity = auth::authenticate(&self.client, token).await?;
        lock(&self.reviews).insert(token, identity.clone(), Instant::now());
        Ok(identity)
    }

    async fn assignment(&self, headers: &HeaderMap) -> Result<Assignment> {
        let token = auth::bearer(headers)?;
        let caller = self.authenticate(token).await?;
        Ok(self
            .assignments
            .assignment(&caller.namespace, &caller.pod)
            .unwrap_or_else(Assignment::idle))
    }
}

impl Inner {
    /// The baseline snapshot of the caller's release, when it is a canary whose release kept
    /// one (the assignment says so): a pod reads only its own release's snapshot.
    async fn snapshot(&self, headers: &HeaderMap) -> Result<Bytes> {
        let token = auth::bearer(headers)?;
        let caller = self.authenticate(token).await?;
        let assignment = self
            .assignments
            .assignment(&caller.namespace, &caller.pod)
            .unwrap_or_else(Assignment::idle);
        let none = |why: &str| Error::NoSnapshot(format!("pod {}: {why}", caller.qualified()));
        let Some(source) = self.snapshots.get() else {
            return Err(none("this controller keeps no baseline snapshots"));
        };
        let (Some(check), Some(_)) = (
            assignment.release_check.as_deref(),
            assignment.baseline.snapshot.as_deref(),
        ) else {
            return Err(none(
                "no baseline snapshot is offered to it (not a canary, or its release kept none)",
            ));
        };
        match source.snapshot(&caller.namespace, check).await {
            Ok(Some(window)) => Ok(window),
            Ok(None) => Err(none(&format!(
                "the snapshot of ReleaseCheck {check} is gone"
            ))),
            Err(reason) => Err(Error::SnapshotUnavailable(reason)),
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads at most [`MAX_REPORT_BYTES`] of `body`, within [`BODY_TIMEOUT`].
async fn read_body<B>(body: B) -> Result<Bytes>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_REPORT_BYTES).collect()).await {
        Err(_) => Err(Error::BodyRead(format!("not sent within {BODY_TIMEOUT:?}"))),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Error::TooLarge {
                cap: MAX_REPORT_BYTES,
            })
        }
        Ok(Err(error)) => Err(Error::BodyRead(error.to_string())),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn refusal(error: &Error) -> Response<Full<Bytes>> {
    let mut response = json_response(
        error.status(),
        &json!({"code": error.code(), "message": error.to_string()}),
    );
    if let Some(seconds) = error.retry_after_secs() {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    if error.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    #[tokio::test]
    async fn a_body_without_length_is_cut_at_the_cap() {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = (0..(MAX_REPORT_BYTES / chunk.len()) + 2)
            .map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone())));
        let body = StreamBody::new(stream::iter(chunks));
        let error = read_body(body).await.expect_err("over the cap");
        assert!(matches!(error, Error::TooLarge { .. }), "{error}");
        let small = StreamBody::new(stream::iter([Ok::<_, Infallible>(Frame::data(
            Bytes::from_static(b"{}"),
        ))]));
        assert_eq!(
            read_body(small).await.expect("read"),
            Bytes::from_static(b"{}")
        );
    }
}
