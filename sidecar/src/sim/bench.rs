//! Runs every scenario × traffic level × policy on shared seeded streams, in parallel, and collects
//! false-alarm rates, detection times and Ripcord's early decisions.

use std::collections::HashMap;

use rayon::prelude::*;

use super::Result;
use super::policy::oracle::Truth;
use super::policy::{Policy, PolicyKind};
use super::scenario::{self, Scenario, Traffic};
use super::stream::{ReleaseSim, release_seed};
use super::watch::Watch;
use crate::verdict::Decision;

/// Seconds of baseline history before the release handed to every policy.
pub const HISTORY_S: u32 = 300;
/// Seconds after release at which Ripcord's A/A decisions are tallied.
pub const EARLY_MARKS_S: [u32; 4] = [60, 120, 300, 600];

/// Ripcord's decision on a watch (by name) at a second after release.
pub type EarlyDecision = (String, u32, Decision);

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Releases per regression scenario and traffic level.
    pub releases: usize,
    /// A/A releases per traffic level.
    pub aa_releases: usize,
    /// Seed of the whole run.
    pub seed: u64,
    /// Seconds a release is watched.
    pub horizon_s: u32,
    /// Policies to run.
    pub policies: Vec<PolicyKind>,
}

/// One policy instance in one release: which watch, which policy, when it fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Name of the watch.
    pub watch: String,
    /// Which policy.
    pub policy: PolicyKind,
    /// Seconds after release it fired, `None` if it did not within the horizon.
    pub fired_at: Option<u32>,
}

/// Everything one simulated release produced.
#[derive(Debug, Clone)]
pub struct ReleaseOutcome {
    /// Index into [`Traffic::levels`].
    pub traffic: usize,
    /// Index into the regression scenarios, `None` for A/A.
    pub scenario: Option<usize>,
    /// Every policy instance's firing time.
    pub detections: Vec<Detection>,
    /// Ripcord's decision per watch at each of [`EARLY_MARKS_S`] (A/A only).
    pub early: Vec<EarlyDecision>,
}

struct Instance {
    watch: String,
    policy: PolicyKind,
    inner: Box<dyn Policy>,
    fired_at: Option<u32>,
}

/// Simulates one release and feeds every policy of every watch the same stream. The oracle SPRT is
/// handed the scenario's true parameters; in A/A it has no alternative and is left out.
pub fn run_release(
    scenario: &Scenario,
    traffic: Traffic,
    watches: &[Watch],
    policies: &[PolicyKind],
    seed: u64,
    horizon_s: u32,
) -> Result<(Vec<Detection>, Vec<EarlyDecision>)> {
    let mut sim = ReleaseSim::new(scenario, traffic, seed)?;
    let history = sim.history(HISTORY_S)?;
    let truth = &Truth {
        canary: scenario.canary,
        baseline: scenario.baseline,
        traffic,
    };
    let mut instances: Vec<Instance> = watches
        .iter()
        .flat_map(|w| {
            policies
                .iter()
                .filter(|p| !(scenario.is_aa() && p.needs_truth()))
                .map(move |&p| Instance {
                    watch: w.name.clone(),
                    policy: p,
                    inner: p.build_knowing(w, Some(truth)),
                    fired_at: None,
                })
        })
        .collect();
    for instance in &mut instances {
        instance.inner.history(&history);
    }
    let mut early = Vec::new();
    for _ in 0..horizon_s {
        let tick = sim.next_tick()?;
        let mut live = 0;
        for instance in instances.iter_mut().filter(|i| i.fired_at.is_none()) {
            if instance.inner.observe(&tick) {
                instance.fired_at = Some(tick.second);
            } else {
                live += 1;
            }
        }
        if scenario.is_aa() && EARLY_MARKS_S.contains(&tick.second) {
            for instance in &instances {
                if let Some(decision) = instance.inner.decision() {
                    let decision = if instance.fired_at.is_some() {
                        Decision::Fail
                    } else {
                        decision
                    };
                    early.push((instance.watch.clone(), tick.second, decision));
                }
            }
        }
        if live == 0 {
            break;
        }
    }
    let detections = instances
        .into_iter()
        .map(|i| Detection {
            watch: i.watch,
            policy: i.policy,
            fired_at: i.fired_at,
        })
        .collect();
    Ok((detections, early))
}

/// The scenarios and watches of a run, and every outcome.
#[derive(Debug, Clone)]
pub struct BenchResults {
    /// What ran.
    pub config: BenchConfig,
    /// The regression scenarios, in table order.
    pub regressions: Vec<Scenario>,
    /// Every release's outcome.
    pub outcomes: Vec<ReleaseOutcome>,
}

