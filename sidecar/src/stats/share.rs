//! The fail test: a two-cell "share" mixture e-process on the canary's share of each cell's
//! requests, given the traffic split.
//!
//! Each tick brings, for the canary (A) and the baseline (B), `n` requests of which `x_bad` fell in
//! the bad cell (errors, slow requests, or missed conversions) and `x_good = n - x_bad` did not.
//! With `θ0 = n_A / (n_A + n_B)` and, for a rate ratio `ρ`, `θ(ρ) = ρ n_A / (ρ n_A + n_B)`, the
//! tick factor of the alternative `(ρ_bad, ρ_good)` is
//!
//! ```text
//! L = (θ_bad/θ0)^{x_bad,A} ((1-θ_bad)/(1-θ0))^{x_bad,B} (θ_good/θ0)^{x_good,A} ((1-θ_good)/(1-θ0))^{x_good,B}
//! ```
//!
//! **Validity** (H0: the canary's bad-cell rate is no higher than the baseline's, whatever the
//! baseline's rate does over time). Write `a = θ/θ0` and `b = (1-θ)/(1-θ0)` per cell. A request
//! of arm A in a tick where the baseline's bad-cell rate is `q` contributes a factor of expectation
//! `q_A a_bad + (1 - q_A) a_good`, which under H0 (`q_A ≤ q`, and `a_bad > 1 > a_good`) is at most
//! `1 + q (a_bad - 1) + (1 - q)(a_good - 1) ≤ exp(q (a_bad - 1) + (1 - q)(a_good - 1))`; likewise a
//! baseline request with `b`. Multiplying over the tick's requests (independent given the counts
//! `n_A, n_B`), the exponent is `q [n_A (a_bad - 1) + n_B (b_bad - 1)] + (1 - q)[n_A (a_good - 1) +
//! n_B (b_good - 1)]`, and each bracket is `(n_A + n_B)(θ - θ0) + (n_A + n_B)(θ0 - θ) = 0`. So
//! `E[L | past] ≤ 1` for every tick: the running product is a test supermartingale for every fixed
//! alternative, and so is any mixture of them with fixed weights whose alternatives are chosen
//! *predictably* (from data before the tick). By Ville's inequality, `P(ever e ≥ 1/α) ≤ α`.
//!
//! **Alternatives.** They are indexed by a log odds ratio `ψ > 0` of the bad cell. With `q̂` a
//! predictable estimate of the baseline's bad-cell fraction (baseline history plus earlier
//! baseline ticks, never the current tick), `q_alt = expit(logit(q̂) + ψ)`, `ρ_bad = q_alt / q̂`
//! and `ρ_good = (1 - q_alt) / (1 - q̂)`. The alternatives are refreshed only when `logit(q̂)` moved
//! by more than [`REFRESH_LOGIT`] since the last refresh, which keeps a tick to two logarithms per
//! grid point. The log-likelihood is kept on a fixed grid of `ψ` with fixed prior weights
//! ([`SharePrior`]); the e-value is their weighted mean.
//!
//! In logarithms, with `s = θ0`, a tick adds for each grid point
//! `x_bad,A ln ρ_bad + x_good,A ln ρ_good - x_bad ln(1 + s(ρ_bad - 1)) - x_good ln(1 + s(ρ_good - 1))`.

use super::special::{expit, log_sum_exp_weighted, logit};
use super::{Result, StatsError};

/// Move of `logit(q̂)` after which the alternatives are recomputed.
pub const REFRESH_LOGIT: f64 = 0.01;

/// Pseudo-counts of the baseline bad-cell estimate `q̂ = (bad + 0.5) / (total + 1)`.
const ESTIMATE_PSEUDO_BAD: f64 = 0.5;
const ESTIMATE_PSEUDO_TOTAL: f64 = 1.0;

/// The mixing distribution of the fail test over log odds ratios `ψ`.
///
/// Grid: `ψ_k = ψ_lo (ψ_hi / ψ_lo)^{k / (K - 1)}` for `k = 0..K`; weights `w_k ∝ ψ_k^γ`, summing to one.
#[derive(Debug, Clone, PartialEq)]
pub struct SharePrior {
    /// Smallest log odds ratio on the grid.
    pub psi_lo: f64,
    /// Largest log odds ratio on the grid.
    pub psi_hi: f64,
    /// Number of grid points `K`.
    pub points: usize,
    /// Exponent `γ` of the weights (`0` is log-uniform on the log-spaced grid).
    pub gamma: f64,
}

