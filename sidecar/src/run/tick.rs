//! The run loop. Each interval: re-read the watch spec, scrape the app into the served window,
//! and, as a canary, judge beside the scrape the range `(judged_to, now - lag]` (the lag, one
//! scrape timeout, lets every sidecar's scrape in the range land in its window first): the
//! canary's own deltas summed against the baseline's, the verdict published and offered to the
//! reporter.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::baseline::{BaselineReader, Read};
use super::fetch::Fetcher;
use super::{Result, RunArgs, RunError, SharedStatus, SpecEvent, SpecSource};
use crate::assign::{Assignment, Role};
use crate::judge::{Judge, JudgeConfig};
use crate::report::{Release, Reporter, ReporterConfig};
use crate::scrape::{ScrapeConfig, ScrapeError, Scraper, Tls};
use crate::serve::{MAX_WINDOW_OBSERVATIONS, ScrapeErrorKind, State};
use crate::spec::WatchSpec;
use crate::verdict::Decision;
use crate::window::{Extractor, MetricDelta, Unavailable};

/// Longest range judged at once; older unjudged time is dropped (a long outage of every
/// baseline source, for example).
const MAX_RANGE: Duration = Duration::from_secs(300);

/// Longest a stopping canary waits for its last verdict to reach the controller (well inside a
/// pod's default 30 s grace period).
const DRAIN_LIMIT: Duration = Duration::from_secs(3);

/// The run loop's settings and state.
pub(super) struct Loop {
    scraper: Scraper,
    interval: Duration,
    lag: Duration,
    alpha: f64,
    prometheus_step: Duration,
    controller: Option<String>,
    token_file: std::path::PathBuf,
    tls: Tls,
    state: Arc<State>,
    status: Arc<SharedStatus>,
    assignments: watch::Receiver<Assignment>,
    spec_source: SpecSource,
    watched: Option<Watched>,
    canary: Option<Canary>,
    /// An assignment this loop could not act on, so that it is logged once, not every tick.
    refused: Option<Assignment>,
    /// The next report's sequence number must be at least this (monotone across reporters).
    next_sequence: u64,
}

/// The spec in force and the extractor built from it.
struct Watched {
    spec: WatchSpec,
    extractor: Extractor,
}

/// A canary's judgement of one release.
struct Canary {
    assignment: Assignment,
    judge: Judge,
    baseline: BaselineReader,
    reporter: Option<Reporter>,
    first_sequence: u64,
    judged_to: i64,
}

impl Loop {
    pub(super) fn new(
        args: &RunArgs,
        controller: Option<String>,
        tls: Tls,
        state: Arc<State>,
        status: Arc<SharedStatus>,
        assignments: watch::Receiver<Assignment>,
    ) -> Result<Loop> {
        let mut config = ScrapeConfig::new(&args.target);
        config.timeout = args.scrape_timeout;
        let scraper = Scraper::new(config).map_err(|e| RunError::Setting {
            setting: "RIPCORD_TARGET",
            reason: e.to_string(),
        })?;
        Ok(Loop {
            scraper,
            interval: args.interval,
            lag: args.scrape_timeout,
            alpha: args.alpha,
            prometheus_step: args.prometheus_step,
            controller,
            token_file: args.token_file.clone(),
            tls,
            state,
            status,
            assignments,
            spec_source: SpecSource::new(args.spec_origin()),
            watched: None,
            canary: None,
            refused: None,
            next_sequence: 0,
        })
    }

