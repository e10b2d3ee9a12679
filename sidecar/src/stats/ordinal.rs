//! The fail test on `K` ordered cells: a share mixture e-process on the canary's share of each
//! cell's requests, given the traffic split. Cell index increasing = worse (for latency: the cells
//! between consecutive bucket edges, fastest first; for a ratio metric: good, then bad).
//!
//! Each tick brings, for the canary (A) and the baseline (B), per-cell counts `x_A,c`, `x_B,c`
//! with totals `n_A`, `n_B`; `s = n_A / (n_A + n_B)`. For per-cell rate ratios `ρ_c` the tick's
//! factor is, in logarithms,
//!
//! ```text
//! ln L = Σ_c [ x_A,c ln ρ_c − (x_A,c + x_B,c) ln(1 + s (ρ_c − 1)) ]
//! ```
//!
//! i.e. a canary request in cell `c` contributes `a_c = ρ_c / (1 + s(ρ_c − 1))` and a baseline
//! request `b_c = 1 / (1 + s(ρ_c − 1))`. For `K = 2` this is exactly the two-cell process of
//! [`super::share`].
//!
//! **Validity** (H0: in every tick the canary is stochastically no worse than the baseline at the
//! edges, `F_A(e_j) ≥ F_B(e_j)` for every edge `j`, whatever the baseline does over time). Let
//! `q_A,c`, `q_B,c` be the tick's cell probabilities. The requests are independent given the
//! counts, and `Σ_c q a_c ≤ exp(Σ_c q (a_c − 1))`, so `E[L | past] ≤ exp(X)` with
//! `X = n_A Σ_c q_A,c (a_c − 1) + n_B Σ_c q_B,c (b_c − 1)`. Split
//! `X = Σ_c q_B,c [n_A (a_c − 1) + n_B (b_c − 1)] + n_A Σ_c (q_A,c − q_B,c) a_c` (the `−1` terms
//! cancel because both distributions sum to one). Each bracket is
//! `(n_A ρ_c + n_B) / (1 + s(ρ_c − 1)) − (n_A + n_B) = 0`. For the rest, with
//! `d_c = q_A,c − q_B,c` and `D_j = Σ_{c<j} d_c = F_A(e_j) − F_B(e_j) ≥ 0` (`D_0 = D_K = 0`),
//! Abel summation gives `Σ_c d_c a_c = Σ_{j=1}^{K−1} D_j (a_{j−1} − a_j) ≤ 0` as soon as `a_c` is
//! non-decreasing in `c`; `a_c` increases with `ρ_c` (`∂a/∂ρ = (1 − s)/(1 + s(ρ − 1))² > 0`), so a
//! non-decreasing `ρ_c` suffices. Hence `X ≤ 0` and `E[L | past] ≤ 1`: the running product is a
//! test supermartingale for every fixed monotone alternative, and so is a fixed-weight mixture of
//! alternatives chosen *predictably* (from data before the tick). Ville's inequality gives
//! `P(ever e ≥ 1/α) ≤ α`. Nothing requires `Σ_c q̂_c ρ_c = 1`: any non-decreasing `ρ` is valid, so
//! the process enforces monotonicity by a running maximum over `c` (a no-op for the alternatives
//! below up to rounding).
//!
//! **Alternatives.** A proportional-odds (cumulative-logit) shift `ψ > 0` of the predictable
//! baseline estimate at the edges: `F_alt(e_j) = expit(logit(F̂_B(e_j)) − ψ)`, cell probabilities
//! by differences, `ρ_c = p_alt,c / q̂_c`. This family has a monotone likelihood ratio (it is a
//! location shift of a logistic latent variable, whose density is log-concave, grouped into
//! ordered intervals). `F̂_B(e_j) = (Σ_{c<j} x_c + j/2) / (n + K/2)`: baseline history plus earlier
//! baseline ticks, never the current tick, with half a pseudo-count per cell. The alternatives are
//! refreshed only when some `logit(F̂_B(e_j))` moved by more than [`REFRESH_LOGIT`] since the last
//! refresh. The log-likelihood is kept on the fixed grid of `ψ` of a [`SharePrior`]; the e-value
//! is the weighted mean.

use super::share::{REFRESH_LOGIT, SharePrior};
use super::special::{expit, log_sum_exp_weighted};
use super::{Result, StatsError};

/// Pseudo-count added to every cell of the baseline estimate.
const PSEUDO_PER_CELL: f64 = 0.5;

/// One cell's alternative at one grid point.
#[derive(Debug, Clone, Copy, Default)]
struct CellAlternative {
    ln_rho: f64,
    rho_minus_one: f64,
}

/// The `K`-cell fail test's e-process; see the module documentation.
#[derive(Debug, Clone)]
pub struct OrdinalEProcess {
    cells: usize,
    psi: Vec<f64>,
    ln_weights: Vec<f64>,
    log_l: Vec<f64>,
    /// `points × cells` alternatives, row-major by grid point.
    alternatives: Vec<CellAlternative>,
    refreshed_logits: Option<Vec<f64>>,
    baseline_counts: Vec<f64>,
}

