//! The background task that delivers verdicts: a one-slot mailbox where the latest verdict wins,
//! drained by a tokio task that POSTs and retries with [`Backoff`].

use super::{Poster, Release, ReportError, Result, VerdictReport};
use crate::scrape::{Backoff, Retry};
use crate::verdict::Verdict;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// Settings of a [`Reporter`].
#[derive(Debug, Clone)]
pub struct ReporterConfig {
    /// The controller's intake URL: plain http, or https when [`ReporterConfig::tls`] is set.
    pub intake_url: String,
    /// TLS settings for an `https://` intake (trust only the controller's CA); `None` allows
    /// plain http only.
    pub tls: Option<crate::scrape::Tls>,
    /// File holding the bearer token (the projected service-account token); read on every send.
    pub token_path: PathBuf,
    /// What every report is about.
    pub release: Release,
    /// Bound on one POST (connect, request and answer).
    pub timeout: Duration,
    /// Waits between failed sends.
    pub backoff: Backoff,
    /// Sequence number of the first verdict offered; later ones count up from it.
    pub first_sequence: u64,
}

impl ReporterConfig {
    /// Defaults: a 2 s timeout per POST, a backoff from 1 s to 16 s, and sequences starting at
    /// the current Unix time in milliseconds, so a restarted sidecar (one verdict a tick, far
    /// fewer than one a millisecond) keeps numbering above what it sent before.
    pub fn new(
        intake_url: impl Into<String>,
        token_path: impl Into<PathBuf>,
        release: Release,
    ) -> Self {
        ReporterConfig {
            intake_url: intake_url.into(),
            tls: None,
            token_path: token_path.into(),
            release,
            timeout: Duration::from_secs(2),
            backoff: Backoff::default(),
            first_sequence: unix_millis(),
        }
    }
}

/// Milliseconds since the Unix epoch; 1 if the clock reads before it.
fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_millis().try_into().unwrap_or(u64::MAX))
}

/// Counters of a [`Reporter`], for its own metrics and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReporterStats {
    /// Verdicts offered.
    pub offered: u64,
    /// Reports the controller accepted.
    pub delivered: u64,
    /// Failed attempts (each followed by a backoff, or a drop when not retryable).
    pub failed_attempts: u64,
    /// Verdicts replaced by a newer one before they were sent.
    pub superseded: u64,
    /// Reports dropped because retrying could not help.
    pub dropped: u64,
}

/// Delivers verdicts to the controller in the background. [`Reporter::offer`] is synchronous,
/// O(1) and never waits on the network; the task sends the latest verdict offered, so a verdict
/// not yet sent is replaced by a newer one. Dropping the reporter stops the task.
#[derive(Debug)]
pub struct Reporter {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Shared {
    /// The verdict waiting to be sent, with its sequence number.
    slot: Mutex<Option<(u64, Verdict)>>,
    wake: Notify,
    /// The worker holds a verdict taken from the slot (set under the slot's lock).
    busy: std::sync::atomic::AtomicBool,
    /// Notified when the worker has nothing left to send.
    idle: Notify,
    next_sequence: AtomicU64,
    offered: AtomicU64,
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    superseded: AtomicU64,
    dropped: AtomicU64,
}

impl Shared {
    /// The verdict waiting, marking the worker busy with it (or not busy, when none waits).
    fn take(&self) -> Option<(u64, Verdict)> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = slot.take();
        self.busy.store(pending.is_some(), Ordering::SeqCst);
        pending
    }

