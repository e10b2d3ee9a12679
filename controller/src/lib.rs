//! Ripcord's controller library: release detection and reconciling (`reconcile`, `release`),
//! sidecar injection (`inject`, `tls`), verdict intake (`intake`), acting on verdicts (`act`,
//! `rollback`, `flags`, `notify`), the ReleaseCheck resource (`crd`), the annotations' policy
//! (`policy`), operations (`ops`), the kubectl plugin's views (`plugin`) and the `run` command
//! that wires them. The verdict wire format is defined once, in the sidecar crate.

pub mod act;
pub mod crd;
pub mod flags;
pub mod http;
pub mod inject;
pub mod intake;
pub mod notify;
pub mod ops;
pub mod plugin;
pub mod policy;
pub mod reconcile;
pub mod release;
pub mod rollback;
pub mod run;
pub mod snapshot;
pub mod tls;

use ripcord_sidecar::report::{MAX_REPORT_BYTES, REPORT_VERSION, VerdictReport};
use ripcord_sidecar::verdict::VERDICT_VERSION;

/// The field manager of every object the controller writes (`kubectl get -o yaml
/// --show-managed-fields` names it), so its fields are told apart from a human's or a GitOps
/// tool's.
pub const FIELD_MANAGER: &str = "ripcord";

/// Patch parameters naming [`FIELD_MANAGER`].
pub(crate) fn patch_params() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PatchParams::default()
    }
}

/// Create parameters naming [`FIELD_MANAGER`].
pub(crate) fn post_params() -> kube::api::PostParams {
    kube::api::PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..kube::api::PostParams::default()
    }
}

/// Milliseconds since the Unix epoch (0 before it, saturating far after it).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why a report body was refused.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The body is larger than the intake accepts; it was not parsed.
    #[error("report body is {bytes} bytes, more than the {cap} allowed")]
    TooLarge {
        /// The body's size.
        bytes: usize,
        /// The size cap, [`MAX_REPORT_BYTES`].
        cap: usize,
    },
    /// The body is not a report in JSON.
    #[error("report body is not valid JSON for a verdict report: {0}")]
    Malformed(#[from] serde_json::Error),
    /// The envelope speaks a version of the report format this controller does not know.
    #[error("report version {found:?} is not supported (expected {expected:?})")]
    UnsupportedVersion {
        /// The version the envelope declared.
        found: String,
        /// The version this controller reads.
        expected: &'static str,
    },
    /// The verdict inside the envelope speaks a verdict version this controller does not know.
    #[error("verdict version {found:?} is not supported (expected {expected:?})")]
    UnsupportedVerdictVersion {
        /// The version the verdict declared.
        found: String,
        /// The version this controller reads.
        expected: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T, E = IntakeError> = std::result::Result<T, E>;

/// Decodes a report body sent by a sidecar: refuses a body over [`MAX_REPORT_BYTES`] before
/// parsing it, then checks the envelope's version and the verdict's version.
pub fn decode_verdict(body: &[u8]) -> Result<VerdictReport> {
    if body.len() > MAX_REPORT_BYTES {
        return Err(IntakeError::TooLarge {
            bytes: body.len(),
            cap: MAX_REPORT_BYTES,
        });
    }
    let version = envelope_version(body)?;
    if version != REPORT_VERSION {
        return Err(IntakeError::UnsupportedVersion {
            found: version,
            expected: REPORT_VERSION,
        });
    }
    let report: VerdictReport = serde_json::from_slice(body)?;
    if report.verdict.version != VERDICT_VERSION {
        return Err(IntakeError::UnsupportedVerdictVersion {
            found: report.verdict.version,
            expected: VERDICT_VERSION,
        });
    }
    Ok(report)
}

/// Reads only the envelope's `version`, so a report of another version is refused as such
/// rather than as malformed when its other fields differ.
fn envelope_version(body: &[u8]) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        version: String,
    }
    let versioned: Versioned = serde_json::from_slice(body)?;
    Ok(versioned.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ripcord_sidecar::report::Release;
    use ripcord_sidecar::verdict::{Decision, Verdict};

    fn report(sequence: u64) -> VerdictReport {
        let verdict = Verdict {
            version: VERDICT_VERSION.to_string(),
            decision: Decision::Fail,
            reason: "errors regressed".to_string(),
            at_ms: 1_700_000_000_000,
            elapsed_ms: 4_000,
            ticks: 4,
            alpha: 0.01,
            decided_at_ms: Some(1_700_000_000_000),
            basis: Default::default(),
            metrics: Vec::new(),
        };
        let release = Release {
            namespace: "shop".to_string(),
            deployment: "checkout".to_string(),
            revision: "7".to_string(),
            pod: "checkout-7-abc".to_string(),
        };
        VerdictReport::new(release, sequence, verdict)
    }

    fn json(report: &VerdictReport) -> serde_json::Value {
        serde_json::to_value(report).expect("a report serialises")
    }

    #[test]
    fn a_report_round_trips() {
        let sent = report(42);
        let body = sent.to_body().expect("a body");
        assert_eq!(decode_verdict(&body).expect("decodes"), sent);
    }

    #[test]
    fn another_envelope_version_is_refused_by_name() {
        let mut value = json(&report(1));
        value["version"] = "ripcord.dev/report/v9".into();
        value["release"] = serde_json::Value::Null;
        let body = serde_json::to_vec(&value).expect("json");
        let error = decode_verdict(&body).expect_err("refused");
        assert!(
            matches!(&error, IntakeError::UnsupportedVersion { found, .. } if found == "ripcord.dev/report/v9"),
            "{error}"
        );
    }

    #[test]
    fn another_verdict_version_inside_is_refused() {
        let mut value = json(&report(1));
        value["verdict"]["version"] = "ripcord.dev/verdict/v0".into();
        let body = serde_json::to_vec(&value).expect("json");
        let error = decode_verdict(&body).expect_err("refused");
        assert!(
            matches!(error, IntakeError::UnsupportedVerdictVersion { .. }),
            "{error}"
        );
    }

    #[test]
    fn an_oversized_body_is_refused_before_parsing() {
        // Not JSON at all: refusing it as too large shows it was never parsed.
        let body = vec![b'x'; MAX_REPORT_BYTES + 1];
        let error = decode_verdict(&body).expect_err("refused");
        assert!(
            matches!(error, IntakeError::TooLarge { bytes, .. } if bytes == MAX_REPORT_BYTES + 1),
            "{error}"
        );
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let mut missing_sequence = json(&report(1));
        missing_sequence
            .as_object_mut()
            .expect("an object")
            .remove("sequence");
        let missing = serde_json::to_vec(&missing_sequence).expect("json");
        for body in [&b""[..], b"{", b"[]", b"{\"version\":3}", &missing] {
            let error = decode_verdict(body).expect_err("refused");
            assert!(matches!(error, IntakeError::Malformed(_)), "{error}");
        }
    }
}