/// Fraction of the tolerance's log odds ratio where the grid starts.
pub const PRIOR_LOW_FRACTION: f64 = 1.0;
/// Largest log odds ratio on the grid (an effect of about ×150 in odds).
pub const PRIOR_PSI_HI: f64 = 3.5;
/// Number of grid points of the fail test.
pub const PRIOR_POINTS: usize = 32;
/// Exponent of the prior weights.
pub const PRIOR_GAMMA: f64 = 0.0;

impl SharePrior {
    /// The judge's prior for a relative tolerance: its grid starts just below the smallest log
    /// odds ratio that exceeds the tolerance at any baseline rate, `|ln(1 ± tol)|`.
    pub fn for_tolerance(tolerance: f64, higher_is_worse: bool) -> Result<SharePrior> {
        let tolerance_psi = if higher_is_worse {
            (1.0 + tolerance).ln()
        } else {
            -(1.0 - tolerance).ln()
        };
        if !(tolerance_psi.is_finite() && tolerance > 0.0) {
            return Err(StatsError::Parameter(format!(
                "tolerance {tolerance} gives no usable effect size"
            )));
        }
        let psi_lo = (PRIOR_LOW_FRACTION * tolerance_psi).min(PRIOR_PSI_HI / 2.0);
        Ok(SharePrior {
            psi_lo,
            psi_hi: PRIOR_PSI_HI,
            points: PRIOR_POINTS,
            gamma: PRIOR_GAMMA,
        })
    }

    /// The grid of log odds ratios and the natural logarithms of their weights.
    pub fn grid(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let valid = self.psi_lo > 0.0
            && self.psi_hi > self.psi_lo
            && self.psi_hi.is_finite()
            && self.points >= 2
            && self.gamma.is_finite();
        if !valid {
            return Err(StatsError::Parameter(format!(
                "invalid share prior {self:?}"
            )));
        }
        let last = (self.points - 1) as f64;
        let psi: Vec<f64> = (0..self.points)
            .map(|k| self.psi_lo * (self.psi_hi / self.psi_lo).powf(k as f64 / last))
            .collect();
        let raw: Vec<f64> = psi.iter().map(|p| self.gamma * p.ln()).collect();
        let norm = log_sum_exp_weighted(&raw, &vec![0.0; raw.len()]);
        Ok((psi, raw.iter().map(|w| w - norm).collect()))
    }
}

/// One tick of two-cell counts, already oriented so that the bad cell is the one that regresses.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CellTick {
    /// Canary requests in the bad cell.
    pub canary_bad: f64,
    /// All canary requests.
    pub canary_total: f64,
    /// Baseline requests in the bad cell.
    pub baseline_bad: f64,
    /// All baseline requests.
    pub baseline_total: f64,
}

/// Alternatives of one grid point, computed from the current `q̂`.
#[derive(Debug, Clone, Copy, Default)]
struct Alternative {
    ln_rho_bad: f64,
    rho_bad_minus_one: f64,
    ln_rho_good: f64,
    rho_good_minus_one: f64,
}

/// The fail test's e-process; see the module documentation.
#[derive(Debug, Clone)]
pub struct ShareEProcess {
    psi: Vec<f64>,
    ln_weights: Vec<f64>,
    log_l: Vec<f64>,
    alternatives: Vec<Alternative>,
    refreshed_logit: Option<f64>,
    baseline_bad: f64,
    baseline_total: f64,
}

impl ShareEProcess {
    /// A fresh e-process (e-value 1) mixing over `prior`.
    pub fn new(prior: &SharePrior) -> Result<ShareEProcess> {
        let (psi, ln_weights) = prior.grid()?;
        let points = psi.len();
        Ok(ShareEProcess {
            psi,
            ln_weights,
            log_l: vec![0.0; points],
            alternatives: vec![Alternative::default(); points],
            refreshed_logit: None,
            baseline_bad: 0.0,
            baseline_total: 0.0,
        })
    }

    /// Adds baseline requests seen before the release to the estimate `q̂` (not to the evidence).
    pub fn add_baseline_history(&mut self, bad: f64, total: f64) {
        self.baseline_bad += bad;
        self.baseline_total += total;
    }

    /// The current predictable estimate of the baseline's bad-cell fraction.
    pub fn baseline_estimate(&self) -> f64 {
        (self.baseline_bad + ESTIMATE_PSEUDO_BAD) / (self.baseline_total + ESTIMATE_PSEUDO_TOTAL)
    }

