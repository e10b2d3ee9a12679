//! Baseline snapshots: at release time the controller reads the previous revision's recent
//! windows from its pods' sidecars, sums them per second, and keeps them in a ConfigMap in its
//! own namespace; canaries read them through the intake (`GET /v1/snapshot`) once their
//! assignment lists no previous pod any more, so a check keeps a baseline after the rolling
//! update finished.
//! This module owns when a snapshot is due (pure), taking and storing it, serving it, and the
//! sweep that deletes snapshots whose release is settled.

mod error;
pub mod merge;
pub mod store;
pub mod take;

use std::time::Duration;

use bytes::Bytes;
use ripcord_sidecar::assign::{Assignment, Role};

pub use error::{Error, Result};
pub use store::{Created, Store};
pub use take::Peer;

use crate::crd::{BaselineSnapshot, Phase, ReleaseCheckStatus, rfc3339_from_ms};
use crate::http::{HttpClient, HttpLimits};
use crate::reconcile::check::CompactCheck;

/// Path of the intake route serving a canary its release's snapshot.
pub const SNAPSHOT_PATH: &str = "/v1/snapshot";

/// Most pods' reasons quoted in a snapshot's message.
const QUOTED_REASONS: usize = 3;

/// How snapshots are taken and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// The controller's namespace, where the ConfigMaps live.
    pub namespace: String,
    /// How far back the previous pods' windows are read.
    pub span: Duration,
    /// Largest snapshot kept, in bytes of JSON (a ConfigMap holds at most 1 MiB); the newest
    /// seconds are kept when the span does not fit.
    pub max_bytes: usize,
    /// Bound on reading one sidecar's window.
    pub read_timeout: Duration,
}

impl SnapshotSettings {
    /// Thirty minutes back (a sidecar keeps an hour), at most 768 KiB, 3 s per read.
    pub fn new(namespace: &str) -> Self {
        SnapshotSettings {
            namespace: namespace.to_string(),
            span: Duration::from_secs(1800),
            max_bytes: 768 * 1024,
            read_timeout: Duration::from_secs(3),
        }
    }
}

