//! A bounded ring of observations and per-metric totals over a time range.

use std::collections::VecDeque;

use super::cumulative::CumulativeSum;
use super::{MetricDelta, Observation, Unavailable};

/// The most recent observations of one app, at most `capacity` of them (the oldest is dropped).
#[derive(Debug, Clone)]
pub struct Window {
    capacity: usize,
    observations: VecDeque<Observation>,
}

/// One metric's deltas summed over a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeTotal {
    /// The summed delta ([`MetricDelta::Ratio`] or [`MetricDelta::Histogram`], the latter at the
    /// bounds every summed tick shares); `None` if no tick in the range had a usable delta.
    pub total: Option<MetricDelta>,
    /// Ticks whose delta was summed.
    pub used_ticks: usize,
    /// Ticks in the range without a usable delta.
    pub unavailable_ticks: usize,
    /// The reason of the latest unavailable tick in the range.
    pub last_unavailable: Option<Unavailable>,
}

/// Sums `observations` per metric into one observation at `at_ms`, `width` metrics wide (a
/// metric with no usable delta among them is unavailable with the latest reason): several
/// peers' windows over one range, or one second of a previous revision's pods.
pub fn total(observations: Vec<Observation>, width: usize, at_ms: i64) -> Observation {
    let mut window = Window::new(observations.len());
    for observation in observations {
        window.push(observation);
    }
    let mut totals = window.sum(i64::MIN, i64::MAX).into_iter();
    let metrics = (0..width)
        .map(|_| match totals.next() {
            Some(range) => range.total.unwrap_or_else(|| {
                MetricDelta::Unavailable(range.last_unavailable.unwrap_or_else(nothing_in_range))
            }),
            None => MetricDelta::Unavailable(nothing_in_range()),
        })
        .collect();
    Observation { at_ms, metrics }
}

fn nothing_in_range() -> Unavailable {
    Unavailable::ScrapeFailed("no observation in the range".to_string())
}

impl Window {
    /// An empty window holding at most `capacity` observations (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Window {
            capacity,
            observations: VecDeque::with_capacity(capacity.min(4096)),
        }
    }

    /// Most observations kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Observations held.
    pub fn len(&self) -> usize {
        self.observations.len()
    }

    /// Whether the window holds nothing.
    pub fn is_empty(&self) -> bool {
        self.observations.is_empty()
    }

    /// Adds an observation, dropping the oldest when full.
    pub fn push(&mut self, observation: Observation) {
        if self.observations.len() == self.capacity {
            self.observations.pop_front();
        }
        self.observations.push_back(observation);
    }

    /// The observations held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Observation> {
        self.observations.iter()
    }

    /// Sums, per metric, the deltas of the observations taken after `after_ms` and up to and
    /// including `through_ms` (a delta covers the interval ending at its scrape). One entry per
    /// metric, in spec order.
    pub fn sum(&self, after_ms: i64, through_ms: i64) -> Vec<RangeTotal> {
        let width = self
            .observations
            .iter()
            .map(|o| o.metrics.len())
            .max()
            .unwrap_or(0);
        let mut totals: Vec<Accumulator> = (0..width).map(|_| Accumulator::default()).collect();
        let in_range = |o: &&Observation| o.at_ms > after_ms && o.at_ms <= through_ms;
        let mut ordered: Vec<&Observation> = self.observations.iter().filter(in_range).collect();
        ordered.sort_by_key(|o| o.at_ms);
        for observation in ordered {
            for (total, delta) in totals.iter_mut().zip(&observation.metrics) {
                total.add(delta);
            }
        }
        totals.into_iter().map(Accumulator::finish).collect()
    }
}

#[derive(Debug, Default)]
struct Accumulator {
    ratio: Option<(f64, f64)>,
    histogram: CumulativeSum,
    used_ticks: usize,
    unavailable_ticks: usize,
    last_unavailable: Option<Unavailable>,
}

impl Accumulator {
    fn add(&mut self, delta: &MetricDelta) {
        match delta {
            MetricDelta::Ratio { events, trials } => {
                let (e, t) = self.ratio.get_or_insert((0.0, 0.0));
                *e += events;
                *t += trials;
                self.used_ticks += 1;
            }
            MetricDelta::Histogram {
                upper_bounds,
                cumulative,
            } => {
                self.histogram.add_parts(upper_bounds, cumulative);
                self.used_ticks += 1;
            }
            MetricDelta::Unavailable(reason) => {
                self.unavailable_ticks += 1;
                self.last_unavailable = Some(reason.clone());
            }
        }
    }

    fn finish(self) -> RangeTotal {
        let total = match self.ratio {
            Some((events, trials)) => Some(MetricDelta::Ratio { events, trials }),
            None if !self.histogram.is_empty() => {
                let (upper_bounds, cumulative) = self.histogram.into_parts();
                Some(MetricDelta::Histogram {
                    upper_bounds,
                    cumulative,
                })
            }
            None => None,
        };
        RangeTotal {
            total,
            used_ticks: self.used_ticks,
            unavailable_ticks: self.unavailable_ticks,
            last_unavailable: self.last_unavailable,
        }
    }
}
