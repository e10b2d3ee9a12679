//! The pass test and the confidence sequence: a one-cell conditional-binomial e-process on the
//! event cell's rate ratio `r = canary rate / baseline rate`.
//!
//! Given a tick's events `x = x_A + x_B` and requests `n_A, n_B`, the canary's share of the events
//! under rate ratio `ρ` has parameter `θ(ρ) = ρ n_A / (ρ n_A + n_B)`. For a null ratio `ρ_c` the
//! factor `(θ(ρ)/θ(ρ_c))^{x_A} ((1-θ(ρ))/(1-θ(ρ_c)))^{x_B}` has expectation at most one whatever the
//! baseline's rate (per request, `E ≤ exp(q [ρ_c n_A (a - 1) + n_B (b - 1)]) = 1`), and the inequality
//! keeps its direction for any true ratio on the null side when `ρ` is on the other side.
//!
//! The log-likelihood `LL(ρ) = Σ x_A ln ρ - x ln(1 + s(ρ - 1))` (with `s = n_A/(n_A + n_B)`,
//! dropping terms free of `ρ`) is kept on a fixed log-spaced grid `ρ_j = 64^{(j - 80)/80}`,
//! `j = 0..=160`. Then
//! - the **pass** e-value against `H0': r ≥ ρ_c` (or `r ≤ ρ_c` when lower is worse) mixes the grid
//!   points on the good side of `ρ_c` within a factor [`PASS_SPAN`] (`e^2`) of it, uniformly;
//! - the **confidence sequence** is `{ρ_c : mean_j exp(LL(ρ_j) - LL(ρ_c)) < 1/α}`. `LL` is concave
//!   in `ln ρ`, so the set is an interval; its conservative grid endpoints are reported.

use super::{Result, StatsError};

/// Number of points of the rate-ratio grid.
pub const GRID_POINTS: usize = 161;
/// The grid spans `[1/GRID_RANGE, GRID_RANGE]`.
pub const GRID_RANGE: f64 = 64.0;
/// Natural-log span of the pass test's alternatives below (or above) the null ratio.
pub const PASS_SPAN: f64 = 2.0;

/// The `j`-th grid ratio, `64^{(j - 80)/80}`.
pub fn grid_ratio(j: usize) -> f64 {
    let half = ((GRID_POINTS - 1) / 2) as f64;
    GRID_RANGE.powf((j as f64 - half) / half)
}

/// A confidence sequence on the rate ratio, with conservative grid endpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioInterval {
    /// Lower end (`0` when it reaches below the grid).
    pub lower: f64,
    /// Upper end (`None` when it reaches above the grid: unbounded).
    pub upper: Option<f64>,
}

/// The one-cell e-process: pass test against a null ratio and the confidence sequence.
#[derive(Debug, Clone)]
pub struct RatioEProcess {
    ln_rho: Vec<f64>,
    rho_minus_one: Vec<f64>,
    log_l: Vec<f64>,
    pass_range: std::ops::Range<usize>,
    null_ln_rho: f64,
    null_rho_minus_one: f64,
    null_log_l: f64,
}

impl RatioEProcess {
    /// A fresh e-process whose pass test's null is `r ≥ null_ratio` when `higher_is_worse`,
    /// else `r ≤ null_ratio`.
    pub fn new(null_ratio: f64, higher_is_worse: bool) -> Result<RatioEProcess> {
        if !(null_ratio > 0.0 && null_ratio.is_finite()) {
            return Err(StatsError::Parameter(format!(
                "null rate ratio {null_ratio} is not positive"
            )));
        }
        let rho: Vec<f64> = (0..GRID_POINTS).map(grid_ratio).collect();
        let null_ln = null_ratio.ln();
        let on_good_side = |r: &f64| {
            let distance = if higher_is_worse {
                null_ln - r.ln()
            } else {
                r.ln() - null_ln
            };
            distance > 0.0 && distance <= PASS_SPAN
        };
        let start = rho.iter().position(on_good_side).unwrap_or(0);
        let count = rho[start..].iter().take_while(|r| on_good_side(r)).count();
        if count == 0 {
            return Err(StatsError::Parameter(format!(
                "null rate ratio {null_ratio} leaves no alternative on the grid"
            )));
        }
        Ok(RatioEProcess {
            ln_rho: rho.iter().map(|r| r.ln()).collect(),
            rho_minus_one: rho.iter().map(|r| r - 1.0).collect(),
            log_l: vec![0.0; GRID_POINTS],
            pass_range: start..start + count,
            null_ln_rho: null_ln,
            null_rho_minus_one: null_ratio - 1.0,
            null_log_l: 0.0,
        })
    }

