//! Verdict reporting: the versioned envelope the sidecar POSTs to the controller, and the
//! background [`Reporter`] that delivers it without ever blocking the scrape loop.
//!
//! The wire format is defined here once; the controller decodes it with the same types.
//! A report is the JSON of a [`VerdictReport`]:
//!
//! ```json
//! {
//!   "version": "ripcord.dev/report/v1alpha1",
//!   "release": {"namespace": "shop", "deployment": "checkout", "revision": "7", "pod": "checkout-7-abc"},
//!   "sequence": 42,
//!   "verdict": { "version": "ripcord.dev/verdict/v1alpha1", "decision": "fail", "...": "..." }
//! }
//! ```
//!
//! `sequence` increases with every verdict a sidecar offers (some may be skipped when a newer
//! verdict replaced an unsent one) and starts from the Unix time in milliseconds, so it keeps
//! increasing across a sidecar restart; a retried report keeps its number. Thus the controller can drop a replayed or reordered report by
//! remembering the highest sequence per pod. Fields are only ever added within a version.

mod error;
mod post;
mod reporter;

pub use error::{ReportError, Result};
pub use post::Poster;
pub(crate) use post::read_token;
pub use reporter::{Reporter, ReporterConfig, ReporterStats};

use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// Version tag carried by every report envelope.
pub const REPORT_VERSION: &str = "ripcord.dev/report/v1alpha1";

/// Largest report body, in bytes, either side accepts: the sidecar refuses to send a larger one
/// and the controller refuses to parse one.
pub const MAX_REPORT_BYTES: usize = 1024 * 1024;

/// The release a report is about: which pod of which revision of which deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Kubernetes namespace of the deployment.
    pub namespace: String,
    /// Name of the deployment being released.
    pub deployment: String,
    /// The canary's revision (the ReplicaSet's `deployment.kubernetes.io/revision`).
    pub revision: String,
    /// Name of the canary pod this sidecar runs in.
    pub pod: String,
}

/// One verdict as sent to the controller's intake, with what it is about and its sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictReport {
    /// Always [`REPORT_VERSION`].
    pub version: String,
    /// The release judged.
    pub release: Release,
    /// Increases with every verdict this sidecar offers; for replay protection.
    pub sequence: u64,
    /// The verdict itself, in its own versioned format.
    pub verdict: Verdict,
}

impl VerdictReport {
    /// The envelope for `verdict`, numbered `sequence`.
    pub fn new(release: Release, sequence: u64, verdict: Verdict) -> Self {
        VerdictReport {
            version: REPORT_VERSION.to_string(),
            release,
            sequence,
            verdict,
        }
    }

    /// The JSON body, refused when larger than [`MAX_REPORT_BYTES`].
    pub fn to_body(&self) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(self).map_err(ReportError::Encode)?;
        if body.len() > MAX_REPORT_BYTES {
            return Err(ReportError::TooLarge {
                sequence: self.sequence,
                bytes: body.len(),
                cap: MAX_REPORT_BYTES,
            });
        }
        Ok(body)
    }
}