    /// Multiplies in one tick. A tick where either arm has no requests only informs `q̂`.
    pub fn update(&mut self, tick: &CellTick) {
        if tick.canary_total > 0.0 && tick.baseline_total > 0.0 {
            self.refresh_alternatives();
            self.accumulate(tick);
        }
        self.add_baseline_history(tick.baseline_bad, tick.baseline_total);
    }

    fn refresh_alternatives(&mut self) {
        let current = logit(self.baseline_estimate());
        if let Some(previous) = self.refreshed_logit
            && (current - previous).abs() <= REFRESH_LOGIT
        {
            return;
        }
        self.refreshed_logit = Some(current);
        let q = expit(current);
        for (alternative, psi) in self.alternatives.iter_mut().zip(&self.psi) {
            let q_alt = expit(current + psi);
            let rho_bad = q_alt / q;
            let rho_good = (1.0 - q_alt) / (1.0 - q);
            *alternative = Alternative {
                ln_rho_bad: rho_bad.ln(),
                rho_bad_minus_one: rho_bad - 1.0,
                ln_rho_good: rho_good.ln(),
                rho_good_minus_one: rho_good - 1.0,
            };
        }
    }

    fn accumulate(&mut self, tick: &CellTick) {
        let share = tick.canary_total / (tick.canary_total + tick.baseline_total);
        let canary_good = tick.canary_total - tick.canary_bad;
        let bad = tick.canary_bad + tick.baseline_bad;
        let good = tick.canary_total + tick.baseline_total - bad;
        for (log_l, alt) in self.log_l.iter_mut().zip(&self.alternatives) {
            let mut delta = 0.0;
            if bad > 0.0 {
                delta += tick.canary_bad * alt.ln_rho_bad
                    - bad * (share * alt.rho_bad_minus_one).ln_1p();
            }
            if good > 0.0 {
                delta +=
                    canary_good * alt.ln_rho_good - good * (share * alt.rho_good_minus_one).ln_1p();
            }
            *log_l += delta;
        }
    }

    /// Natural logarithm of the current e-value.
    pub fn log_e_value(&self) -> f64 {
        log_sum_exp_weighted(&self.ln_weights, &self.log_l)
    }

    /// The grid of log odds ratios.
    pub fn psi(&self) -> &[f64] {
        &self.psi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process() -> ShareEProcess {
        ShareEProcess::new(&SharePrior::for_tolerance(0.5, true).unwrap()).unwrap()
    }

    #[test]
    fn weights_sum_to_one() {
        let (_, ln_weights) = SharePrior::for_tolerance(0.2, false)
            .unwrap()
            .grid()
            .unwrap();
        let total: f64 = ln_weights.iter().map(|w| w.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }

    #[test]
    fn canary_bad_events_raise_and_baseline_bad_events_lower_the_e_value() {
        let mut worse = process();
        let mut better = process();
        worse.add_baseline_history(10.0, 1000.0);
        better.add_baseline_history(10.0, 1000.0);
        for _ in 0..20 {
            worse.update(&CellTick {
                canary_bad: 3.0,
                canary_total: 50.0,
                baseline_bad: 0.0,
                baseline_total: 50.0,
            });
            better.update(&CellTick {
                canary_bad: 0.0,
                canary_total: 50.0,
                baseline_bad: 3.0,
                baseline_total: 50.0,
            });
        }
        assert!(worse.log_e_value() > 100f64.ln());
        assert!(better.log_e_value() < 0.0);
    }

    #[test]
    fn one_sided_ticks_do_nothing_but_inform_the_estimate() {
        let mut e = process();
        e.update(&CellTick {
            canary_bad: 5.0,
            canary_total: 5.0,
            baseline_bad: 0.0,
            baseline_total: 0.0,
        });
        assert_eq!(e.log_e_value(), 0.0);
        e.update(&CellTick {
            canary_bad: 0.0,
            canary_total: 0.0,
            baseline_bad: 1.0,
            baseline_total: 99.0,
        });
        assert_eq!(e.log_e_value(), 0.0);
        assert!((e.baseline_estimate() - 0.015).abs() < 1e-12);
    }

    #[test]
    fn rejects_a_zero_tolerance() {
        assert!(SharePrior::for_tolerance(0.0, true).is_err());
        assert!(SharePrior::for_tolerance(1.0, false).is_err());
    }
}
