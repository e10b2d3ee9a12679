//! The verdict intake, served on the controller's HTTPS port through `ops::server::serve`:
//! `POST /v1/verdicts` accepts a sidecar's verdict report only from the pod it speaks for (bound
//! token checked with a TokenReview of audience `ripcord`), only for a pod of the release it
//! names, only once per sequence number, and only while the release is open, then hands it to
//! the acting part through a bounded channel; `GET /v1/assignment` answers the calling pod's
//! [`ripcord_sidecar::assign::Assignment`]; `GET /v1/snapshot` answers a canary the baseline
//! snapshot its release kept (see [`crate::snapshot`]). A successful TokenReview is trusted for 10 s per
//! token, so a sidecar reporting each second costs one review per 10 s.
//!
//! Answers: 202 accepted; 400 malformed; 401 unauthenticated; 403 another pod or release; 409
//! replayed or release closed; 404 no snapshot for the caller; 413 over `MAX_REPORT_BYTES`; 503
//! (with `Retry-After`) when the queue is full or the TokenReview or the snapshot read failed.
//! A refusal changes nothing and sends nothing.

mod auth;
mod cache;
mod directory;
mod error;
mod sequences;
mod service;

pub use auth::{AUDIENCE, PodIdentity};
pub use directory::{
    AssignmentSource, InMemoryDirectory, PodMembership, ReleaseDirectory, ReleaseState,
    SnapshotSource, authorize,
};
pub use error::{Error, Result};
pub use service::{ASSIGNMENT_PATH, AcceptedVerdict, Intake, VERDICTS_PATH};

/// Locks `mutex`, carrying on after a panic elsewhere poisoned it (the data stays consistent:
/// every critical section is a single map operation).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