/// Runs the whole benchmark in parallel.
pub fn run(config: &BenchConfig) -> Result<BenchResults> {
    let regressions = scenario::regressions()?;
    let aa = scenario::aa()?;
    let aa_watches = scenario::watches_for_aa(&regressions);
    let levels = Traffic::levels();
    let mut jobs: Vec<(usize, Option<usize>, usize)> = Vec::new();
    for t in 0..levels.len() {
        jobs.extend((0..config.aa_releases).map(|r| (t, None, r)));
        for s in 0..regressions.len() {
            jobs.extend((0..config.releases).map(|r| (t, Some(s), r)));
        }
    }
    let outcomes = jobs
        .par_iter()
        .map(|&(t, s, r)| {
            let (scenario, watches) = match s {
                None => (&aa, aa_watches.clone()),
                Some(i) => (
                    &regressions[i],
                    regressions[i]
                        .alone
                        .iter()
                        .cloned()
                        .chain([regressions[i].all.clone()])
                        .collect(),
                ),
            };
            let seed = release_seed(
                config.seed,
                s.map_or(0, |i| i as u64 + 1),
                t as u64,
                r as u64,
            );
            let (detections, early) = run_release(
                scenario,
                levels[t],
                &watches,
                &config.policies,
                seed,
                config.horizon_s,
            )?;
            Ok(ReleaseOutcome {
                traffic: t,
                scenario: s,
                detections,
                early,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(BenchResults {
        config: config.clone(),
        regressions,
        outcomes,
    })
}

/// Key of a group of detections: traffic index, scenario (`None` = A/A), watch name, policy.
pub type GroupKey = (usize, Option<usize>, String, PolicyKind);

impl BenchResults {
    /// Firing times grouped by traffic, scenario, watch and policy.
    pub fn grouped(&self) -> HashMap<GroupKey, Vec<Option<u32>>> {
        let mut groups: HashMap<GroupKey, Vec<Option<u32>>> = HashMap::new();
        for outcome in &self.outcomes {
            for d in &outcome.detections {
                groups
                    .entry((outcome.traffic, outcome.scenario, d.watch.clone(), d.policy))
                    .or_default()
                    .push(d.fired_at);
            }
        }
        groups
    }

    /// Share of A/A releases with each decision of Ripcord on `watch` at `second`: (pass, inconclusive, fail).
    pub fn early_shares(
        &self,
        traffic: usize,
        watch: &str,
        second: u32,
    ) -> Option<(f64, f64, f64)> {
        let decisions: Vec<Decision> = self
            .outcomes
            .iter()
            .filter(|o| o.traffic == traffic && o.scenario.is_none())
            .flat_map(|o| {
                o.early
                    .iter()
                    .filter(|e| e.0 == watch && e.1 == second)
                    .map(|e| e.2)
            })
            .collect();
        if decisions.is_empty() {
            return None;
        }
        let share = |d: Decision| {
            decisions.iter().filter(|&&x| x == d).count() as f64 / decisions.len() as f64
        };
        Some((
            share(Decision::Pass),
            share(Decision::Inconclusive),
            share(Decision::Fail),
        ))
    }
}

/// Summary of firing times: nearest-rank quantiles counting misses as never.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Releases.
    pub n: usize,
    /// Share that fired within the horizon.
    pub fired_share: f64,
    /// Median firing time, `None` if half or more never fired.
    pub median: Option<u32>,
    /// 90th percentile, `None` if more than 10 % never fired.
    pub p90: Option<u32>,
}

/// Summarises firing times (a missing time counts as later than any other).
pub fn summarise(times: &[Option<u32>]) -> Summary {
    let mut sorted: Vec<u32> = times.iter().map(|t| t.unwrap_or(u32::MAX)).collect();
    sorted.sort_unstable();
    let n = sorted.len();
    let rank = |p: f64| -> Option<u32> {
        if n == 0 {
            return None;
        }
        let idx = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
        Some(sorted[idx]).filter(|&v| v != u32::MAX)
    };
    let fired = times.iter().filter(|t| t.is_some()).count();
    Summary {
        n,
        fired_share: if n == 0 { 0.0 } else { fired as f64 / n as f64 },
        median: rank(0.5),
        p90: rank(0.9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_misses_as_never() {
        let s = summarise(&[Some(10), Some(20), None, Some(5)]);
        assert_eq!(s.median, Some(10));
        assert_eq!(s.p90, None);
        assert!((s.fired_share - 0.75).abs() < 1e-12);
        assert_eq!(summarise(&[None, None, Some(1)]).median, None);
    }
}