/// Probability of the cell between the edge logits `lower` and `upper` (`None` = no edge),
/// computed from whichever tail keeps the difference precise.
fn cell_probability(lower: Option<f64>, upper: Option<f64>) -> f64 {
    let below = |l: Option<f64>, default: f64| l.map_or(default, expit);
    let above = |l: Option<f64>, default: f64| l.map_or(default, |l| expit(-l));
    if upper.is_some_and(|u| u <= 0.0) {
        below(upper, 1.0) - below(lower, 0.0)
    } else {
        above(lower, 1.0) - above(upper, 0.0)
    }
}

/// Cell probabilities of the distribution whose edge logits are `logits` shifted by `-shift`.
fn cell_probabilities(logits: &[f64], shift: f64) -> impl Iterator<Item = f64> + '_ {
    (0..=logits.len()).map(move |c| {
        let lower = c.checked_sub(1).map(|j| logits[j] - shift);
        let upper = logits.get(c).map(|l| l - shift);
        cell_probability(lower, upper)
    })
}

impl OrdinalEProcess {
    /// A fresh e-process (e-value 1) on `cells ≥ 2` ordered cells, mixing over `prior`.
    pub fn new(prior: &SharePrior, cells: usize) -> Result<OrdinalEProcess> {
        if cells < 2 {
            return Err(StatsError::Parameter(format!(
                "an ordinal e-process needs at least 2 cells, got {cells}"
            )));
        }
        let (psi, ln_weights) = prior.grid()?;
        let points = psi.len();
        Ok(OrdinalEProcess {
            cells,
            psi,
            ln_weights,
            log_l: vec![0.0; points],
            alternatives: vec![CellAlternative::default(); points * cells],
            refreshed_logits: None,
            baseline_counts: vec![0.0; cells],
        })
    }

    /// Number of cells `K`.
    pub fn cells(&self) -> usize {
        self.cells
    }

    fn check_counts(&self, what: &str, counts: &[f64]) -> Result<()> {
        let valid = counts.len() == self.cells && counts.iter().all(|x| x.is_finite() && *x >= 0.0);
        if valid {
            Ok(())
        } else {
            Err(StatsError::Parameter(format!(
                "{what} counts {counts:?} are not {} finite non-negative cells",
                self.cells
            )))
        }
    }

    /// Adds baseline requests seen before the release to the estimate (not to the evidence).
    pub fn add_baseline_history(&mut self, counts: &[f64]) -> Result<()> {
        self.check_counts("baseline history", counts)?;
        for (sum, x) in self.baseline_counts.iter_mut().zip(counts) {
            *sum += x;
        }
        Ok(())
    }

    /// `logit(F̂_B(e_j))` for the `K − 1` edges, from the counts with their pseudo-counts.
    pub fn baseline_edge_logits(&self) -> Vec<f64> {
        let mut below = 0.0;
        let total: f64 =
            self.baseline_counts.iter().sum::<f64>() + PSEUDO_PER_CELL * self.cells as f64;
        self.baseline_counts[..self.cells - 1]
            .iter()
            .map(|x| {
                below += x + PSEUDO_PER_CELL;
                below.ln() - (total - below).ln()
            })
            .collect()
    }

    /// The current predictable estimate of the baseline's cell probabilities `q̂_c`.
    pub fn baseline_estimate(&self) -> Vec<f64> {
        cell_probabilities(&self.baseline_edge_logits(), 0.0).collect()
    }

    /// Multiplies in one tick of per-cell counts. A tick where either arm has no requests only
    /// informs the baseline estimate.
    pub fn update(&mut self, canary: &[f64], baseline: &[f64]) -> Result<()> {
        self.check_counts("canary", canary)?;
        self.check_counts("baseline", baseline)?;
        let canary_total: f64 = canary.iter().sum();
        let baseline_total: f64 = baseline.iter().sum();
        if canary_total > 0.0 && baseline_total > 0.0 {
            self.refresh_alternatives();
            if self.refreshed_logits.is_some() {
                self.accumulate(
                    canary,
                    baseline,
                    canary_total / (canary_total + baseline_total),
                );
            }
        }
        self.add_baseline_history(baseline)
    }

    fn refresh_alternatives(&mut self) {
        let current = self.baseline_edge_logits();
        if let Some(previous) = &self.refreshed_logits
            && previous
                .iter()
                .zip(&current)
                .all(|(p, c)| (c - p).abs() <= REFRESH_LOGIT)
        {
            return;
        }
        let estimate: Vec<f64> = cell_probabilities(&current, 0.0).collect();
        let mut fresh = Vec::with_capacity(self.alternatives.len());
        for psi in &self.psi {
            let mut running_max = 0.0f64;
            for (p_alt, q) in cell_probabilities(&current, *psi).zip(&estimate) {
                running_max = running_max.max(p_alt / q);
                fresh.push(running_max);
            }
        }
        if !fresh.iter().all(|rho| rho.is_finite() && *rho > 0.0) {
            return;
        }
        self.alternatives = fresh
            .into_iter()
            .map(|rho| CellAlternative {
                ln_rho: rho.ln(),
                rho_minus_one: rho - 1.0,
            })
            .collect();
        self.refreshed_logits = Some(current);
    }