    /// Ticks until `stop` completes.
    pub(super) async fn run(mut self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = &mut stop => break,
            }
            self.tick().await;
        }
        self.drain().await;
    }

    /// Gives the canary's reporter up to [`DRAIN_LIMIT`] to deliver the verdict last offered.
    async fn drain(&mut self) {
        let Some(reporter) = self.canary.take().and_then(|canary| canary.reporter) else {
            return;
        };
        if !reporter.drain(DRAIN_LIMIT).await {
            tracing::warn!("stopping before the last verdict reached the controller");
        }
    }

    async fn tick(&mut self) {
        self.refresh_spec();
        self.follow_assignment();
        let at_ms = crate::watch::now_ms();
        let Loop {
            scraper,
            state,
            status,
            watched,
            canary,
            lag,
            interval,
            ..
        } = self;
        let Some(watched) = watched else {
            return;
        };
        let judge_to = at_ms - i64::try_from(lag.as_millis()).unwrap_or(i64::MAX);
        let judging = async {
            if let Some(canary) = canary {
                let read_bound = (*interval).max(*lag);
                canary
                    .step(&watched.spec, state, status, judge_to, read_bound)
                    .await;
            }
        };
        let scraping = scrape_into(scraper, &mut watched.extractor, state, at_ms);
        tokio::join!(judging, scraping);
        status.update(|s| s.scrapes += 1);
    }

    /// Takes in a changed spec: a new extractor, and a new judgement for a canary.
    fn refresh_spec(&mut self) {
        match self.spec_source.refresh() {
            SpecEvent::Unchanged => {}
            SpecEvent::Loaded(spec) => {
                tracing::info!(metrics = spec.metrics.len(), "watch spec loaded");
                self.state
                    .set_definitions(crate::serve::MetricDefinition::of_spec(&spec));
                self.watched = Some(Watched {
                    extractor: Extractor::new(&spec),
                    spec,
                });
                self.end_canary();
                self.refused = None;
            }
            SpecEvent::Refused(error) => {
                let kept = if self.watched.is_some() {
                    "the previous spec stays in force"
                } else {
                    "nothing is watched until it is fixed"
                };
                tracing::error!(%error, "watch spec refused; {kept}");
            }
        }
        let error = self.spec_source.error().map(str::to_string);
        self.status.update(|s| s.spec_error = error);
    }

    /// Starts, restarts or ends the canary judgement when the assignment changed.
    fn follow_assignment(&mut self) {
        let assignment = self.assignments.borrow_and_update().clone();
        let same = self
            .canary
            .as_ref()
            .is_some_and(|c| c.assignment == assignment);
        if same || self.refused.as_ref() == Some(&assignment) {
            return;
        }
        if self
            .canary
            .as_ref()
            .is_some_and(|c| c.assignment.same_release(&assignment))
        {
            self.follow_baseline(assignment);
            return;
        }
        self.end_canary();
        if assignment.role != Role::Canary {
            return;
        }
        let Some(watched) = &self.watched else {
            return;
        };
        match self.start_canary(assignment.clone(), &watched.spec) {
            Ok(canary) => {
                self.canary = Some(canary);
                self.refused = None;
            }
            Err(error) => {
                tracing::error!(%error, "cannot judge as a canary until the assignment changes");
                self.refused = Some(assignment);
            }
        }
    }

    /// Takes in new baseline sources for the release being judged (previous pods come and go
    /// during a rolling update; the snapshot appears once kept) without restarting the
    /// judgement: a restart would start a new test with the whole alpha again, and would throw
    /// the evidence so far away.
    fn follow_baseline(&mut self, assignment: Assignment) {
        let mut reader = self.baseline_reader(&assignment);
        if let Some(canary) = self.canary.as_mut() {
            reader.keep_progress(&mut canary.baseline);
            canary.baseline = reader;
            canary.assignment = assignment;
        }
    }

    /// A reader of the assignment's baseline sources; a source left out is logged and shown
    /// in the status.
    fn baseline_reader(&self, assignment: &Assignment) -> BaselineReader {
        let peer_fetcher = Fetcher {
            tls: Some(self.tls.clone()),
            token_file: None,
            timeout: self.lag,
            max_bytes: super::baseline::MAX_WINDOW_BYTES,
        };
        let from_controller = |url: &str| {
            self.controller
                .as_ref()
                .is_some_and(|base| url.starts_with(&format!("{base}/")))
        };
        let snapshot_fetcher = Fetcher {
            token_file: assignment
                .baseline
                .snapshot
                .as_deref()
                .filter(|url| from_controller(url))
                .map(|_| self.token_file.clone()),
            ..peer_fetcher.clone()
        };
        let reader = BaselineReader::new(
            &assignment.baseline,
            peer_fetcher,
            snapshot_fetcher,
            self.prometheus_step,
            assignment.release.as_ref().map(|r| r.namespace.as_str()),
        );
        if let Some(why) = reader.refused() {
            tracing::error!(
                reason = why,
                "a baseline source is left out; the others judge"
            );
        }
        let refused = reader.refused().map(str::to_string);
        self.status.update(|s| s.baseline_error = refused);
        reader
    }

    fn start_canary(&self, assignment: Assignment, spec: &WatchSpec) -> Result<Canary> {
        let baseline = self.baseline_reader(&assignment);
        let first_sequence = self.next_sequence.max(unix_millis());
        let reporter = match (&self.controller, &assignment.release) {
            (Some(base), Some(release)) => Some(self.reporter(base, release, first_sequence)?),
            (None, _) => None,
            (Some(_), None) => {
                tracing::warn!("canary assignment without a release: verdicts are not reported");
                None
            }
        };
        tracing::info!(release = ?assignment.release, "judging as a canary");
        let judged_to = crate::watch::now_ms()
            - i64::try_from((self.lag + self.interval).as_millis()).unwrap_or(0);
        Ok(Canary {
            judge: Judge::new(spec, JudgeConfig { alpha: self.alpha }),
            assignment,
            baseline,
            reporter,
            first_sequence,
            judged_to,
        })
    }

    fn reporter(&self, base: &str, release: &Release, first_sequence: u64) -> Result<Reporter> {
        let mut config = ReporterConfig::new(
            format!("{base}/v1/verdicts"),
            &self.token_file,
            release.clone(),
        );
        config.tls = Some(self.tls.clone());
        config.first_sequence = first_sequence;
        Reporter::start(config).map_err(|e| RunError::Setting {
            setting: "RIPCORD_CONTROLLER_URL",
            reason: e.to_string(),
        })
    }

    /// Ends the canary judgement, remembering where its reports' sequence got to; its reporter
    /// gets [`DRAIN_LIMIT`] in the background to deliver the verdict last offered.
    fn end_canary(&mut self) {
        self.status.update(|s| s.baseline_error = None);
        if let Some(canary) = self.canary.take() {
            let offered = canary.reporter.as_ref().map_or(0, |r| r.stats().offered);
            self.next_sequence = self
                .next_sequence
                .max(canary.first_sequence.saturating_add(offered));
            if let Some(reporter) = canary.reporter {
                tokio::spawn(async move {
                    reporter.drain(DRAIN_LIMIT).await;
                });
            }
        }
    }
}

