//! Simulated canary/baseline streams for the judge's integration tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution, LogNormal, Poisson};
use ripcord_sidecar::judge::{Judge, JudgeConfig};
use ripcord_sidecar::selector::Selector;
use ripcord_sidecar::spec::{Direction, MetricSpec, Signal, WatchSpec};
use ripcord_sidecar::verdict::Decision;
use ripcord_sidecar::window::{MetricDelta, Observation};

pub use ripcord_sidecar::sim::latency::DEFAULT_BUCKETS;

fn selector(name: &str) -> Selector {
    Selector {
        metric: name.to_string(),
        matchers: Vec::new(),
    }
}

pub fn ratio_metric(name: &str, direction: Direction, tolerance: f64) -> MetricSpec {
    MetricSpec {
        name: name.to_string(),
        signal: Signal::Ratio {
            numerator: selector("events_total"),
            denominator: selector("trials_total"),
        },
        direction,
        tolerance,
        limit: None,
        line: 1,
    }
}

pub fn latency_metric(quantile: f64, tolerance: f64) -> MetricSpec {
    MetricSpec {
        name: "latency".to_string(),
        signal: Signal::Latency {
            histogram: selector("duration_seconds"),
            quantile,
        },
        direction: Direction::Max,
        tolerance,
        limit: None,
        line: 2,
    }
}

pub fn spec(metrics: Vec<MetricSpec>) -> WatchSpec {
    WatchSpec { metrics }
}

pub fn observation(at_ms: i64, metrics: Vec<MetricDelta>) -> Observation {
    Observation { at_ms, metrics }
}

pub fn ratio(events: f64, trials: f64) -> MetricDelta {
    MetricDelta::Ratio { events, trials }
}

/// One arm of a simulated ratio metric: Poisson requests per second, Bernoulli events.
#[derive(Debug, Clone, Copy)]
pub struct RatioArm {
    pub requests_per_second: f64,
    pub rate: f64,
}

pub struct Sim {
    rng: StdRng,
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        Sim {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    pub fn requests(&mut self, per_second: f64) -> u64 {
        if per_second <= 0.0 {
            return 0;
        }
        Poisson::new(per_second).unwrap().sample(&mut self.rng) as u64
    }

    pub fn ratio_delta(&mut self, arm: RatioArm) -> MetricDelta {
        let n = self.requests(arm.requests_per_second);
        let x = Binomial::new(n, arm.rate).unwrap().sample(&mut self.rng);
        ratio(x as f64, n as f64)
    }

    /// A histogram delta of lognormal latencies with the given median and log-scale sigma.
    pub fn latency_delta(
        &mut self,
        requests_per_second: f64,
        median: f64,
        sigma: f64,
    ) -> MetricDelta {
        let n = self.requests(requests_per_second);
        let distribution = LogNormal::new(median.ln(), sigma).unwrap();
        let mut cumulative = vec![0.0; DEFAULT_BUCKETS.len()];
        for _ in 0..n {
            let value: f64 = distribution.sample(&mut self.rng);
            let first = DEFAULT_BUCKETS.iter().position(|b| value <= *b).unwrap();
            for c in &mut cumulative[first..] {
                *c += 1.0;
            }
        }
        MetricDelta::Histogram {
            upper_bounds: DEFAULT_BUCKETS.to_vec(),
            cumulative,
        }
    }
}

/// Runs a single-ratio-metric release for up to `ticks` seconds; returns the final decision and
/// the tick (1-based) it was reached at, if decided.
pub fn run_ratio(
    seed: u64,
    metric: MetricSpec,
    canary: RatioArm,
    baseline: RatioArm,
    ticks: u64,
    stop_on: &[Decision],
) -> (Decision, Option<u64>) {
    let mut sim = Sim::new(seed);
    let mut judge = Judge::new(&spec(vec![metric]), JudgeConfig { alpha: 0.01 });
    let mut history = Vec::new();
    for _ in 0..60 {
        history.push(sim.ratio_delta(baseline));
    }
    for delta in history {
        judge.baseline_history(&observation(0, vec![delta]));
    }
    for t in 1..=ticks {
        let at = t as i64 * 1000;
        let a = observation(at, vec![sim.ratio_delta(canary)]);
        let b = observation(at, vec![sim.ratio_delta(baseline)]);
        let decision = judge.tick(&a, &b);
        if stop_on.contains(&decision) {
            return (decision, Some(t));
        }
    }
    (judge.decision(), None)
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