    fn accumulate(&mut self, canary: &[f64], baseline: &[f64], share: f64) {
        for (log_l, row) in self
            .log_l
            .iter_mut()
            .zip(self.alternatives.chunks_exact(self.cells))
        {
            let mut delta = 0.0;
            for ((alt, x_a), x_b) in row.iter().zip(canary).zip(baseline) {
                let x = x_a + x_b;
                if x > 0.0 {
                    delta += x_a * alt.ln_rho - x * (share * alt.rho_minus_one).ln_1p();
                }
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
    use crate::stats::special::logit;

    fn prior() -> SharePrior {
        SharePrior::for_tolerance(0.2, true).unwrap()
    }

    /// The two-cell process written out directly (bad cell = cell 1), as before the generalisation.
    fn two_cell_reference(history: (f64, f64), ticks: &[[f64; 4]]) -> f64 {
        let (psi, ln_w) = prior().grid().unwrap();
        let mut log_l = vec![0.0; psi.len()];
        let (mut bad_hist, mut total_hist) = history;
        let mut refreshed: Option<f64> = None;
        for &[xa, na, xb, nb] in ticks {
            if na > 0.0 && nb > 0.0 {
                let current = logit((bad_hist + 0.5) / (total_hist + 1.0));
                if refreshed.is_none_or(|r| (current - r).abs() > REFRESH_LOGIT) {
                    refreshed = Some(current);
                }
                let q = expit(refreshed.unwrap());
                let s = na / (na + nb);
                for (l, p) in log_l.iter_mut().zip(&psi) {
                    let q_alt = expit(refreshed.unwrap() + p);
                    let (rb, rg) = (q_alt / q, (1.0 - q_alt) / (1.0 - q));
                    *l += xa * rb.ln() - (xa + xb) * (s * (rb - 1.0)).ln_1p();
                    *l += (na - xa) * rg.ln() - (na + nb - xa - xb) * (s * (rg - 1.0)).ln_1p();
                }
            }
            bad_hist += xb;
            total_hist += nb;
        }
        log_sum_exp_weighted(&ln_w, &log_l)
    }

    #[test]
    fn two_cells_give_the_two_cell_process() {
        let ticks: Vec<[f64; 4]> = (0..60)
            .map(|t| {
                let t = f64::from(t);
                [t % 4.0, 40.0 + t % 7.0, (t % 3.0).min(1.0), 45.0 - t % 5.0]
            })
            .collect();
        let mut e = OrdinalEProcess::new(&prior(), 2).unwrap();
        e.add_baseline_history(&[990.0, 10.0]).unwrap();
        for [xa, na, xb, nb] in &ticks {
            e.update(&[na - xa, *xa], &[nb - xb, *xb]).unwrap();
        }
        let want = two_cell_reference((10.0, 1000.0), &ticks);
        assert!(
            (e.log_e_value() - want).abs() < 1e-10,
            "{} vs {want}",
            e.log_e_value()
        );
        assert!(
            want > 1.0,
            "the reference should see the regression: {want}"
        );
    }

    #[test]
    fn proportional_odds_alternatives_are_monotone() {
        let logits = [-3.5, -1.2, 0.6, 3.4];
        let q: Vec<f64> = cell_probabilities(&logits, 0.0).collect();
        assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for psi in [0.05, 0.5, 3.5] {
            let rho: Vec<f64> = cell_probabilities(&logits, psi)
                .zip(&q)
                .map(|(p, q)| p / q)
                .collect();
            assert!(rho.windows(2).all(|w| w[1] > w[0]), "{psi}: {rho:?}");
        }
    }

    #[test]
    fn slower_canary_raises_and_faster_canary_lowers_the_e_value() {
        let mut slower = OrdinalEProcess::new(&prior(), 4).unwrap();
        let mut faster = OrdinalEProcess::new(&prior(), 4).unwrap();
        for e in [&mut slower, &mut faster] {
            e.add_baseline_history(&[300.0, 400.0, 250.0, 50.0])
                .unwrap();
        }
        for _ in 0..30 {
            slower
                .update(&[20.0, 35.0, 35.0, 10.0], &[30.0, 40.0, 25.0, 5.0])
                .unwrap();
            faster
                .update(&[30.0, 40.0, 25.0, 5.0], &[20.0, 35.0, 35.0, 10.0])
                .unwrap();
        }
        assert!(
            slower.log_e_value() > 100f64.ln(),
            "{}",
            slower.log_e_value()
        );
        assert!(faster.log_e_value() < 0.0, "{}", faster.log_e_value());
    }

    #[test]
    fn rejects_wrong_cell_counts() {
        assert!(OrdinalEProcess::new(&prior(), 1).is_err());
        let mut e = OrdinalEProcess::new(&prior(), 3).unwrap();
        assert!(e.update(&[1.0, 2.0], &[1.0, 2.0, 3.0]).is_err());
        assert!(e.add_baseline_history(&[1.0, -2.0, 3.0]).is_err());
        assert_eq!(e.log_e_value(), 0.0);
    }
}