    /// Multiplies in one tick of the event cell. A tick without events, or where either arm has
    /// no requests, changes nothing.
    pub fn update(
        &mut self,
        canary_events: f64,
        canary_total: f64,
        baseline_events: f64,
        baseline_total: f64,
    ) {
        let events = canary_events + baseline_events;
        if events <= 0.0 || canary_total <= 0.0 || baseline_total <= 0.0 {
            return;
        }
        let share = canary_total / (canary_total + baseline_total);
        let term = |ln_rho: f64, rho_minus_one: f64| {
            canary_events * ln_rho - events * (share * rho_minus_one).ln_1p()
        };
        for ((log_l, ln_rho), rho_minus_one) in self
            .log_l
            .iter_mut()
            .zip(&self.ln_rho)
            .zip(&self.rho_minus_one)
        {
            *log_l += term(*ln_rho, *rho_minus_one);
        }
        self.null_log_l += term(self.null_ln_rho, self.null_rho_minus_one);
    }

    /// Natural logarithm of the pass test's e-value.
    pub fn pass_log_e_value(&self) -> f64 {
        log_mean_exp(&self.log_l[self.pass_range.clone()]) - self.null_log_l
    }

    /// The confidence sequence at level `1 - alpha` on the rate ratio.
    pub fn confidence_interval(&self, alpha: f64) -> RatioInterval {
        let mixture = log_mean_exp(&self.log_l);
        let cut = mixture + alpha.ln();
        let inside = |l: &f64| *l > cut;
        let first = self.log_l.iter().position(inside).unwrap_or(0);
        let last = self
            .log_l
            .iter()
            .rposition(inside)
            .unwrap_or(GRID_POINTS - 1);
        RatioInterval {
            lower: if first == 0 {
                0.0
            } else {
                grid_ratio(first - 1)
            },
            upper: (last + 1 < GRID_POINTS).then(|| grid_ratio(last + 1)),
        }
    }
}

/// `ln( mean_i exp(values_i) )` without allocating; `-inf` for no values.
fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = values.iter().map(|v| (v - max).exp()).sum();
    max + (sum / values.len() as f64).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_symmetric_and_hits_one() {
        assert!((grid_ratio(80) - 1.0).abs() < 1e-15);
        assert!((grid_ratio(0) * grid_ratio(160) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn interval_covers_the_true_ratio_and_shrinks() {
        let mut e = RatioEProcess::new(1.5, true).unwrap();
        let wide = e.confidence_interval(0.01);
        assert_eq!(wide.lower, 0.0);
        assert_eq!(wide.upper, None);
        for _ in 0..200 {
            e.update(20.0, 100.0, 10.0, 100.0);
        }
        let narrow = e.confidence_interval(0.01);
        assert!(
            narrow.lower < 2.0 && narrow.upper.unwrap() > 2.0,
            "{narrow:?}"
        );
        assert!(
            narrow.lower > 1.5 && narrow.upper.unwrap() < 3.0,
            "{narrow:?}"
        );
    }

    #[test]
    fn equal_rates_give_pass_evidence() {
        let mut e = RatioEProcess::new(1.5, true).unwrap();
        for _ in 0..100 {
            e.update(10.0, 100.0, 10.0, 100.0);
        }
        assert!(e.pass_log_e_value() > 100f64.ln());
    }

    #[test]
    fn rejects_a_null_off_the_grid() {
        assert!(RatioEProcess::new(1e-9, true).is_err());
        assert!(RatioEProcess::new(-1.0, true).is_err());
    }
}