/// Takes, serves and sweeps snapshots; cheap to clone.
#[derive(Clone)]
pub struct Snapshots {
    store: Store,
    http: HttpClient,
    settings: SnapshotSettings,
    /// `namespace/check` of the snapshots this replica took (or is taking) for checks still
    /// open: the caches may not show the recorded status yet when the next reconcile comes.
    /// Shared by clones.
    begun: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Snapshots {
    /// Snapshots kept with `client` as `settings` say.
    pub fn new(client: kube::Client, settings: SnapshotSettings) -> Result<Self> {
        let http = HttpClient::new(
            HttpLimits {
                timeout: settings.read_timeout,
                max_response_bytes: 8 * 1024 * 1024,
            },
            None,
        )
        .map_err(Error::Client)?;
        Ok(Snapshots {
            store: Store::new(client, &settings.namespace),
            http,
            settings,
            begun: Default::default(),
        })
    }

    /// Marks the snapshot of ReleaseCheck `namespace/check` as taken by this replica; `false`
    /// when it already was, so a reconcile that runs before the caches show the recorded status
    /// does not read the previous pods and record it again.
    pub fn begin(&self, namespace: &str, check: &str) -> bool {
        self.begun().insert(begun_key(namespace, check))
    }

    /// Forgets that the snapshot of `namespace/check` was begun (its record could not be
    /// written; a later reconcile takes it again).
    pub fn forget(&self, namespace: &str, check: &str) {
        self.begun().remove(&begun_key(namespace, check));
    }

    fn begun(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.begun
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads `peers`' windows over the span before `now_ms`, keeps their per-second sums as
    /// the snapshot of ReleaseCheck `namespace/check`, and says what was kept; when one is kept
    /// already (its status write failed, say), says what that one holds without reading. Never
    /// fails: what went wrong is in the record's message, and a canary then falls back to its
    /// other baseline sources.
    pub async fn take(
        &self,
        namespace: &str,
        check: &str,
        peers: &[Peer],
        now_ms: i64,
    ) -> BaselineSnapshot {
        match self.store.kept_record(namespace, check).await {
            Ok(Some(kept)) => return kept,
            Ok(None) => {}
            Err(error) => tracing::debug!(%error, "reading the pods, not knowing if one is kept"),
        }
        let span_ms = i64::try_from(self.settings.span.as_millis()).unwrap_or(i64::MAX);
        let windows =
            take::read_windows(&self.http, peers, now_ms.saturating_sub(span_ms), now_ms).await;
        let merged = merge::merge(windows);
        let mut record = BaselineSnapshot {
            taken_at: rfc3339_from_ms(now_ms),
            pods_asked: i64::try_from(peers.len()).unwrap_or(i64::MAX),
            pods_answered: i64::try_from(merged.answered).unwrap_or(i64::MAX),
            ..BaselineSnapshot::default()
        };
        let mut reasons: Vec<String> = merged
            .refused
            .iter()
            .take(QUOTED_REASONS)
            .cloned()
            .collect();
        if peers.is_empty() {
            reasons.push("no previous-revision pod was running".to_string());
        }
        let (json, kept) = merge::encode(
            &merged.observations,
            merged.metrics.as_deref(),
            self.settings.max_bytes,
        );
        if kept < merged.observations.len() {
            reasons.push(format!(
                "kept the newest {kept} of {} seconds to stay within {} bytes",
                merged.observations.len(),
                self.settings.max_bytes
            ));
        }
        if kept > 0 {
            let json = String::from_utf8(json).unwrap_or_default();
            let stored = BaselineSnapshot {
                config_map: Some(store::config_map_name(namespace, check)),
                observations: i64::try_from(kept).unwrap_or(i64::MAX),
                message: joined(&reasons),
                ..record.clone()
            };
            match self.store.create(namespace, check, json, &stored).await {
                Ok(Created::New) => return stored,
                Ok(Created::Kept(Some(earlier))) => return earlier,
                Ok(Created::Kept(None)) => {
                    reasons.push(
                        "an earlier reading is kept; the counts describe a later one".to_string(),
                    );
                    record = BaselineSnapshot {
                        message: None,
                        ..stored
                    };
                }
                Ok(Created::Vanished) => {
                    reasons.push("the snapshot kept earlier was deleted meanwhile".to_string());
                }
                Err(error) => reasons.push(error.to_string()),
            }
        } else if !peers.is_empty() {
            reasons.push("no pod served a usable second".to_string());
        }
        record.message = joined(&reasons);
        record
    }

    /// The snapshot of ReleaseCheck `namespace/check`, if one is kept.
    pub async fn read(&self, namespace: &str, check: &str) -> Result<Option<Bytes>> {
        self.store.read(namespace, check).await
    }

    /// Deletes the snapshots whose check `keep` does not want kept; returns how many. Forgets
    /// the begun snapshots of those checks too.
    pub async fn sweep(&self, keep: impl Fn(&str, &str) -> bool) -> Result<usize> {
        self.begun().retain(|key| {
            key.split_once('/')
                .is_some_and(|(namespace, check)| keep(namespace, check))
        });
        self.store.sweep(keep).await
    }
}

impl crate::intake::SnapshotSource for Snapshots {
    fn snapshot<'a>(
        &'a self,
        namespace: &'a str,
        check: &'a str,
    ) -> futures::future::BoxFuture<'a, std::result::Result<Option<Bytes>, String>> {
        Box::pin(async move { self.read(namespace, check).await.map_err(|e| e.to_string()) })
    }
}

/// `reasons` joined for a record's message; `None` when there are none.
fn joined(reasons: &[String]) -> Option<String> {
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The key of ReleaseCheck `namespace/check` among the begun snapshots; the sweep splits it.
fn begun_key(namespace: &str, check: &str) -> String {
    format!("{namespace}/{check}")
}

/// Whether a ReleaseCheck whose status is `status` wants a snapshot now: it is being
/// watched, its previous revision ran sidecars, and none was taken yet.
pub fn due(status: Option<&ReleaseCheckStatus>, previous_had_sidecar: bool) -> bool {
    previous_had_sidecar
        && status.is_some_and(|s| {
            matches!(s.phase, None | Some(Phase::Watching)) && s.baseline_snapshot.is_none()
        })
}

/// Whether `check`'s snapshot is still of use: the check is still open (watching, or being
/// acted on) and no later release of its Deployment has a check of its own (`siblings` are the
/// Deployment's checks).
pub fn still_needed<'a>(
    check: &CompactCheck,
    siblings: impl IntoIterator<Item = &'a CompactCheck>,
) -> bool {
    let open = matches!(
        check.status.as_ref().and_then(|s| s.phase),
        None | Some(Phase::Watching | Phase::Acting)
    );
    open && siblings
        .into_iter()
        .all(|sibling| sibling.revision <= check.revision)
}

/// Offers the snapshot at `url` to a canary whose check has one kept.
pub fn offer(assignment: &mut Assignment, check: Option<&CompactCheck>, url: Option<&str>) {
    let kept = check
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.baseline_snapshot.as_ref())
        .is_some_and(|s| s.config_map.is_some() && s.observations > 0);
    if assignment.role == Role::Canary && kept {
        assignment.baseline.snapshot = url.map(str::to_string);
    }
}

#[cfg(test)]
mod tests;
