//! The oracle SPRT: Wald's sequential probability ratio test that knows the scenario's true canary
//! and baseline cell probabilities. It is a reference for what the best possible test achieves on
//! the same streams, not a deployable policy: it knows the answer.
//!
//! Simple H1 (the true parameters of both arms) against simple H0 (both arms at the
//! traffic-weighted pooled cell distribution `q̄_c = (n_c·q_canary,c + n_b·q_baseline,c) / (n_c + n_b)`,
//! the null Wald's bound in [`crate::sim::wald`] uses). Each second adds
//! `Σ_arms Σ_cells x_arm,c · ln(q_arm,c / q̄_c)` to the log-likelihood ratio, over every watched
//! metric (the simulator draws them independently, so their likelihoods multiply; a metric that does
//! not regress has `q = q̄` and adds nothing). It fires when the log-LR reaches `ln((1−β)/α)` and
//! abandons the release (never fires in it) when it falls to `ln(β/(1−α))`, with `α = β = 0.01`.
//!
//! In A/A both arms are identical, so the log-LR is zero on every stream: the oracle has no
//! alternative there and the benchmark leaves it out of A/A (its false-alarm column reads `n/a`).

use super::Policy;
use crate::sim::latency::CELLS;
use crate::sim::scenario::{ArmParams, Traffic};
use crate::sim::stream::{ArmCounts, Tick};
use crate::sim::watch::{MetricKind, Watch};

/// Type I error of the oracle SPRT.
pub const ORACLE_ALPHA: f64 = 0.01;
/// Type II error of the oracle SPRT.
pub const ORACLE_BETA: f64 = 0.01;

/// What the oracle knows: both arms' true behaviour and the average traffic that weights the null.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    /// The canary's true parameters.
    pub canary: ArmParams,
    /// The baseline's true parameters.
    pub baseline: ArmParams,
    /// Average requests per second of each arm.
    pub traffic: Traffic,
}

/// Where the oracle's test stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SprtState {
    /// Between the boundaries: keeps sampling.
    Sampling,
    /// Reached the upper boundary: the canary regressed.
    Fired,
    /// Reached the lower boundary: gave up on this release, will never fire.
    Abandoned,
}

/// Per-cell log-likelihood-ratio weights of one metric: `ln(q_arm,c / q̄_c)` for each arm.
#[derive(Debug, Clone, PartialEq)]
struct MetricWeights {
    kind: MetricKind,
    canary: Vec<f64>,
    baseline: Vec<f64>,
}

/// The oracle SPRT on one release.
#[derive(Debug, Clone)]
pub struct OracleSprt {
    weights: Vec<MetricWeights>,
    log_lr: f64,
    upper: f64,
    lower: f64,
    state: SprtState,
}

fn true_cells(kind: MetricKind, arm: &ArmParams) -> Vec<f64> {
    match kind {
        MetricKind::Errors => vec![arm.error_rate, 1.0 - arm.error_rate],
        MetricKind::Conversion => vec![arm.conversion_rate, 1.0 - arm.conversion_rate],
        MetricKind::Latency => arm.latency.cell_probabilities().to_vec(),
    }
}

/// `ln(q / pooled)`, zero where the arm has no mass (a cell it never fills contributes no count).
fn log_ratio(q: f64, pooled: f64) -> f64 {
    if q > 0.0 && pooled > 0.0 {
        (q / pooled).ln()
    } else {
        0.0
    }
}

fn metric_weights(kind: MetricKind, truth: &Truth) -> MetricWeights {
    let (nc, nb) = (truth.traffic.canary_rps, truth.traffic.baseline_rps);
    let canary = true_cells(kind, &truth.canary);
    let baseline = true_cells(kind, &truth.baseline);
    let pooled: Vec<f64> = canary
        .iter()
        .zip(&baseline)
        .map(|(&c, &b)| {
            if nc + nb > 0.0 {
                (nc * c + nb * b) / (nc + nb)
            } else {
                b
            }
        })
        .collect();
    MetricWeights {
        kind,
        canary: canary
            .iter()
            .zip(&pooled)
            .map(|(&q, &p)| log_ratio(q, p))
            .collect(),
        baseline: baseline
            .iter()
            .zip(&pooled)
            .map(|(&q, &p)| log_ratio(q, p))
            .collect(),
    }
}

/// One arm's counts of `kind` per cell, in the order of [`true_cells`].
fn counts(kind: MetricKind, arm: &ArmCounts) -> [u64; CELLS] {
    let mut out = [0u64; CELLS];
    match kind {
        MetricKind::Errors => {
            out[0] = arm.errors;
            out[1] = arm.requests.saturating_sub(arm.errors);
        }
        MetricKind::Conversion => {
            out[0] = arm.conversions;
            out[1] = arm.requests.saturating_sub(arm.conversions);
        }
        MetricKind::Latency => out = arm.latency_cells,
    }
    out
}