impl Canary {
    /// Judges `(judged_to, to]` when a baseline for it can be had, then publishes and reports.
    async fn step(
        &mut self,
        spec: &WatchSpec,
        state: &State,
        status: &SharedStatus,
        to: i64,
        read_bound: Duration,
    ) {
        let oldest = to - i64::try_from(MAX_RANGE.as_millis()).unwrap_or(i64::MAX);
        let from = self.judged_to.max(oldest);
        if to <= from {
            return;
        }
        let read = tokio::time::timeout(read_bound, self.baseline.read(spec, from, to))
            .await
            .unwrap_or_else(|_| {
                Read::Nothing(format!(
                    "no baseline: reading it took longer than {} ms",
                    read_bound.as_millis()
                ))
            });
        let (own, _) = state.observations(from, to, MAX_WINDOW_OBSERVATIONS);
        let canary = crate::window::total(own, spec.metrics.len(), to);
        // Without a baseline, metrics with an absolute limit are judged on the canary alone.
        let source = match read {
            Read::Wait => return,
            Read::Got {
                observation,
                source,
            } => {
                self.judge.tick(&canary, &observation);
                source
            }
            Read::Nothing(reason) => {
                self.judge.tick_alone(&canary, &reason);
                reason
            }
        };
        self.judged_to = to;
        let verdict = self.judge.verdict();
        status.update(|s| {
            s.judged += 1;
            s.baseline = Some(source);
        });
        if verdict.decision == Decision::Fail {
            tracing::warn!(reason = %verdict.reason, "regression");
        }
        state.publish_verdict(verdict.clone());
        if let Some(reporter) = &self.reporter {
            reporter.offer(verdict);
        }
    }
}

/// Scrapes once and records the outcome in the served state (a failed scrape in the extractor
/// too).
async fn scrape_into(scraper: &Scraper, extractor: &mut Extractor, state: &State, at_ms: i64) {
    let body = match scraper.scrape().await {
        Ok(body) => body,
        Err(error) => {
            // The next good scrape only sets the starting point again: its delta would span
            // the gap.
            extractor.failed(at_ms, &error.to_string());
            state.scrape_failed(error_kind(&error), &error.to_string());
            return;
        }
    };
    let started = Instant::now();
    let observation = extractor.observe(at_ms, &body);
    let parse_time = started.elapsed();
    // An exposition the parser refused makes every metric `ScrapeFailed` with the reason.
    let refused: Option<Vec<&str>> = observation
        .metrics
        .iter()
        .map(|m| match m {
            MetricDelta::Unavailable(Unavailable::ScrapeFailed(why)) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    match refused.as_deref() {
        Some([why, ..]) => state.scrape_failed(ScrapeErrorKind::Parse, why),
        _ => state.scrape_succeeded(parse_time, observation),
    }
}

fn error_kind(error: &ScrapeError) -> ScrapeErrorKind {
    match error {
        ScrapeError::Timeout { .. } => ScrapeErrorKind::Timeout,
        ScrapeError::Status { .. } => ScrapeErrorKind::HttpStatus,
        ScrapeError::TooLarge { .. } => ScrapeErrorKind::TooLarge,
        ScrapeError::Target { .. }
        | ScrapeError::Refused { .. }
        | ScrapeError::Connect { .. }
        | ScrapeError::Protocol { .. } => ScrapeErrorKind::Connect,
    }
}

/// Milliseconds since the Unix epoch.
fn unix_millis() -> u64 {
    u64::try_from(crate::watch::now_ms()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::ScrapeConfig;

    #[tokio::test]
    async fn a_failed_scrape_costs_the_next_good_one_its_delta() {
        let spec = crate::spec::parse_watch("errors: e_total / r_total max +50%").expect("spec");
        let mut extractor = Extractor::new(&spec);
        extractor.observe(1, b"e_total 1\nr_total 10\n");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = closed.local_addr().expect("address");
        drop(closed);
        let scraper =
            Scraper::new(ScrapeConfig::new(format!("http://{addr}/metrics"))).expect("scraper");
        let state = State::new(10);
        scrape_into(&scraper, &mut extractor, &state, 2).await;
        let after = extractor.observe(3, b"e_total 50\nr_total 60\n");
        assert!(
            matches!(after.metrics[0], MetricDelta::Unavailable(_)),
            "the gap's counts landed in one tick: {after:?}"
        );
    }
}
