//! The assignment: what the controller tells a sidecar about its part in a release — its role,
//! where its baseline comes from, and where to report. Defined once here; the controller serves
//! it with the same types at `GET /v1/assignment` (the caller is named by its bound token).
//!
//! ```json
//! {
//!   "version": "ripcord.dev/assignment/v1alpha1",
//!   "role": "canary",
//!   "release": {"namespace": "shop", "deployment": "checkout", "revision": "7", "pod": "checkout-7-abc"},
//!   "release_check": "checkout-7",
//!   "released_at_ms": 1764000000000,
//!   "baseline": {
//!     "peers": ["http://10.0.3.7:9464", "http://10.0.4.2:9464"],
//!     "snapshot": "https://ripcord.ripcord-system.svc:8443/v1/snapshot/shop/checkout-7",
//!     "prometheus": {"url": "http://prometheus.monitoring:9090", "previous_hash": "6d4b9c8f7"}
//!   }
//! }
//! ```
//!
//! Fields are only ever added within a version; unknown fields are ignored.

use serde::{Deserialize, Serialize};

use crate::report::Release;

/// Version tag carried by every assignment.
pub const ASSIGNMENT_VERSION: &str = "ripcord.dev/assignment/v1alpha1";

/// Largest assignment body, in bytes, the sidecar accepts.
pub const MAX_ASSIGNMENT_BYTES: usize = 256 * 1024;

/// What one sidecar is asked to do in the current release of its Deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Always [`ASSIGNMENT_VERSION`].
    pub version: String,
    /// The sidecar's part in the release.
    pub role: Role,
    /// The release this sidecar's verdicts speak about; present for a canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Name of the `ReleaseCheck` that tracks the release, in the release's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_check: Option<String>,
    /// When the release started (the new ReplicaSet's creation), in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at_ms: Option<i64>,
    /// Where a canary's baseline comes from; empty for other roles.
    #[serde(default)]
    pub baseline: BaselineSources,
}

/// A sidecar's part in a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs in a pod of the new revision: judges it against the baseline and reports verdicts.
    Canary,
    /// Runs in a pod of the previous revision: serves its windows to the canaries.
    Baseline,
    /// No release is being checked: scrape and serve windows, judge nothing.
    Idle,
}

/// The baseline sources of a canary, used in this order of preference: live peers while any
/// answers, then the snapshot, then Prometheus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaselineSources {
    /// Base URLs of the previous revision's sidecars (`http://<pod IP>:<port>`); their
    /// `/v1/window` routes are summed into the baseline.
    #[serde(default)]
    pub peers: Vec<String>,
    /// URL of the previous revision's windows as recorded at release time (a window JSON), for
    /// when no peer is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Prometheus to query for the previous revision, for users who already run one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
}

/// A Prometheus server that scrapes the previous revision's pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrometheusSource {
    /// Base URL of the Prometheus HTTP API (`http://prometheus.monitoring:9090`).
    pub url: String,
    /// The previous revision's `pod-template-hash` label value.
    pub previous_hash: String,
}

impl Assignment {
    /// Whether `other` speaks of the same release in the same role (its baseline sources may
    /// differ): the canary's judgement goes on across such a change.
    pub fn same_release(&self, other: &Assignment) -> bool {
        self.role == other.role
            && self.release == other.release
            && self.release_check == other.release_check
            && self.released_at_ms == other.released_at_ms
    }

    /// An assignment with no release: the sidecar only scrapes and serves.
    pub fn idle() -> Self {
        Assignment {
            version: ASSIGNMENT_VERSION.to_string(),
            role: Role::Idle,
            release: None,
            release_check: None,
            released_at_ms: None,
            baseline: BaselineSources::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_parses_and_unknown_fields_are_ignored() {
        let text = r#"{
          "version": "ripcord.dev/assignment/v1alpha1",
          "role": "canary",
          "release": {"namespace": "shop", "deployment": "checkout", "revision": "7", "pod": "checkout-7-abc"},
          "release_check": "checkout-7",
          "released_at_ms": 1764000000000,
          "future_field": true,
          "baseline": {"peers": ["http://10.0.3.7:9464"], "prometheus": {"url": "http://p:9090", "previous_hash": "6d4b"}}
        }"#;
        let assignment: Assignment = serde_json::from_str(text).expect("example parses");
        assert_eq!(assignment.role, Role::Canary);
        assert_eq!(assignment.baseline.peers, vec!["http://10.0.3.7:9464"]);
        assert_eq!(assignment.baseline.snapshot, None);
        assert_eq!(
            assignment.baseline.prometheus.map(|p| p.previous_hash),
            Some("6d4b".to_string())
        );
    }

    #[test]
    fn changed_baseline_sources_are_the_same_release_and_a_new_revision_is_not() {
        let mut canary = Assignment::idle();
        canary.role = Role::Canary;
        canary.release_check = Some("checkout-7".to_string());
        canary.baseline.peers = vec!["http://10.0.0.21:9464".to_string()];
        let mut fewer_peers = canary.clone();
        fewer_peers.baseline.peers.clear();
        fewer_peers.baseline.snapshot = Some("https://ripcord/v1/snapshot".to_string());
        assert!(canary.same_release(&fewer_peers));
        let mut next = canary.clone();
        next.release_check = Some("checkout-8".to_string());
        assert!(!canary.same_release(&next));
        let mut baseline = canary.clone();
        baseline.role = Role::Baseline;
        assert!(!canary.same_release(&baseline));
    }

    #[test]
    fn idle_round_trips_without_optional_fields() {
        let json = serde_json::to_string(&Assignment::idle()).expect("serialises");
        assert!(!json.contains("release_check"), "{json}");
        let back: Assignment = serde_json::from_str(&json).expect("parses back");
        assert_eq!(back, Assignment::idle());
    }
}
