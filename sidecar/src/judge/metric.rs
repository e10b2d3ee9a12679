//! One watched metric under judgement: its two e-processes, its counts, and its decision.
//! Latency specifics (edges, cells, gate) are in [`gate`]; the judgement against an absolute
//! limit, for a release without a baseline, in [`absolute`].
//!
//! **Basis.** A metric is judged either relatively (canary against baseline) or absolutely
//! (canary alone against its limit), never both, and once fixed the basis holds for the rest of
//! the release. Any baseline traffic makes it relative. A metric with a limit becomes absolute
//! once the baseline has shown no traffic at all (no source answered, or none had requests) for
//! [`ABSENT_AFTER_TICKS`] ticks in which the canary served [`ABSENT_AFTER_TRIALS`] requests or
//! more: a baseline that quiet is absent, not slow, and a transient outage of every source at
//! the start does not give up the comparison. Until then the canary's counts already go into
//! the limit test, which only decides once the basis is absolute (deciding from a later time on
//! keeps Ville's bound). Each basis spends the metric's whole share of alpha, and only one ever
//! decides, so the family-wise bound is unchanged. A metric without a limit and without a
//! baseline stays inconclusive, saying so.

mod absolute;
mod gate;

pub(crate) use absolute::AbsoluteJudge;

use super::JudgeError;
use super::evidence::EvidencePath;
use super::latency::{CumulativeHistogram, Edge};
use crate::spec::{Direction, MetricSpec, Signal};
use crate::stats::ordinal::OrdinalEProcess;
use crate::stats::ratio::RatioEProcess;
use crate::stats::share::SharePrior;
use crate::verdict::{Basis, Decision};
use crate::window::{MetricDelta, Unavailable};

/// Ticks with canary traffic and no baseline traffic before a metric with a limit is judged
/// against it.
pub(crate) const ABSENT_AFTER_TICKS: u64 = 10;
/// Canary requests served in those ticks before a metric with a limit is judged against it.
pub(crate) const ABSENT_AFTER_TRIALS: f64 = 20.0;

/// Canary and baseline counts of the event cell over the judged ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) canary_events: f64,
    pub(crate) canary_trials: f64,
    pub(crate) baseline_events: f64,
    pub(crate) baseline_trials: f64,
}

impl Totals {
    /// `(canary rate) / (baseline rate)`, when both are defined and the baseline's is positive.
    pub(crate) fn rate_ratio(&self) -> Option<f64> {
        let canary = self.canary_events / self.canary_trials;
        let baseline = self.baseline_events / self.baseline_trials;
        let ratio = canary / baseline;
        ratio.is_finite().then_some(ratio)
    }

    /// Whether the canary's rate is on the bad side of the baseline's by more than `tolerance`.
    /// A baseline without events and a canary with some is beyond any tolerance (an infinite
    /// ratio), which [`Totals::rate_ratio`] cannot express.
    pub(crate) fn beyond(&self, tolerance: f64, higher_is_worse: bool) -> bool {
        if self.canary_trials <= 0.0 || self.baseline_trials <= 0.0 {
            return false;
        }
        let canary = self.canary_events / self.canary_trials;
        let baseline = self.baseline_events / self.baseline_trials;
        if higher_is_worse {
            canary > baseline && canary >= (1.0 + tolerance) * baseline
        } else {
            canary < baseline && canary <= (1.0 - tolerance) * baseline
        }
    }
}

/// The two tests of a metric: the fail test on ordered cells (worst last) and the pass test.
#[derive(Debug, Clone)]
pub(crate) struct Tests {
    pub(crate) share: OrdinalEProcess,
    pub(crate) ratio: RatioEProcess,
}

/// One tick's counts: `(events, trials)` per arm at the primary cut (for the pass test and the
/// totals), and per-cell counts per arm, worst cell last (for the fail test).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TickCounts {
    pub(crate) primary: [(f64, f64); 2],
    pub(crate) canary_cells: Vec<f64>,
    pub(crate) baseline_cells: Vec<f64>,
}

/// Latency state: the baseline histogram the edges are chosen from, then the frozen primary edge,
/// all edges, and the judged histograms of both arms.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyState {
    pub(crate) quantile: f64,
    pub(crate) baseline_for_edge: CumulativeHistogram,
    pub(crate) edge: Option<Edge>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) canary_judged: CumulativeHistogram,
    pub(crate) baseline_judged: CumulativeHistogram,
    /// Why this metric may not pass, when its edges cannot tell the tolerance apart.
    pub(crate) pass_blocked: Option<String>,
}