    /// A verdict offered while the worker still holds an older one; the worker stays busy.
    fn take_newer(&self) -> Option<(u64, Verdict)> {
        self.slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Whether nothing waits and nothing is being sent.
    fn is_idle(&self) -> bool {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.is_none() && !self.busy.load(Ordering::SeqCst)
    }
}

impl Reporter {
    /// Starts the reporting task on the current tokio runtime; fails on an unusable intake URL
    /// or when called outside a runtime.
    pub fn start(config: ReporterConfig) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ReportError::NoRuntime)?;
        let poster = Poster::with_tls(
            &config.intake_url,
            config.token_path,
            config.timeout,
            config.tls.as_ref(),
        )?;
        let shared = Arc::new(Shared {
            next_sequence: AtomicU64::new(config.first_sequence),
            ..Shared::default()
        });
        let span = tracing::info_span!("reporter", intake = %config.intake_url,
            pod = %config.release.pod);
        let worker = Worker {
            shared: Arc::clone(&shared),
            poster,
            release: config.release,
            backoff: config.backoff,
        };
        let task = runtime.spawn(worker.run().instrument(span));
        Ok(Reporter { shared, task })
    }

    /// Queues `verdict` for delivery, replacing any verdict not yet sent. Never blocks on I/O.
    pub fn offer(&self, verdict: Verdict) {
        let sequence = self.shared.next_sequence.fetch_add(1, Ordering::Relaxed);
        let replaced = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((sequence, verdict));
        self.shared.offered.fetch_add(1, Ordering::Relaxed);
        if replaced.is_some() {
            self.shared.superseded.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.wake.notify_one();
    }

    /// Waits, at most `limit`, until the verdict last offered has been delivered (or dropped as
    /// one retrying cannot help), then stops the task; `false` when the limit came first. For
    /// shutdown: a canary stopped right after its judge decided still tells the controller.
    pub async fn drain(self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.shared.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.shared.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.shared.is_idle();
            }
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> ReporterStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ReporterStats {
            offered: read(&self.shared.offered),
            delivered: read(&self.shared.delivered),
            failed_attempts: read(&self.shared.failed_attempts),
            superseded: read(&self.shared.superseded),
            dropped: read(&self.shared.dropped),
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Worker {
    shared: Arc<Shared>,
    poster: Poster,
    release: Release,
    backoff: Backoff,
}

impl Worker {
    async fn run(mut self) {
        loop {
            self.shared.wake.notified().await;
            while let Some(pending) = self.shared.take() {
                self.deliver(pending).await;
            }
            self.shared.idle.notify_waiters();
        }
    }

    /// Sends `pending` until it is accepted or dropped; after each backoff a newer verdict, if
    /// one was offered meanwhile, is sent instead.
    async fn deliver(&mut self, mut pending: (u64, Verdict)) {
        loop {
            let (sequence, verdict) = &pending;
            match self.attempt(*sequence, verdict).await {
                Ok(()) => {
                    self.backoff.succeeded();
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(sequence, "verdict delivered");
                    return;
                }
                Err(error) if !error.is_retryable() => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(sequence, %error, "verdict dropped");
                    return;
                }
                Err(error) => {
                    self.shared.failed_attempts.fetch_add(1, Ordering::Relaxed);
                    let wait = self.backoff.failed(Retry::BackOff);
                    tracing::warn!(sequence, %error, wait_ms = wait.as_millis() as u64,
                        "verdict not delivered, backing off");
                    tokio::time::sleep(wait).await;
                    if let Some(newer) = self.shared.take_newer() {
                        self.shared.superseded.fetch_add(1, Ordering::Relaxed);
                        pending = newer;
                    }
                }
            }
        }
    }

    async fn attempt(&self, sequence: u64, verdict: &Verdict) -> Result<(), ReportError> {
        let report = VerdictReport::new(self.release.clone(), sequence, verdict.clone());
        let body = report.to_body()?;
        self.poster.post(Bytes::from(body)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> Release {
        Release {
            namespace: "ns".to_string(),
            deployment: "app".to_string(),
            revision: "2".to_string(),
            pod: "app-2-x".to_string(),
        }
    }

    #[test]
    fn starting_outside_a_runtime_is_an_error_not_a_panic() {
        let config = ReporterConfig::new("http://127.0.0.1:1/intake", "/token", release());
        let refused = Reporter::start(config);
        assert!(
            matches!(refused, Err(ReportError::NoRuntime)),
            "{refused:?}"
        );
    }

    #[test]
    fn a_later_start_numbers_above_an_earlier_one() {
        let earlier = ReporterConfig::new("http://127.0.0.1:1/", "/token", release());
        std::thread::sleep(Duration::from_millis(3));
        let later = ReporterConfig::new("http://127.0.0.1:1/", "/token", release());
        assert!(later.first_sequence > earlier.first_sequence);
        assert!(
            earlier.first_sequence > 1_600_000_000_000,
            "Unix ms, not a counter from 0"
        );
    }

    #[tokio::test]
    async fn an_unusable_intake_url_is_refused_at_start() {
        let config = ReporterConfig::new("https://controller/intake", "/token", release());
        let refused = Reporter::start(config);
        assert!(
            matches!(refused, Err(ReportError::Url { .. })),
            "{refused:?}"
        );
    }
}
