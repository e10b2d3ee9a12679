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
//!
//! This is the `K = 2` case of [`super::ordinal`], which computes it (cells: good, bad).

use super::ordinal::OrdinalEProcess;
use super::special::log_sum_exp_weighted;
use super::{Result, StatsError};

/// Move of `logit(q̂)` after which the alternatives are recomputed.
pub const REFRESH_LOGIT: f64 = 0.01;

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
/// Smallest `ψ_lo` of any prior: a tolerance of zero (or a tiny one) starts the grid here.
pub const PRIOR_PSI_FLOOR: f64 = 0.05;
/// Number of grid points of the fail test.
pub const PRIOR_POINTS: usize = 32;
/// Exponent of the prior weights.
pub const PRIOR_GAMMA: f64 = 0.0;

impl SharePrior {
    /// The judge's prior for a relative tolerance of a rate: its grid starts at the smallest log
    /// odds ratio that exceeds the tolerance at any baseline rate, `|ln(1 ± tol)|`, but not below
    /// [`PRIOR_PSI_FLOOR`] (so a tolerance of zero works).
    pub fn for_tolerance(tolerance: f64, higher_is_worse: bool) -> Result<SharePrior> {
        let tolerance_psi = if higher_is_worse {
            (1.0 + tolerance).ln()
        } else {
            -(1.0 - tolerance).ln()
        };
        if !(tolerance_psi.is_finite() && tolerance >= 0.0) {
            return Err(StatsError::Parameter(format!(
                "tolerance {tolerance} gives no usable effect size"
            )));
        }
        SharePrior::for_log_odds(PRIOR_LOW_FRACTION * tolerance_psi)
    }

    /// The prior whose grid starts at the log odds ratio `psi_tolerance` (floored at
    /// [`PRIOR_PSI_FLOOR`], capped at half of [`PRIOR_PSI_HI`]).
    pub fn for_log_odds(psi_tolerance: f64) -> Result<SharePrior> {
        if !(psi_tolerance.is_finite() && psi_tolerance >= 0.0) {
            return Err(StatsError::Parameter(format!(
                "log odds ratio {psi_tolerance} of the tolerance is not a finite non-negative number"
            )));
        }
        Ok(SharePrior {
            psi_lo: psi_tolerance.clamp(PRIOR_PSI_FLOOR, PRIOR_PSI_HI / 2.0),
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

/// The two-cell fail test: the [`OrdinalEProcess`] on the cells (good, bad).
#[derive(Debug, Clone)]
pub struct ShareEProcess {
    inner: OrdinalEProcess,
}

/// `(good, bad)` cells of `bad` out of `total`.
fn cells(bad: f64, total: f64) -> [f64; 2] {
    [total - bad, bad]
}

impl ShareEProcess {
    /// A fresh e-process (e-value 1) mixing over `prior`.
    pub fn new(prior: &SharePrior) -> Result<ShareEProcess> {
        Ok(ShareEProcess {
            inner: OrdinalEProcess::new(prior, 2)?,
        })
    }

    /// Adds baseline requests seen before the release to the estimate `q̂` (not to the evidence).
    /// Counts that are negative, not finite, or with `bad > total` are refused.
    pub fn add_baseline_history(&mut self, bad: f64, total: f64) -> Result<()> {
        self.inner.add_baseline_history(&cells(bad, total))
    }

    /// The current predictable estimate of the baseline's bad-cell fraction.
    pub fn baseline_estimate(&self) -> f64 {
        self.inner
            .baseline_estimate()
            .get(1)
            .copied()
            .unwrap_or(f64::NAN)
    }

    /// Multiplies in one tick. A tick where either arm has no requests only informs `q̂`.
    /// Counts that are negative, not finite, or with `bad > total` are refused.
    pub fn update(&mut self, tick: &CellTick) -> Result<()> {
        self.inner.update(
            &cells(tick.canary_bad, tick.canary_total),
            &cells(tick.baseline_bad, tick.baseline_total),
        )
    }

    /// Natural logarithm of the current e-value.
    pub fn log_e_value(&self) -> f64 {
        self.inner.log_e_value()
    }

    /// The grid of log odds ratios.
    pub fn psi(&self) -> &[f64] {
        self.inner.psi()
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
        worse.add_baseline_history(10.0, 1000.0).unwrap();
        better.add_baseline_history(10.0, 1000.0).unwrap();
        for _ in 0..20 {
            worse
                .update(&CellTick {
                    canary_bad: 3.0,
                    canary_total: 50.0,
                    baseline_bad: 0.0,
                    baseline_total: 50.0,
                })
                .unwrap();
            better
                .update(&CellTick {
                    canary_bad: 0.0,
                    canary_total: 50.0,
                    baseline_bad: 3.0,
                    baseline_total: 50.0,
                })
                .unwrap();
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
        })
        .unwrap();
        assert_eq!(e.log_e_value(), 0.0);
        e.update(&CellTick {
            canary_bad: 0.0,
            canary_total: 0.0,
            baseline_bad: 1.0,
            baseline_total: 99.0,
        })
        .unwrap();
        assert_eq!(e.log_e_value(), 0.0);
        assert!((e.baseline_estimate() - 0.015).abs() < 1e-12);
    }

    #[test]
    fn a_zero_tolerance_starts_the_grid_at_the_floor() {
        let prior = SharePrior::for_tolerance(0.0, true).unwrap();
        assert_eq!(prior.psi_lo, PRIOR_PSI_FLOOR);
        assert!(SharePrior::for_tolerance(1.0, false).is_err());
        assert!(SharePrior::for_tolerance(-0.1, true).is_err());
        assert_eq!(
            SharePrior::for_tolerance(0.5, true).unwrap().psi_lo,
            1.5f64.ln()
        );
    }

    #[test]
    fn refuses_more_bad_than_total() {
        let mut e = process();
        let tick = CellTick {
            canary_bad: 6.0,
            canary_total: 5.0,
            baseline_bad: 0.0,
            baseline_total: 5.0,
        };
        assert!(e.update(&tick).is_err());
    }
}
