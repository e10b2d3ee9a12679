//! The extractor: turns each scrape of one app into one [`Observation`], a delta per watched
//! metric, keeping only the series the watch spec selects.

use super::counter::CounterTracker;
use super::histogram::{HistogramStep, HistogramTracker};
use super::staging::Budget;
use super::{MetricDelta, Observation, Unavailable};
use crate::expo::{self, Limits, Sample};
use crate::spec::{Signal, WatchSpec};

/// Default cap on the series one extractor stages per scrape (and keeps per selector).
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// Largest increase of one metric between two scrapes that is believed (10^12 events). A larger
/// one is a broken or hostile exporter; trusting it would drown every later count (and sums near
/// `f64::MAX` would overflow the judge's arithmetic), so that scrape is not judged.
pub const MAX_INCREASE_PER_SCRAPE: f64 = 1e12;

/// Refuses a delta whose total increase is beyond [`MAX_INCREASE_PER_SCRAPE`].
fn plausible(delta: MetricDelta, metric: &str) -> Result<MetricDelta, Skipped> {
    let increase = match &delta {
        MetricDelta::Ratio { events, trials } => events.max(*trials),
        MetricDelta::Histogram { cumulative, .. } => cumulative.last().copied().unwrap_or(0.0),
        MetricDelta::Unavailable(_) => 0.0,
    };
    if increase <= MAX_INCREASE_PER_SCRAPE {
        return Ok(delta);
    }
    Err(Skipped::Started(Unavailable::ScrapeFailed(format!(
        "{metric} increased by {increase:e} in one scrape, more than the {MAX_INCREASE_PER_SCRAPE:e} \
         believed; this scrape is not judged"
    ))))
}

/// Turns successive scrapes into per-metric deltas with Prometheus' counter-reset semantics.
///
/// Each series is compared with its own previous value; a series whose value went down restarted
/// from 0. A scrape in which any series of a metric restarted gives
/// [`Unavailable::CounterReset`] for that metric (the restart's counts are not trusted), and the
/// next scrape is normal again. A scrape that fails (unreachable, refused, unparsable, or a
/// metric whose series could not be read) leaves no starting point for the metrics it failed:
/// the next good scrape only sets one again and is unavailable, like a reset, so that a gap's
/// counts never land in one tick judged against one tick of baseline.
#[derive(Debug)]
pub struct Extractor {
    metrics: Vec<Tracked>,
    limits: Limits,
    max_series: usize,
}

#[derive(Debug)]
enum Tracker {
    Ratio {
        numerator: CounterTracker,
        denominator: CounterTracker,
    },
    Latency(HistogramTracker),
}

#[derive(Debug)]
struct Tracked {
    tracker: Tracker,
    /// Whether a scrape already set this metric's starting point.
    started: bool,
    /// Whether a scrape failed for this metric since it last had a starting point.
    failed: bool,
}

impl Extractor {
    /// An extractor for the metrics of `spec`, with default parse limits and series cap.
    pub fn new(spec: &WatchSpec) -> Self {
        Self::with_limits(spec, Limits::default(), DEFAULT_MAX_SERIES)
    }

    /// An extractor with explicit exposition limits and a cap on staged series per scrape.
    pub fn with_limits(spec: &WatchSpec, limits: Limits, max_series: usize) -> Self {
        let metrics = spec
            .metrics
            .iter()
            .map(|metric| Tracked {
                tracker: match &metric.signal {
                    Signal::Ratio {
                        numerator,
                        denominator,
                    } => Tracker::Ratio {
                        numerator: CounterTracker::new(numerator.clone()),
                        denominator: CounterTracker::new(denominator.clone()),
                    },
                    Signal::Latency { histogram, .. } => {
                        Tracker::Latency(HistogramTracker::new(histogram.clone()))
                    }
                },
                started: false,
                failed: false,
            })
            .collect();
        Extractor {
            metrics,
            limits,
            max_series,
        }
    }

    /// Parses one exposition taken at `at_ms` (Unix milliseconds) and returns its deltas.
    /// A parse error gives [`Unavailable::ScrapeFailed`] for every metric and changes no state.
    pub fn observe(&mut self, at_ms: i64, exposition: &[u8]) -> Observation {
        self.begin();
        let mut budget = self.budget();
        let metrics = &mut self.metrics;
        let parsed = expo::parse(exposition, &self.limits, |sample| {
            offer(metrics, sample, &mut budget);
        });
        match parsed {
            Ok(_) => self.commit(at_ms),
            Err(error) => self.failed(at_ms, &format!("exposition refused: {error}")),
        }
    }