/// Judgement of one metric.
#[derive(Debug, Clone)]
pub(crate) struct MetricJudge {
    pub(crate) spec: MetricSpec,
    pub(crate) alpha: f64,
    pub(crate) ln_threshold: f64,
    pub(crate) tests: Result<Tests, JudgeError>,
    pub(crate) latency: Option<LatencyState>,
    pub(crate) totals: Totals,
    pub(crate) raw_canary_trials: f64,
    pub(crate) raw_baseline_trials: f64,
    pub(crate) log_e_value: f64,
    pub(crate) pass_log_e_value: f64,
    pub(crate) decision: Decision,
    pub(crate) decided_at_ms: Option<i64>,
    pub(crate) skipped_ticks: u64,
    pub(crate) last_skip: Option<String>,
    pub(crate) path: EvidencePath,
    /// What the metric is judged against, once a tick has said.
    pub(crate) basis: Option<Basis>,
    /// The judgement against the absolute limit, when the spec gives one.
    pub(crate) absolute: Option<AbsoluteJudge>,
    /// Why there was no baseline, the last time there was none.
    pub(crate) no_baseline: Option<String>,
    /// Ticks with canary traffic and no baseline traffic, while the basis is open.
    pub(crate) absent_ticks: u64,
    /// Canary requests in those ticks.
    pub(crate) absent_trials: f64,
}

fn build_tests(spec: &MetricSpec, alpha: f64) -> Result<Tests, JudgeError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(JudgeError::Alpha(alpha));
    }
    let higher_is_worse = spec.direction == Direction::Max;
    let null_ratio = if higher_is_worse {
        1.0 + spec.tolerance
    } else {
        1.0 - spec.tolerance
    };
    let prior = SharePrior::for_tolerance(spec.tolerance, higher_is_worse)?;
    Ok(Tests {
        share: OrdinalEProcess::new(&prior, 2)?,
        ratio: RatioEProcess::new(null_ratio, higher_is_worse)?,
    })
}

/// Why a tick's delta was not used.
fn unavailable_reason(reason: &Unavailable) -> String {
    match reason {
        Unavailable::FirstScrape => "first scrape only sets the starting point".to_string(),
        Unavailable::ScrapeFailed(why) => format!("scrape failed: {why}"),
        Unavailable::NoSeries(selector) => format!("no series matched {selector}"),
        Unavailable::CounterReset(series) => format!("counter reset on {series}"),
        Unavailable::NonMonotoneHistogram(series) => format!("non-monotone histogram {series}"),
        Unavailable::SpecDiffers(why) => format!("no baseline: {why}"),
    }
}

/// Trials in a delta: a ratio's trials, a histogram's requests, none when unavailable.
fn trials(delta: &MetricDelta) -> f64 {
    match delta {
        MetricDelta::Ratio { trials, .. } => *trials,
        MetricDelta::Histogram { cumulative, .. } => cumulative.last().copied().unwrap_or(0.0),
        MetricDelta::Unavailable(_) => 0.0,
    }
}

fn valid_counts(events: f64, trials: f64) -> bool {
    events.is_finite() && trials.is_finite() && events >= 0.0 && events <= trials
}

impl MetricJudge {
    /// A metric judge spending `alpha` of the family-wise bound.
    pub(crate) fn new(spec: &MetricSpec, alpha: f64) -> MetricJudge {
        let latency = match spec.signal {
            Signal::Latency { quantile, .. } => Some(LatencyState {
                quantile,
                ..LatencyState::default()
            }),
            Signal::Ratio { .. } => None,
        };
        MetricJudge {
            spec: spec.clone(),
            alpha,
            ln_threshold: -alpha.ln(),
            tests: build_tests(spec, alpha),
            latency,
            totals: Totals::default(),
            raw_canary_trials: 0.0,
            raw_baseline_trials: 0.0,
            log_e_value: 0.0,
            pass_log_e_value: 0.0,
            decision: Decision::Inconclusive,
            decided_at_ms: None,
            skipped_ticks: 0,
            last_skip: None,
            path: EvidencePath::default(),
            basis: None,
            absolute: AbsoluteJudge::new(spec),
            no_baseline: None,
            absent_ticks: 0,
            absent_trials: 0.0,
        }
    }

    fn higher_is_worse(&self) -> bool {
        self.spec.direction == Direction::Max
    }

