//! Histogram series picked by one latency selector: their `_bucket` (and `_count`) samples per
//! label set, checked to be cumulative, and their per-bucket increases summed across series.

use std::collections::HashMap;

use super::cumulative::CumulativeSum;
use super::staging::{Budget, StageIssue, check_count, note, series_key, show_bound};
use crate::expo::Sample;
use crate::selector::Selector;

/// The buckets of one histogram series: `(upper bound, cumulative count)` sorted by bound.
type Buckets = Vec<(f64, f64)>;

/// What one scrape offered for one series (a label set, `le` aside).
#[derive(Debug, Default)]
struct StagedSeries {
    buckets: Buckets,
    count: Option<f64>,
    malformed: Option<String>,
}

/// The increase of a histogram between the stored state and the staged scrape.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum HistogramStep {
    /// Summed cumulative increases at the bounds every series shares, ending with `+Inf`.
    Delta {
        /// Upper bounds, ascending.
        upper_bounds: Vec<f64>,
        /// Cumulative increase at each bound.
        cumulative: Vec<f64>,
    },
    /// A series (named) went down somewhere: the process restarted.
    Reset(String),
}

/// Tracks the bucket series of one histogram selector.
#[derive(Debug)]
pub(super) struct HistogramTracker {
    /// The selector, naming the family.
    pub(super) selector: Selector,
    bucket_name: String,
    count_name: String,
    last: HashMap<String, (Buckets, u64)>,
    generation: u64,
    staged: HashMap<String, StagedSeries>,
    issue: Option<StageIssue>,
}

impl HistogramTracker {
    /// A tracker with no history.
    pub(super) fn new(selector: Selector) -> Self {
        HistogramTracker {
            bucket_name: format!("{}_bucket", selector.metric),
            count_name: format!("{}_count", selector.metric),
            selector,
            last: HashMap::new(),
            generation: 0,
            staged: HashMap::new(),
            issue: None,
        }
    }

    /// Forgets what the previous scrape staged.
    pub(super) fn begin(&mut self) {
        self.staged.clear();
        self.issue = None;
    }

    /// Stages `sample` if it is a bucket or the count of a selected series.
    pub(super) fn offer(&mut self, sample: &Sample<'_>, budget: &mut Budget) {
        let is_bucket = sample.name == self.bucket_name;
        if !is_bucket && sample.name != self.count_name {
            return;
        }
        if !self
            .selector
            .matches_labels(&self.selector.metric, sample.labels)
        {
            return;
        }
        let key = series_key(&self.selector.metric, sample.labels, Some("le"));
        let value = match check_count(&key, sample.value) {
            Ok(value) => value,
            Err(issue) => return note(&mut self.issue, issue),
        };
        if !budget.take() {
            return note(
                &mut self.issue,
                StageIssue::TooManySeries {
                    limit: budget.limit,
                },
            );
        }
        let series = self.staged.entry(key).or_default();
        if !is_bucket {
            series.count = Some(value);
            return;
        }
        let le = sample.labels.iter().find(|l| l.name == "le");
        match le.map(|l| (l, l.value.trim().parse::<f64>())) {
            Some((_, Ok(bound))) if !bound.is_nan() => series.buckets.push((bound + 0.0, value)),
            Some((label, _)) => {
                series.malformed = Some(format!("bucket le={:?} is not a number", label.value));
            }
            None => series.malformed = Some("a bucket has no le label".to_owned()),
        }
    }

    /// The problem of this scrape, if any.
    pub(super) fn issue(&self) -> Option<&StageIssue> {
        self.issue.as_ref()
    }

    /// Whether the current scrape matched any bucket.
    pub(super) fn staged_any(&self) -> bool {
        self.staged.values().any(|s| !s.buckets.is_empty())
    }

