//! The state the HTTP surface serves, shared with the scrape loop and the judge.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::admin::{LogLevelControl, StoredLogLevel};
use super::definition::MetricDefinition;
use super::metrics::{Metrics, ScrapeErrorKind};
use crate::verdict::Verdict;
use crate::window::{Observation, Window};

/// Whether the sidecar is ready to serve its windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// At least one scrape succeeded.
    Ready,
    /// No scrape has succeeded yet; why.
    NotReady(String),
}

#[derive(Debug)]
struct Shared {
    verdict: Option<Verdict>,
    window: Window,
    /// What the window's deltas count, once the owner said.
    definitions: Option<Vec<MetricDefinition>>,
    readiness: Readiness,
}

/// What the scrape loop and the judge publish and the HTTP surface reads; share it in an `Arc`.
pub struct State {
    shared: Mutex<Shared>,
    metrics: Metrics,
    log_level: Box<dyn LogLevelControl>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("shared", &self.shared)
            .field("metrics", &self.metrics)
            .field("log_level", &self.log_level.current())
            .finish()
    }
}

impl State {
    /// An empty state keeping at most `window_capacity` observations, with a log level that is
    /// only remembered (see [`State::with_log_level`] to drive a real subscriber).
    pub fn new(window_capacity: usize) -> Self {
        Self::with_log_level(window_capacity, Box::new(StoredLogLevel::new("info")))
    }

    /// An empty state whose admin route reads and sets the log level through `log_level`.
    pub fn with_log_level(window_capacity: usize, log_level: Box<dyn LogLevelControl>) -> Self {
        State {
            shared: Mutex::new(Shared {
                verdict: None,
                window: Window::new(window_capacity),
                definitions: None,
                readiness: Readiness::NotReady("no scrape yet".to_owned()),
            }),
            metrics: Metrics::new(),
            log_level,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Every critical section leaves `Shared` consistent, so a poisoned lock is still usable.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a successful scrape: its parse time and the observation it gave.
    pub fn scrape_succeeded(&self, parse_time: Duration, observation: Observation) {
        self.metrics.scrape_ok(parse_time);
        let mut shared = self.lock();
        shared.window.push(observation);
        shared.readiness = Readiness::Ready;
    }

    /// Says what the observations pushed from now on count (the watch spec's metrics, in
    /// order), for window readers. When that changes, the observations kept so far are
    /// dropped: they count something else.
    pub fn set_definitions(&self, definitions: Vec<MetricDefinition>) {
        let mut shared = self.lock();
        if shared.definitions.as_ref() != Some(&definitions) {
            if shared.definitions.is_some() {
                shared.window = Window::new(shared.window.capacity());
            }
            shared.definitions = Some(definitions);
        }
    }

    /// What the window's deltas count, when said (see [`State::set_definitions`]).
    pub fn definitions(&self) -> Option<Vec<MetricDefinition>> {
        self.lock().definitions.clone()
    }

    /// Records a failed scrape; before the first success it becomes the readiness reason.
    pub fn scrape_failed(&self, kind: ScrapeErrorKind, message: &str) {
        self.metrics.scrape_error(kind);
        let mut shared = self.lock();
        if let Readiness::NotReady(reason) = &mut shared.readiness {
            *reason = format!(
                "no successful scrape yet; last error ({}): {message}",
                kind.as_str()
            );
        }
    }

    /// Publishes the judge's latest verdict.
    pub fn publish_verdict(&self, verdict: Verdict) {
        self.metrics.verdict(&verdict);
        self.lock().verdict = Some(verdict);
    }

    /// The latest verdict, if the judge reached one.
    pub fn verdict(&self) -> Option<Verdict> {
        self.lock().verdict.clone()
    }

    /// Readiness now.
    pub fn readiness(&self) -> Readiness {
        self.lock().readiness.clone()
    }

    /// The observations taken in `(after_ms, through_ms]`, oldest first, at most `limit` of
    /// them, and whether more were in range.
    pub fn observations(
        &self,
        after_ms: i64,
        through_ms: i64,
        limit: usize,
    ) -> (Vec<Observation>, bool) {
        let shared = self.lock();
        let mut in_range: Vec<&Observation> = shared
            .window
            .iter()
            .filter(|o| o.at_ms > after_ms && o.at_ms <= through_ms)
            .collect();
        in_range.sort_by_key(|o| o.at_ms);
        let truncated = in_range.len() > limit;
        let kept = in_range.into_iter().take(limit).cloned().collect();
        (kept, truncated)
    }

    /// The metrics registry's exporter.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The log-level control behind the admin route.
    pub fn log_level(&self) -> &dyn LogLevelControl {
        self.log_level.as_ref()
    }
}