    /// Feeds a baseline delta from before the release.
    pub(crate) fn baseline_history(&mut self, delta: &MetricDelta) {
        match (delta, &mut self.latency) {
            (MetricDelta::Ratio { events, trials }, None) if valid_counts(*events, *trials) => {
                let bad = if self.higher_is_worse() {
                    *events
                } else {
                    trials - events
                };
                self.add_share_history(&[trials - bad, bad]);
            }
            (
                MetricDelta::Histogram {
                    upper_bounds,
                    cumulative,
                },
                Some(latency),
            ) if latency.edge.is_none() => {
                latency.baseline_for_edge.add(upper_bounds, cumulative);
            }
            _ => {}
        }
    }

    /// Adds baseline history to the fail test's estimate; counts it refuses disable the metric.
    fn add_share_history(&mut self, cells: &[f64]) {
        if let Ok(tests) = &mut self.tests
            && let Err(refused) = tests.share.add_baseline_history(cells)
        {
            self.tests = Err(refused.into());
        }
    }

    fn skip(&mut self, reason: impl FnOnce() -> String) {
        self.skipped_ticks += 1;
        self.last_skip = Some(reason());
    }

    /// Turns this tick's deltas into event-cell counts `(events, trials)` per arm, or skips it.
    fn counts(&mut self, canary: &MetricDelta, baseline: &MetricDelta) -> Option<TickCounts> {
        match (canary, baseline) {
            (MetricDelta::Unavailable(why), _) => {
                self.skip(|| format!("canary: {}", unavailable_reason(why)));
                None
            }
            (_, MetricDelta::Unavailable(why)) => {
                self.skip(|| format!("baseline: {}", unavailable_reason(why)));
                None
            }
            (
                MetricDelta::Ratio {
                    events: ea,
                    trials: na,
                },
                MetricDelta::Ratio {
                    events: eb,
                    trials: nb,
                },
            ) if self.latency.is_none() => {
                if valid_counts(*ea, *na) && valid_counts(*eb, *nb) {
                    let cells = |events: f64, trials: f64| {
                        if self.higher_is_worse() {
                            vec![trials - events, events]
                        } else {
                            vec![events, trials - events]
                        }
                    };
                    Some(TickCounts {
                        primary: [(*ea, *na), (*eb, *nb)],
                        canary_cells: cells(*ea, *na),
                        baseline_cells: cells(*eb, *nb),
                    })
                } else {
                    self.skip(|| {
                        "counts are negative, not finite, or events exceed trials".to_string()
                    });
                    None
                }
            }
            (
                MetricDelta::Histogram {
                    upper_bounds: ua,
                    cumulative: ca,
                },
                MetricDelta::Histogram {
                    upper_bounds: ub,
                    cumulative: cb,
                },
            ) if self.latency.is_some() => self.latency_counts((ua, ca), (ub, cb)),
            _ => {
                self.skip(|| "the delta's kind does not match the metric's signal".to_string());
                None
            }
        }
    }

    /// Judges one tick at `at_ms` without a baseline (no source answered, for `reason`): against
    /// the limit when the metric has one, else skipped.
    pub(crate) fn tick_alone(&mut self, canary: &MetricDelta, reason: &str, at_ms: i64) {
        self.no_baseline = Some(reason.to_string());
        if self.basis == Some(Basis::Absolute) || self.baseline_absent(canary, reason) {
            self.tick_absolute(canary, at_ms);
        } else {
            let missing = MetricDelta::Unavailable(Unavailable::ScrapeFailed(reason.to_string()));
            self.tick(canary, &missing, at_ms);
        }
    }

    /// Counts a tick without baseline traffic while the basis is open, for a metric with a limit
    /// and canary traffic, fixing the basis as absolute when the baseline has been absent long
    /// enough; whether the tick goes to the limit test.
    fn baseline_absent(&mut self, canary: &MetricDelta, reason: &str) -> bool {
        let canary_trials = trials(canary);
        if self.basis.is_some() || self.absolute.is_none() || canary_trials <= 0.0 {
            return false;
        }
        self.no_baseline = Some(reason.to_string());
        self.absent_ticks += 1;
        self.absent_trials += canary_trials;
        if self.absent_ticks >= ABSENT_AFTER_TICKS && self.absent_trials >= ABSENT_AFTER_TRIALS {
            self.basis = Some(Basis::Absolute);
        }
        true
    }

