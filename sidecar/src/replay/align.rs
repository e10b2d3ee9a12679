//! Lines the baseline recording up against the canary's: which baseline scrapes are pre-release
//! history and which baseline scrapes make up each canary tick.
//!
//! The rule, with `c₀ < c₁ < …` the canary's scrape times and `h` half the canary's median scrape
//! interval:
//! - a baseline scrape taken before `c₀` is pre-release history;
//! - any other baseline scrape at `b` belongs to the first canary tick `k` with `b ≤ cₖ + h`: the
//!   canary scrape nearest in time, within half an interval; when the canary paused for longer
//!   than an interval, the baseline scrapes of the pause join the next tick (their deltas add up);
//! - baseline scrapes after the canary's last scrape + `h` are not judged.
//!
//! A tick without any baseline scrape gets an unavailable baseline observation; the baseline delta
//! that follows covers the gap, so no baseline count is lost.

use std::ops::Range;

use crate::window::{MetricDelta, Observation, Unavailable};

/// Half-interval used when the canary has a single scrape, so no interval can be measured.
pub const DEFAULT_HALF_INTERVAL_MS: i64 = 500;

/// Which baseline scrapes go where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alignment {
    /// Indices of the baseline scrapes taken before the canary's first scrape.
    pub history: Range<usize>,
    /// For each canary scrape, in order, the indices of the baseline scrapes of its tick.
    pub ticks: Vec<Range<usize>>,
    /// Baseline scrapes after the canary's last tick, not judged.
    pub unused: usize,
    /// Half the canary's median scrape interval, milliseconds.
    pub half_interval_ms: i64,
}

/// Aligns baseline scrape times with canary scrape times; both are strictly increasing.
pub fn align(canary_ms: &[i64], baseline_ms: &[i64]) -> Alignment {
    let half_interval_ms = half_median_interval(canary_ms);
    let first_canary = canary_ms.first().copied().unwrap_or(i64::MIN);
    let history_end = baseline_ms.partition_point(|&b| b < first_canary);
    let mut start = history_end;
    let ticks: Vec<Range<usize>> = canary_ms
        .iter()
        .map(|&c| {
            let limit = c.saturating_add(half_interval_ms);
            let end = start
                + baseline_ms
                    .get(start..)
                    .unwrap_or_default()
                    .partition_point(|&b| b <= limit);
            let tick = start..end;
            start = end;
            tick
        })
        .collect();
    Alignment {
        history: 0..history_end,
        ticks,
        unused: baseline_ms.len().saturating_sub(start),
        half_interval_ms,
    }
}

/// Half the median gap between successive times, or [`DEFAULT_HALF_INTERVAL_MS`].
fn half_median_interval(times_ms: &[i64]) -> i64 {
    let mut gaps: Vec<i64> = times_ms
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    if gaps.is_empty() {
        return DEFAULT_HALF_INTERVAL_MS;
    }
    gaps.sort_unstable();
    gaps[gaps.len() / 2] / 2
}

/// Adds up the baseline observations of one tick into one observation over their whole span.
///
/// Per metric, the available deltas are summed (histograms only when their bucket bounds agree)
/// and unavailable ones are left out: the judge conditions on each arm's own trials, so a partial
/// interval is still honest evidence. Only when no part is available is the tick's delta
/// unavailable, for the last part's reason. `None` means there was no observation at all.
pub fn combine(parts: &[Observation], metrics: usize) -> Option<Observation> {
    let last = parts.last()?;
    let metrics = (0..metrics)
        .map(|index| {
            let deltas: Vec<&MetricDelta> =
                parts.iter().filter_map(|p| p.metrics.get(index)).collect();
            combine_metric(&deltas)
        })
        .collect();
    Some(Observation {
        at_ms: last.at_ms,
        metrics,
    })
}

/// An observation in which every metric is unavailable for the same reason.
pub(super) fn unavailable(at_ms: i64, metrics: usize, why: &Unavailable) -> Observation {
    Observation {
        at_ms,
        metrics: vec![MetricDelta::Unavailable(why.clone()); metrics],
    }
}

fn combine_metric(deltas: &[&MetricDelta]) -> MetricDelta {
    let mut total: Option<MetricDelta> = None;
    let mut last_reason = Unavailable::NoSeries(String::from("no observation"));
    for delta in deltas {
        match delta {
            MetricDelta::Unavailable(why) => last_reason = why.clone(),
            available => {
                total = Some(match total {
                    None => (*available).clone(),
                    Some(sum) => add(sum, available),
                });
            }
        }
    }
    total.unwrap_or(MetricDelta::Unavailable(last_reason))
}