fn weighted(weights: &[f64], arm: &ArmCounts, kind: MetricKind) -> f64 {
    weights
        .iter()
        .zip(counts(kind, arm))
        .map(|(w, x)| w * x as f64)
        .sum()
}

impl OracleSprt {
    /// An oracle SPRT of `watch`'s metrics knowing `truth`, at [`ORACLE_ALPHA`] and [`ORACLE_BETA`].
    pub fn new(watch: &Watch, truth: &Truth) -> OracleSprt {
        OracleSprt {
            weights: watch
                .metrics
                .iter()
                .map(|m| metric_weights(m.kind, truth))
                .collect(),
            log_lr: 0.0,
            upper: ((1.0 - ORACLE_BETA) / ORACLE_ALPHA).ln(),
            lower: (ORACLE_BETA / (1.0 - ORACLE_ALPHA)).ln(),
            state: SprtState::Sampling,
        }
    }

    /// The log-likelihood ratio accumulated so far.
    pub fn log_lr(&self) -> f64 {
        self.log_lr
    }

    /// Where the test stands.
    pub fn state(&self) -> SprtState {
        self.state
    }

    /// The log-LR one second of both arms adds.
    pub fn tick_log_lr(&self, tick: &Tick) -> f64 {
        self.weights
            .iter()
            .map(|w| {
                weighted(&w.canary, &tick.canary, w.kind)
                    + weighted(&w.baseline, &tick.baseline, w.kind)
            })
            .sum()
    }
}

impl Policy for OracleSprt {
    fn history(&mut self, _baseline: &[ArmCounts]) {}

    fn observe(&mut self, tick: &Tick) -> bool {
        if self.state != SprtState::Sampling {
            return false;
        }
        self.log_lr += self.tick_log_lr(tick);
        if self.log_lr >= self.upper {
            self.state = SprtState::Fired;
        } else if self.log_lr <= self.lower {
            self.state = SprtState::Abandoned;
        }
        self.state == SprtState::Fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario;

    fn truth(index: usize) -> (Watch, Truth) {
        let regressions = scenario::regressions().unwrap();
        let s = &regressions[index];
        (
            s.alone.clone().unwrap(),
            Truth {
                canary: s.canary,
                baseline: s.baseline,
                traffic: Traffic::levels()[0],
            },
        )
    }

    fn errors_tick(canary: (u64, u64), baseline: (u64, u64)) -> Tick {
        let arm = |(requests, errors): (u64, u64)| ArmCounts {
            requests,
            errors,
            ..ArmCounts::default()
        };
        Tick {
            second: 1,
            canary: arm(canary),
            baseline: arm(baseline),
        }
    }

    #[test]
    fn tick_log_lr_is_the_definition() {
        let (watch, truth) = truth(0);
        let oracle = OracleSprt::new(&watch, &truth);
        let got = oracle.tick_log_lr(&errors_tick((50, 3), (50, 1)));
        let expected = 3.0 * (0.05f64 / 0.03).ln()
            + 47.0 * (0.95f64 / 0.97).ln()
            + (0.01f64 / 0.03).ln()
            + 49.0 * (0.99f64 / 0.97).ln();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn fires_at_the_upper_boundary_and_abandons_at_the_lower() {
        let (watch, truth) = truth(0);
        let mut oracle = OracleSprt::new(&watch, &truth);
        assert!(!oracle.observe(&errors_tick((50, 2), (50, 1))));
        assert_eq!(oracle.state(), SprtState::Sampling);
        assert!(oracle.observe(&errors_tick((50, 10), (50, 0))));
        assert_eq!(oracle.state(), SprtState::Fired);

        let mut oracle = OracleSprt::new(&watch, &truth);
        assert!(!oracle.observe(&errors_tick((50, 0), (50, 5))));
        assert_eq!(oracle.state(), SprtState::Abandoned);
        assert!(!oracle.observe(&errors_tick((50, 50), (50, 0))));
    }

    #[test]
    fn identical_arms_give_no_evidence() {
        let aa = scenario::aa().unwrap();
        let truth = Truth {
            canary: aa.canary,
            baseline: aa.baseline,
            traffic: Traffic::levels()[0],
        };
        let oracle = OracleSprt::new(&aa.all, &truth);
        let mut tick = errors_tick((50, 10), (50, 0));
        tick.canary.latency_cells[CELLS - 1] = 50;
        assert_eq!(oracle.tick_log_lr(&tick), 0.0);
    }
}
