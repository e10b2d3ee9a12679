//! One watched metric under judgement: its two e-processes, its counts, and its decision.

use super::evidence::EvidencePath;
use super::latency::{CumulativeHistogram, Edge};
use crate::spec::{Direction, MetricSpec, Signal};
use crate::stats::ratio::RatioEProcess;
use crate::stats::share::{CellTick, ShareEProcess, SharePrior};
use crate::verdict::Decision;
use crate::window::{MetricDelta, Unavailable};

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
}

/// The two tests of a metric.
#[derive(Debug, Clone)]
pub(crate) struct Tests {
    pub(crate) share: ShareEProcess,
    pub(crate) ratio: RatioEProcess,
}

/// Latency state: the baseline histogram the edge is chosen from, then the frozen edge and the
/// judged histograms of both arms.
#[derive(Debug, Clone, Default)]
pub(crate) struct LatencyState {
    pub(crate) quantile: f64,
    pub(crate) baseline_for_edge: CumulativeHistogram,
    pub(crate) edge: Option<Edge>,
    pub(crate) canary_judged: CumulativeHistogram,
    pub(crate) baseline_judged: CumulativeHistogram,
}

/// Judgement of one metric.
#[derive(Debug, Clone)]
pub(crate) struct MetricJudge {
    pub(crate) spec: MetricSpec,
    pub(crate) alpha: f64,
    pub(crate) ln_threshold: f64,
    pub(crate) tests: Result<Tests, String>,
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
}

fn build_tests(spec: &MetricSpec, alpha: f64) -> Result<Tests, String> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(format!("alpha {alpha} is not in (0, 1)"));
    }
    let higher_is_worse = spec.direction == Direction::Max;
    let null_ratio = if higher_is_worse {
        1.0 + spec.tolerance
    } else {
        1.0 - spec.tolerance
    };
    let prior =
        SharePrior::for_tolerance(spec.tolerance, higher_is_worse).map_err(|e| e.to_string())?;
    Ok(Tests {
        share: ShareEProcess::new(&prior).map_err(|e| e.to_string())?,
        ratio: RatioEProcess::new(null_ratio, higher_is_worse).map_err(|e| e.to_string())?,
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
                if let Ok(tests) = &mut self.tests {
                    tests.share.add_baseline_history(bad, *trials);
                }
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

    fn skip(&mut self, reason: impl FnOnce() -> String) {
        self.skipped_ticks += 1;
        self.last_skip = Some(reason());
    }

    /// Turns this tick's deltas into event-cell counts `(events, trials)` per arm, or skips it.
    fn counts(&mut self, canary: &MetricDelta, baseline: &MetricDelta) -> Option<[(f64, f64); 2]> {
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
                    Some([(*ea, *na), (*eb, *nb)])
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

    fn latency_counts(
        &mut self,
        canary: (&[f64], &[f64]),
        baseline: (&[f64], &[f64]),
    ) -> Option<[(f64, f64); 2]> {
        let latency = self.latency.as_mut()?;
        let Some(edge) = latency.edge else {
            latency.baseline_for_edge.add(baseline.0, baseline.1);
            if let Some(edge) = latency.baseline_for_edge.choose_edge(latency.quantile) {
                latency.edge = Some(edge);
                let seen = &latency.baseline_for_edge;
                let (above, total) = (seen.above(edge.index), seen.total());
                let bad = if self.spec.direction == Direction::Max {
                    above
                } else {
                    total - above
                };
                if let Ok(tests) = &mut self.tests {
                    tests.share.add_baseline_history(bad, total);
                }
            }
            return None;
        };
        let at_edge = |(bounds, cumulative): (&[f64], &[f64])| {
            let below = *cumulative.get(edge.index)?;
            let total = *cumulative.last()?;
            let same_edge =
                bounds.get(edge.index) == Some(&edge.bound) && bounds.len() == cumulative.len();
            (same_edge && valid_counts(total - below, total) && below >= 0.0)
                .then_some((total - below, total))
        };
        match (at_edge(canary), at_edge(baseline)) {
            (Some(a), Some(b)) => {
                latency.canary_judged.add(canary.0, canary.1);
                latency.baseline_judged.add(baseline.0, baseline.1);
                Some([a, b])
            }
            _ => {
                self.skip(|| {
                    format!(
                        "histogram lacks the chosen edge {} or its counts are invalid",
                        edge.bound
                    )
                });
                None
            }
        }
    }

    /// Judges one tick at `at_ms`.
    pub(crate) fn tick(&mut self, canary: &MetricDelta, baseline: &MetricDelta, at_ms: i64) {
        let Some([(ea, na), (eb, nb)]) = self.counts(canary, baseline) else {
            return;
        };
        self.raw_canary_trials += na;
        self.raw_baseline_trials += nb;
        let higher_is_worse = self.higher_is_worse();
        let Ok(tests) = &mut self.tests else {
            return;
        };
        let tick = if higher_is_worse {
            CellTick {
                canary_bad: ea,
                canary_total: na,
                baseline_bad: eb,
                baseline_total: nb,
            }
        } else {
            CellTick {
                canary_bad: na - ea,
                canary_total: na,
                baseline_bad: nb - eb,
                baseline_total: nb,
            }
        };
        tests.share.update(&tick);
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
        {
            self.decision = Decision::Pass;
            self.decided_at_ms = Some(at_ms);
        }
    }

    /// The practical-tolerance gate: the point estimate is beyond the tolerance.
    pub(crate) fn beyond_tolerance(&self) -> bool {
        let Some(ratio) = self.estimate() else {
            return false;
        };
        if self.higher_is_worse() {
            ratio >= 1.0 + self.spec.tolerance
        } else {
            ratio <= 1.0 - self.spec.tolerance
        }
    }

    /// The gate's point estimate: the interpolated quantile ratio for latency, else the rate ratio.
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