    /// Like [`Self::observe`] for samples already parsed (replays, tests, other transports).
    pub fn observe_samples<'s, 'a: 's>(
        &mut self,
        at_ms: i64,
        samples: impl IntoIterator<Item = &'s Sample<'a>>,
    ) -> Observation {
        self.begin();
        let mut budget = self.budget();
        for sample in samples {
            offer(&mut self.metrics, sample, &mut budget);
        }
        self.commit(at_ms)
    }

    /// Records a scrape that could not be taken (unreachable endpoint, timeout): every metric is
    /// [`Unavailable::ScrapeFailed`] with `reason`, and loses its starting point, so that the
    /// next good scrape only sets it again (its delta would span the whole gap).
    pub fn failed(&mut self, at_ms: i64, reason: &str) -> Observation {
        self.begin();
        Observation {
            at_ms,
            metrics: self
                .metrics
                .iter_mut()
                .map(|metric| {
                    metric.lose_start();
                    MetricDelta::Unavailable(Unavailable::ScrapeFailed(reason.to_owned()))
                })
                .collect(),
        }
    }

    fn budget(&self) -> Budget {
        Budget {
            limit: self.max_series,
            left: self.max_series,
        }
    }

    fn begin(&mut self) {
        for metric in &mut self.metrics {
            match &mut metric.tracker {
                Tracker::Ratio {
                    numerator,
                    denominator,
                } => {
                    numerator.begin();
                    denominator.begin();
                }
                Tracker::Latency(histogram) => histogram.begin(),
            }
        }
    }

    fn commit(&mut self, at_ms: i64) -> Observation {
        let max_series = self.max_series;
        let metrics = self
            .metrics
            .iter_mut()
            .map(|metric| metric.commit(max_series))
            .collect();
        Observation { at_ms, metrics }
    }
}

fn offer(metrics: &mut [Tracked], sample: &Sample<'_>, budget: &mut Budget) {
    for metric in metrics {
        match &mut metric.tracker {
            Tracker::Ratio {
                numerator,
                denominator,
            } => {
                numerator.offer(sample, budget);
                denominator.offer(sample, budget);
            }
            Tracker::Latency(histogram) => histogram.offer(sample, budget),
        }
    }
}

impl Tracked {
    fn commit(&mut self, max_series: usize) -> MetricDelta {
        let result = match &mut self.tracker {
            Tracker::Ratio {
                numerator,
                denominator,
            } => commit_ratio(numerator, denominator, self.started, max_series),
            Tracker::Latency(histogram) => commit_latency(histogram, self.started, max_series),
        };
        match result {
            Ok(delta) => {
                self.started = true;
                delta
            }
            Err(Skipped::Started(reason)) => {
                self.started = true;
                let reason = match reason {
                    Unavailable::FirstScrape if std::mem::take(&mut self.failed) => {
                        Unavailable::ScrapeFailed(
                            "a scrape failed before this one, which only sets the starting \
                             point again"
                                .to_owned(),
                        )
                    }
                    other => other,
                };
                MetricDelta::Unavailable(reason)
            }
            Err(Skipped::Untouched(reason)) => {
                self.lose_start();
                MetricDelta::Unavailable(reason)
            }
        }
    }

    /// Forgets the starting point after a failed scrape.
    fn lose_start(&mut self) {
        self.failed |= self.started;
        self.started = false;
    }
}

/// Why a metric has no delta this scrape, and whether its state moved on.
enum Skipped {
    /// The state now holds this scrape (first scrape, counter reset).
    Started(Unavailable),
    /// The state was left as it was (bad scrape, no series, broken histogram).
    Untouched(Unavailable),
}

fn commit_ratio(
    numerator: &mut CounterTracker,
    denominator: &mut CounterTracker,
    started: bool,
    max_series: usize,
) -> Result<MetricDelta, Skipped> {
    for side in [&*numerator, &*denominator] {
        if let Some(issue) = side.issue() {
            let message = issue.message(&side.selector.to_string());
            return Err(Skipped::Untouched(Unavailable::ScrapeFailed(message)));
        }
    }
    if !denominator.staged_any() {
        let selector = denominator.selector.to_string();
        return Err(Skipped::Untouched(Unavailable::NoSeries(selector)));
    }
    let steps = started.then(|| (numerator.step(), denominator.step()));
    numerator.commit(max_series);
    denominator.commit(max_series);
    let Some((events, trials)) = steps else {
        return Err(Skipped::Started(Unavailable::FirstScrape));
    };
    if let Some(series) = events.reset.or(trials.reset) {
        return Err(Skipped::Started(Unavailable::CounterReset(series)));
    }
    plausible(
        MetricDelta::Ratio {
            events: events.increase,
            trials: trials.increase,
        },
        &denominator.selector.to_string(),
    )
}

fn commit_latency(
    histogram: &mut HistogramTracker,
    started: bool,
    max_series: usize,
) -> Result<MetricDelta, Skipped> {
    if let Some(issue) = histogram.issue() {
        let message = issue.message(&histogram.selector.to_string());
        return Err(Skipped::Untouched(Unavailable::ScrapeFailed(message)));
    }
    if !histogram.staged_any() {
        let selector = histogram.selector.to_string();
        return Err(Skipped::Untouched(Unavailable::NoSeries(selector)));
    }
    if let Err(why) = histogram.validate() {
        return Err(Skipped::Untouched(Unavailable::NonMonotoneHistogram(why)));
    }
    let step = started.then(|| histogram.step());
    histogram.commit(max_series);
    match step {
        None => Err(Skipped::Started(Unavailable::FirstScrape)),
        Some(HistogramStep::Reset(series)) => {
            Err(Skipped::Started(Unavailable::CounterReset(series)))
        }
        Some(HistogramStep::Delta {
            upper_bounds,
            cumulative,
        }) => plausible(
            MetricDelta::Histogram {
                upper_bounds,
                cumulative,
            },
            &histogram.selector.to_string(),
        ),
    }
}
