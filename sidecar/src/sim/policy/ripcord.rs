//! Ripcord's judge as a benchmark policy: the watch becomes a real [`crate::spec::WatchSpec`], each
//! second's counts become the judge's [`crate::window::Observation`]s, and the 5-minute pre-release
//! baseline history is handed over through [`Judge::baseline_history`] one second at a time.

use super::Policy;
use crate::judge::{Judge, JudgeConfig};
use crate::sim::stream::{ArmCounts, Tick};
use crate::sim::watch::Watch;
use crate::verdict::Decision;

/// Unix milliseconds of the simulated release time.
pub const RELEASE_AT_MS: i64 = 1_767_225_600_000;
/// The judge's family-wise alpha in the benchmark.
pub const ALPHA: f64 = 0.01;

/// Ripcord's judge on one simulated release.
#[derive(Debug)]
pub struct RipcordPolicy {
    watch: Watch,
    judge: Judge,
    decision: Decision,
}

impl RipcordPolicy {
    /// A judge of `watch` at alpha [`ALPHA`].
    pub fn new(watch: &Watch) -> RipcordPolicy {
        RipcordPolicy {
            watch: watch.clone(),
            judge: Judge::new(&watch.spec(), JudgeConfig { alpha: ALPHA }),
            decision: Decision::Inconclusive,
        }
    }
}

fn at_ms(second: i64) -> i64 {
    RELEASE_AT_MS + second * 1000
}

impl Policy for RipcordPolicy {
    fn history(&mut self, baseline: &[ArmCounts]) {
        let n = baseline.len() as i64;
        for (i, counts) in baseline.iter().enumerate() {
            let observation = self.watch.observation(counts, at_ms(i as i64 + 1 - n));
            self.judge.baseline_history(&observation);
        }
    }

    fn observe(&mut self, tick: &Tick) -> bool {
        let at = at_ms(i64::from(tick.second));
        let canary = self.watch.observation(&tick.canary, at);
        let baseline = self.watch.observation(&tick.baseline, at);
        self.decision = self.judge.tick(&canary, &baseline);
        self.decision == Decision::Fail
    }

    fn decision(&self) -> Option<Decision> {
        Some(self.decision)
    }
}