    /// Sorts the staged buckets and checks each series is a sound cumulative histogram: bounds
    /// unique, counts non-decreasing, a `+Inf` bucket equal to `_count` when that is given.
    pub(super) fn validate(&mut self) -> Result<(), String> {
        for series in self.staged.values_mut() {
            series.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let mut keys: Vec<&String> = self.staged.keys().collect();
        keys.sort();
        for key in keys {
            if let Some(series) = self.staged.get(key) {
                check_series(series).map_err(|why| format!("{key}: {why}"))?;
            }
        }
        Ok(())
    }

    /// The summed increase from the stored state; call after [`Self::validate`] succeeded.
    pub(super) fn step(&self) -> HistogramStep {
        let mut keys: Vec<&String> = self.staged.keys().collect();
        keys.sort();
        let mut sum = CumulativeSum::default();
        for key in keys {
            let Some(now) = self.staged.get(key) else {
                continue;
            };
            let delta = match self.last.get(key) {
                Some((before, _)) => match series_increase(before, &now.buckets) {
                    Some(delta) => delta,
                    None => return HistogramStep::Reset(key.clone()),
                },
                None => now.buckets.clone(),
            };
            sum.add(&delta);
        }
        let (upper_bounds, cumulative) = sum.into_parts();
        HistogramStep::Delta {
            upper_bounds,
            cumulative,
        }
    }

    /// Makes the staged scrape the stored state (series absent from it are kept unless the state
    /// outgrows `max_series`).
    pub(super) fn commit(&mut self, max_series: usize) {
        self.generation += 1;
        let generation = self.generation;
        for (key, series) in self.staged.drain() {
            if !series.buckets.is_empty() {
                self.last.insert(key, (series.buckets, generation));
            }
        }
        let stored: usize = self.last.values().map(|(b, _)| b.len()).sum();
        if stored > max_series {
            self.last.retain(|_, (_, g)| *g == generation);
        }
    }
}

fn check_series(series: &StagedSeries) -> Result<(), String> {
    if let Some(why) = &series.malformed {
        return Err(why.clone());
    }
    let buckets = &series.buckets;
    for pair in buckets.windows(2) {
        let ((lo, lo_count), (hi, hi_count)) = (pair[0], pair[1]);
        if lo == hi {
            return Err(format!("bucket le=\"{}\" appears twice", show_bound(lo)));
        }
        if hi_count < lo_count {
            return Err(format!(
                "buckets are not cumulative: le=\"{}\" holds {hi_count} but le=\"{}\" holds {lo_count}",
                show_bound(hi),
                show_bound(lo)
            ));
        }
    }
    let Some(&(last_bound, total)) = buckets.last() else {
        return Err("a _count without any bucket".to_owned());
    };
    if last_bound != f64::INFINITY {
        return Err("no le=\"+Inf\" bucket".to_owned());
    }
    if let Some(count) = series.count
        && (count - total).abs() > 1e-9 * count.abs().max(1.0)
    {
        return Err(format!(
            "_count {count} disagrees with the +Inf bucket {total}"
        ));
    }
    Ok(())
}

/// Per-bound increase at the bounds both scrapes share (both sorted by bound), or `None` if any
/// cumulative count or any single bucket's own count went down (a restart).
fn series_increase(before: &[(f64, f64)], now: &[(f64, f64)]) -> Option<Buckets> {
    let mut delta: Buckets = Vec::with_capacity(now.len());
    let mut old = before.iter().peekable();
    for &(bound, count) in now {
        while old.next_if(|(b, _)| *b < bound).is_some() {}
        if let Some(&(_, old_count)) = old.next_if(|(b, _)| *b == bound) {
            let increase = count - old_count;
            let below = delta.last().map_or(0.0, |&(_, d)| d);
            if increase < 0.0 || increase < below {
                return None;
            }
            delta.push((bound, increase));
        }
    }
    Some(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_uses_shared_bounds_and_flags_bucket_drops() {
        let before = [(0.1, 1.0), (0.5, 3.0), (f64::INFINITY, 4.0)];
        let now = [(0.1, 2.0), (0.5, 5.0), (f64::INFINITY, 8.0)];
        assert_eq!(
            series_increase(&before, &now),
            Some(vec![(0.1, 1.0), (0.5, 2.0), (f64::INFINITY, 4.0)])
        );
        let layout_changed = [(0.25, 2.0), (0.5, 3.0), (f64::INFINITY, 6.0)];
        assert_eq!(
            series_increase(&before, &layout_changed),
            Some(vec![(0.5, 0.0), (f64::INFINITY, 2.0)])
        );
        let bucket_dropped = [(0.1, 3.0), (0.5, 4.0), (f64::INFINITY, 5.0)];
        assert_eq!(series_increase(&before, &bucket_dropped), None);
    }
}