    /// Feeds one tick of the canary to the limit test; judges it once the basis is absolute.
    fn tick_absolute(&mut self, canary: &MetricDelta, at_ms: i64) {
        let Some(absolute) = &mut self.absolute else {
            return;
        };
        if let Err(why) = absolute.feed(canary) {
            self.skip(|| why);
            return;
        }
        if self.basis != Some(Basis::Absolute) {
            return;
        }
        self.raw_canary_trials = absolute.trials();
        self.log_e_value = absolute.fail_log_e_value();
        self.pass_log_e_value = absolute.pass_log_e_value();
        self.path.push(at_ms, self.log_e_value);
        self.decide(at_ms);
    }

    /// Judges one tick at `at_ms`.
    pub(crate) fn tick(&mut self, canary: &MetricDelta, baseline: &MetricDelta, at_ms: i64) {
        if self.basis.is_none() && trials(baseline) > 0.0 {
            self.basis = Some(Basis::Relative);
        }
        let answered_silent = !matches!(baseline, MetricDelta::Unavailable(_))
            && self.baseline_absent(canary, "the baseline has no traffic");
        if self.basis == Some(Basis::Absolute) || answered_silent {
            self.tick_absolute(canary, at_ms);
            return;
        }
        if self.choosing_edge() {
            self.feed_edge_choice(baseline);
            return;
        }
        let Some(counts) = self.counts(canary, baseline) else {
            return;
        };
        let [(ea, na), (eb, nb)] = counts.primary;
        self.raw_canary_trials += na;
        self.raw_baseline_trials += nb;
        let Ok(tests) = &mut self.tests else {
            return;
        };
        if let Err(refused) = tests
            .share
            .update(&counts.canary_cells, &counts.baseline_cells)
        {
            self.skip(|| format!("the fail test refused the cell counts: {refused}"));
            return;
        }
        if na > 0.0 && nb > 0.0 {
            tests.ratio.update(ea, na, eb, nb);
            self.totals.canary_events += ea;
            self.totals.canary_trials += na;
            self.totals.baseline_events += eb;
            self.totals.baseline_trials += nb;
            self.log_e_value = tests.share.log_e_value();
            if ea + eb > 0.0 {
                self.pass_log_e_value = tests.ratio.pass_log_e_value();
            }
        }
        self.path.push(at_ms, self.log_e_value);
        self.decide(at_ms);
    }

    fn decide(&mut self, at_ms: i64) {
        if self.decision == Decision::Fail {
            return;
        }
        if self.log_e_value >= self.ln_threshold && self.beyond_tolerance() {
            self.decision = Decision::Fail;
            self.decided_at_ms = Some(at_ms);
        } else if self.decision == Decision::Inconclusive
            && self.pass_log_e_value >= self.ln_threshold
            && self.pass_blocked().is_none()
        {
            self.decision = Decision::Pass;
            self.decided_at_ms = Some(at_ms);
        }
    }

    /// The judgement against the limit, when the metric is judged on that basis.
    pub(crate) fn absolute_basis(&self) -> Option<&AbsoluteJudge> {
        self.absolute
            .as_ref()
            .filter(|_| self.basis == Some(Basis::Absolute))
    }

    /// Why the pass test may not decide, if it may not.
    pub(crate) fn pass_blocked(&self) -> Option<&str> {
        if let Some(absolute) = self.absolute_basis() {
            return absolute.pass_blocked();
        }
        self.latency.as_ref()?.pass_blocked.as_deref()
    }

    /// The practical gate: beyond the limit on the absolute basis; else, for a ratio metric, the
    /// rate ratio is beyond the tolerance; for latency, see
    /// [`MetricJudge::latency_beyond_tolerance`].
    pub(crate) fn beyond_tolerance(&self) -> bool {
        if let Some(absolute) = self.absolute_basis() {
            return absolute.beyond_limit();
        }
        if let Some(latency) = &self.latency {
            return self.latency_beyond_tolerance(latency);
        }
        self.totals
            .beyond(self.spec.tolerance, self.higher_is_worse())
    }

    /// The reported point estimate: the `histogram_quantile`-style quantile ratio for latency,
    /// else the rate ratio.
    pub(crate) fn estimate(&self) -> Option<f64> {
        match &self.latency {
            Some(latency) => {
                let canary = latency.canary_judged.quantile(latency.quantile)?;
                let baseline = latency.baseline_judged.quantile(latency.quantile)?;
                let ratio = canary / baseline;
                ratio.is_finite().then_some(ratio)
            }
            None => self.totals.rate_ratio(),
        }
    }
}
