//! Counter series picked by one selector: staged values of the current scrape and the last
//! trusted value of every series, with Prometheus' reset semantics.

use std::collections::HashMap;

use super::staging::{Budget, StageIssue, check_count, note, series_key};
use crate::expo::Sample;
use crate::selector::Selector;

/// The increase of a selector's series between the stored state and the staged scrape.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CounterStep {
    /// Sum over series of their increase (a reset series counts its new value, from 0).
    pub(super) increase: f64,
    /// The first series (by key order) whose value went down, if any.
    pub(super) reset: Option<String>,
}

/// Tracks the counter series one selector matches.
#[derive(Debug)]
pub(super) struct CounterTracker {
    /// The selector.
    pub(super) selector: Selector,
    /// Last trusted value of every series seen (kept while it is absent, so a series that
    /// disappears and comes back is compared with its old value).
    last: HashMap<String, Remembered>,
    /// Number of commits so far, to tell which stored series the latest scrape carried.
    generation: u64,
    /// Values offered by the current scrape.
    staged: HashMap<String, f64>,
    /// The first problem of the current scrape.
    issue: Option<StageIssue>,
}

impl CounterTracker {
    /// A tracker with no history.
    pub(super) fn new(selector: Selector) -> Self {
        CounterTracker {
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

    /// Stages `sample` if the selector picks it.
    pub(super) fn offer(&mut self, sample: &Sample<'_>, budget: &mut Budget) {
        if !self.selector.matches(sample.name, sample.labels) {
            return;
        }
        let key = series_key(sample.name, sample.labels, None);
        if let Err(issue) = check_count(&key, sample.value) {
            note(&mut self.issue, issue);
            return;
        }
        if !self.staged.contains_key(&key) && !budget.take() {
            note(
                &mut self.issue,
                StageIssue::TooManySeries {
                    limit: budget.limit,
                },
            );
            return;
        }
        self.staged.insert(key, sample.value);
    }

    /// The problem of this scrape, if any.
    pub(super) fn issue(&self) -> Option<&StageIssue> {
        self.issue.as_ref()
    }

    /// Whether the current scrape matched any series.
    pub(super) fn staged_any(&self) -> bool {
        !self.staged.is_empty()
    }

    /// The increase from the stored state to the staged scrape. A series absent from the state
    /// counts from 0 (error counters often appear with the first error).
    pub(super) fn step(&self) -> CounterStep {
        let mut increase = 0.0;
        let mut reset: Option<&String> = None;
        for (key, &now) in &self.staged {
            match self.last.get(key).map(|r| r.value) {
                Some(before) if now < before => {
                    increase += now;
                    if reset.is_none_or(|r| key < r) {
                        reset = Some(key);
                    }
                }
                Some(before) => increase += now - before,
                None => increase += now,
            }
        }
        CounterStep {
            increase,
            reset: reset.cloned(),
        }
    }

    /// Makes the staged scrape the stored state; series absent from it keep their last value
    /// unless the state outgrows `max_series`, in which case they are forgotten.
    pub(super) fn commit(&mut self, max_series: usize) {
        self.generation += 1;
        let generation = self.generation;
        for (key, value) in self.staged.drain() {
            self.last.insert(key, Remembered { value, generation });
        }
        if self.last.len() > max_series {
            self.last.retain(|_, r| r.generation == generation);
        }
    }
}

/// A series' last trusted value and the commit that stored it.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    value: f64,
    generation: u64,
}
