//! Why the intake refused a request, with the HTTP status and metric label of each refusal.

use http::StatusCode;

use crate::IntakeError;
use crate::ops::metrics::RefusalReason;

/// A refused intake request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `Authorization: Bearer` header, or an unusable one.
    #[error(
        "no usable bearer token: send `Authorization: Bearer <projected token of audience ripcord>`"
    )]
    MissingToken,
    /// The API server did not authenticate the token for the intake's audience.
    #[error("the token was not authenticated for audience {audience:?}: {reason}")]
    Unauthenticated {
        /// The audience asked for.
        audience: String,
        /// What the TokenReview said.
        reason: String,
    },
    /// The token is valid but bound to no pod (not a projected pod token).
    #[error(
        "the token of {username} is bound to no pod; only a sidecar's projected token may report"
    )]
    NotPodBound {
        /// The authenticated user.
        username: String,
    },
    /// The token's pod is not the pod the report speaks for.
    #[error("pod {token} may not report for pod {claimed}")]
    OtherPod {
        /// `namespace/pod` of the token.
        token: String,
        /// `namespace/pod` the report names.
        claimed: String,
    },
    /// The pod is not (or not yet known to be) part of the release the report names.
    #[error("pod {pod} is not part of release {release}: {why}")]
    NotInRelease {
        /// `namespace/pod`.
        pod: String,
        /// `namespace/deployment@revision` the report names.
        release: String,
        /// What the controller's caches say instead.
        why: String,
    },
    /// The body is larger than the cap; it was not read further.
    #[error("report body is over the {cap} bytes allowed")]
    TooLarge {
        /// The cap, `MAX_REPORT_BYTES`.
        cap: usize,
    },
    /// The body could not be read (client gone, timed out).
    #[error("report body could not be read: {0}")]
    BodyRead(String),
    /// The body is not a verdict report of a known version.
    #[error("{0}")]
    Malformed(#[source] IntakeError),
    /// The sequence number is not after the last one accepted from this pod.
    #[error(
        "sequence {sequence} from pod {pod} is not after {last}, the last accepted; a report is taken once"
    )]
    Replayed {
        /// `namespace/pod`.
        pod: String,
        /// The report's sequence.
        sequence: u64,
        /// The last accepted sequence from this pod.
        last: u64,
    },
    /// The release was already acted on (rolled back, flag flipped, finished).
    #[error("release {release} takes no more verdicts: {reason}")]
    ReleaseClosed {
        /// `namespace/deployment@revision`.
        release: String,
        /// Why, as the directory says.
        reason: String,
    },
    /// The acting part's queue is full; the sidecar should retry shortly.
    #[error("the controller's verdict queue is full; retry after {retry_after_secs} s")]
    Overloaded {
        /// Seconds to wait, sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// The acting part stopped taking verdicts (the controller is shutting down).
    #[error("the controller is not taking verdicts now (shutting down); retry another replica")]
    Closed,
    /// The TokenReview could not be made; retry later.
    #[error("cannot check the token now (TokenReview failed: {0}); retry later")]
    ReviewUnavailable(String),
    /// The caller has no baseline snapshot to read: it is no canary, or its release kept none.
    #[error("{0}")]
    NoSnapshot(String),
    /// The snapshot could not be read from the API server now; retry later.
    #[error("cannot read the baseline snapshot now ({0}); retry later")]
    SnapshotUnavailable(String),
    /// No such route.
    #[error(
        "no route {0}; the intake serves POST /v1/verdicts, GET /v1/assignment and GET /v1/snapshot"
    )]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method {0} not allowed here")]
    MethodNotAllowed(String),
}

/// Result alias of the intake.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<IntakeError> for Error {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::TooLarge { cap, .. } => Error::TooLarge { cap },
            other => Error::Malformed(other),
        }
    }
}

impl Error {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::MissingToken | Error::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Error::NotPodBound { .. } | Error::OtherPod { .. } | Error::NotInRelease { .. } => {
                StatusCode::FORBIDDEN
            }
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BodyRead(_) | Error::Malformed(_) => StatusCode::BAD_REQUEST,
            Error::Replayed { .. } | Error::ReleaseClosed { .. } => StatusCode::CONFLICT,
            Error::Overloaded { .. }
            | Error::Closed
            | Error::ReviewUnavailable(_)
            | Error::SnapshotUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::NotFound(_) | Error::NoSnapshot(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// A short machine-readable code for the answer's body.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingToken | Error::Unauthenticated { .. } => "unauthenticated",
            Error::NotPodBound { .. } => "not_pod_bound",
            Error::OtherPod { .. } => "other_pod",
            Error::NotInRelease { .. } => "not_in_release",
            Error::TooLarge { .. } => "too_large",
            Error::BodyRead(_) => "body_unreadable",
            Error::Malformed(_) => "malformed",
            Error::Replayed { .. } => "replayed",
            Error::ReleaseClosed { .. } => "release_closed",
            Error::Overloaded { .. } => "overloaded",
            Error::Closed => "closed",
            Error::ReviewUnavailable(_) => "review_unavailable",
            Error::NoSnapshot(_) => "no_snapshot",
            Error::SnapshotUnavailable(_) => "snapshot_unavailable",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
        }
    }

    /// The refusal metric label; `None` for failures that are not the caller's doing or not a
    /// verdict's (routing, a failed TokenReview, shutdown).
    pub fn refusal_reason(&self) -> Option<RefusalReason> {
        match self {
            Error::MissingToken | Error::Unauthenticated { .. } => {
                Some(RefusalReason::Unauthenticated)
            }
            Error::NotPodBound { .. } | Error::OtherPod { .. } | Error::NotInRelease { .. } => {
                Some(RefusalReason::Forbidden)
            }
            Error::TooLarge { .. } => Some(RefusalReason::TooLarge),
            Error::BodyRead(_) | Error::Malformed(_) => Some(RefusalReason::Malformed),
            Error::Replayed { .. } | Error::ReleaseClosed { .. } => Some(RefusalReason::Replayed),
            Error::Overloaded { .. } => Some(RefusalReason::Overloaded),
            Error::Closed
            | Error::ReviewUnavailable(_)
            | Error::NoSnapshot(_)
            | Error::SnapshotUnavailable(_)
            | Error::NotFound(_)
            | Error::MethodNotAllowed(_) => None,
        }
    }

    /// Seconds the caller should wait before retrying, sent as `Retry-After`.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Error::Overloaded { retry_after_secs } => Some(*retry_after_secs),
            Error::ReviewUnavailable(_) | Error::Closed => Some(1),
            Error::SnapshotUnavailable(_) => Some(5),
            _ => None,
        }
    }
}
