//! The judge: compares canary and baseline observations each tick with anytime-valid tests and
//! decides pass, fail or inconclusive, with evidence.

use crate::spec::WatchSpec;
use crate::verdict::{Decision, Verdict};
use crate::window::Observation;

/// Settings of the judge.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeConfig {
    /// Family-wise bound on the probability of ever raising a false alarm, across all metrics.
    pub alpha: f64,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig { alpha: 0.01 }
    }
}

/// Judges one release: feed it baseline history, then one canary and one baseline observation per tick.
#[derive(Debug)]
pub struct Judge {
    spec: WatchSpec,
    config: JudgeConfig,
}

impl Judge {
    /// A judge for the metrics of `spec`.
    pub fn new(spec: &WatchSpec, config: JudgeConfig) -> Judge {
        Judge { spec: spec.clone(), config }
    }

    /// Feeds a baseline observation taken before the release (the snapshot handed over at release
    /// time). It informs latency edges and baseline rates; it never counts as canary evidence.
    pub fn baseline_history(&mut self, baseline: &Observation) {
        let _ = baseline;
        unimplemented!("judge helper")
    }

    /// Judges one tick: the canary's and the baseline's deltas over the same interval.
    pub fn tick(&mut self, canary: &Observation, baseline: &Observation) -> Decision {
        let _ = (canary, baseline);
        unimplemented!("judge helper")
    }

    /// The current decision, cheap to ask.
    pub fn decision(&self) -> Decision {
        unimplemented!("judge helper")
    }

    /// The current verdict with full evidence (computes the confidence intervals).
    pub fn verdict(&self) -> Verdict {
        let _ = (&self.spec, &self.config);
        unimplemented!("judge helper")
    }
}
