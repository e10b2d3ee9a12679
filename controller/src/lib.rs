//! Ripcord's controller library. Release detection, injection, verdict intake and actions land
//! here; for now it decodes the sidecar's verdict wire format, which it will consume.

use ripcord_sidecar::verdict::{VERDICT_VERSION, Verdict};

/// Why a verdict body was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The body is not a verdict in JSON.
    #[error("verdict body is not valid JSON for a verdict: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The body speaks a version of the wire format this controller does not know.
    #[error("verdict version {found:?} is not supported (expected {expected:?})")]
    UnsupportedVersion {
        /// The version the body declared.
        found: String,
        /// The version this controller reads.
        expected: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T, E = IntakeError> = std::result::Result<T, E>;

/// Decodes a verdict body and checks its wire-format version.
pub fn decode_verdict(body: &[u8]) -> Result<Verdict> {
    let verdict: Verdict = serde_json::from_slice(body)?;
    if verdict.version != VERDICT_VERSION {
        return Err(IntakeError::UnsupportedVersion {
            found: verdict.version,
            expected: VERDICT_VERSION,
        });
    }
    Ok(verdict)
}