fn add(sum: MetricDelta, more: &MetricDelta) -> MetricDelta {
    match (sum, more) {
        (
            MetricDelta::Ratio { events, trials },
            MetricDelta::Ratio {
                events: e,
                trials: t,
            },
        ) => MetricDelta::Ratio {
            events: events + e,
            trials: trials + t,
        },
        (
            MetricDelta::Histogram {
                upper_bounds,
                cumulative,
            },
            MetricDelta::Histogram {
                upper_bounds: bounds,
                cumulative: more_counts,
            },
        ) if upper_bounds == *bounds && cumulative.len() == more_counts.len() => {
            let cumulative = cumulative
                .iter()
                .zip(more_counts)
                .map(|(a, b)| a + b)
                .collect();
            MetricDelta::Histogram {
                upper_bounds,
                cumulative,
            }
        }
        _ => MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(String::from(
            "histogram bucket bounds changed between baseline scrapes of one tick",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(events: f64, trials: f64) -> MetricDelta {
        MetricDelta::Ratio { events, trials }
    }

    fn histogram(bounds: &[f64], cumulative: &[f64]) -> MetricDelta {
        MetricDelta::Histogram {
            upper_bounds: bounds.to_vec(),
            cumulative: cumulative.to_vec(),
        }
    }

    #[test]
    fn baseline_before_the_canary_is_history_and_the_rest_matches_the_nearest_tick() {
        let canary = [10_000, 11_000, 12_000, 13_000];
        let baseline = [7_300, 8_300, 9_300, 10_300, 11_300, 12_300, 13_300, 14_300];
        let aligned = align(&canary, &baseline);
        assert_eq!(aligned.half_interval_ms, 500);
        assert_eq!(aligned.history, 0..3);
        assert_eq!(aligned.ticks, vec![3..4, 4..5, 5..6, 6..7]);
        assert_eq!(aligned.unused, 1);
    }

    #[test]
    fn a_baseline_just_before_the_canary_tick_joins_it() {
        let aligned = align(&[1_000, 2_000, 3_000], &[600, 1_900, 2_800, 3_400]);
        assert_eq!(aligned.history, 0..1);
        assert_eq!(aligned.ticks, vec![1..1, 1..2, 2..4]);
    }

    #[test]
    fn a_canary_pause_combines_the_baseline_scrapes_in_it() {
        let canary = [0, 1_000, 2_000, 6_000, 7_000];
        let baseline = [100, 1_100, 2_100, 3_100, 4_100, 5_100, 6_100, 7_100];
        let aligned = align(&canary, &baseline);
        assert_eq!(aligned.ticks, vec![0..1, 1..2, 2..3, 3..7, 7..8]);
        let assigned: usize = aligned.ticks.iter().map(|t| t.len()).sum();
        assert_eq!(
            assigned + aligned.history.len() + aligned.unused,
            baseline.len()
        );
    }

    #[test]
    fn a_baseline_pause_leaves_ticks_empty() {
        let aligned = align(&[0, 1_000, 2_000, 3_000], &[0, 3_000]);
        assert_eq!(aligned.ticks, vec![0..1, 1..1, 1..1, 1..2]);
    }

    #[test]
    fn a_single_canary_scrape_uses_the_default_half_interval() {
        let aligned = align(&[5_000], &[4_000, 5_400, 5_600]);
        assert_eq!(aligned.half_interval_ms, DEFAULT_HALF_INTERVAL_MS);
        assert_eq!(aligned.ticks, vec![1..2]);
        assert_eq!(aligned.unused, 1);
    }

    #[test]
    fn combining_adds_available_deltas_and_skips_unavailable_ones() {
        let bounds = [0.1, 1.0, f64::INFINITY];
        let parts = [
            Observation {
                at_ms: 1,
                metrics: vec![ratio(1.0, 10.0), histogram(&bounds, &[1.0, 2.0, 3.0])],
            },
            Observation {
                at_ms: 2,
                metrics: vec![
                    MetricDelta::Unavailable(Unavailable::CounterReset("x".into())),
                    histogram(&bounds, &[0.0, 4.0, 4.0]),
                ],
            },
            Observation {
                at_ms: 3,
                metrics: vec![ratio(2.0, 5.0), histogram(&bounds, &[1.0, 1.0, 1.0])],
            },
        ];
        let total = combine(&parts, 2).unwrap();
        assert_eq!(total.at_ms, 3);
        assert_eq!(
            total.metrics,
            vec![ratio(3.0, 15.0), histogram(&bounds, &[2.0, 7.0, 8.0])]
        );
    }

    #[test]
    fn combining_only_unavailable_parts_keeps_the_last_reason() {
        let reset = Unavailable::CounterReset("http_requests_total".into());
        let parts = [
            unavailable(1, 1, &Unavailable::FirstScrape),
            unavailable(2, 1, &reset),
        ];
        assert_eq!(
            combine(&parts, 1).unwrap().metrics,
            vec![MetricDelta::Unavailable(reset)]
        );
        assert_eq!(combine(&[], 1), None);
    }

    #[test]
    fn histograms_with_different_bounds_do_not_add_up() {
        let parts = [
            Observation {
                at_ms: 1,
                metrics: vec![histogram(&[1.0, f64::INFINITY], &[1.0, 2.0])],
            },
            Observation {
                at_ms: 2,
                metrics: vec![histogram(&[2.0, f64::INFINITY], &[1.0, 2.0])],
            },
        ];
        let total = combine(&parts, 1).unwrap();
        assert!(matches!(
            total.metrics[0],
            MetricDelta::Unavailable(Unavailable::NonMonotoneHistogram(_))
        ));
    }
}
