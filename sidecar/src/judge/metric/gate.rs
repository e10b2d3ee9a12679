//! Latency metrics under judgement: freezing the edges, cutting each tick's histograms into cells,
//! and the practical-tolerance gate.
//!
//! **Gate.** With `e` the primary edge and `tol` the tolerance, a latency metric with `max` is
//! beyond tolerance when the canary's share of requests above `e` exceeds `Ŝ_B(e / (1 + tol))`,
//! the share the judged baseline would have above `e` were every baseline latency `(1 + tol)×`
//! larger ([`CumulativeHistogram::survival_at`]); with `min`, when it is below
//! `Ŝ_B(e / (1 − tol))`. A tolerance of zero just asks for the canary's share on the bad side.
//!
//! **Prior.** The fail test's grid starts at the log odds ratio the tolerance means at `e` for the
//! baseline seen when the edges are frozen, `|logit Ŝ_B(e / (1 ± tol)) − logit S_B(e)|`.

use super::{LatencyState, MetricJudge, TickCounts, valid_counts};
use crate::judge::JudgeError;
use crate::judge::latency::{CumulativeHistogram, Edge};
use crate::spec::Direction;
use crate::stats::ordinal::OrdinalEProcess;
use crate::stats::ratio::RatioEProcess;
use crate::stats::share::{PRIOR_PSI_HI, SharePrior};
use crate::stats::special::logit;
use crate::window::MetricDelta;

/// The latency at which the baseline's survival is compared with the canary's share above `edge`.
fn tolerance_bound(edge: f64, tolerance: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Max => edge / (1.0 + tolerance),
        Direction::Min => edge / (1.0 - tolerance),
    }
}

/// The tolerance as a log odds ratio at `edge` for the baseline `histogram`; `0` when undefined.
fn tolerance_log_odds(
    histogram: &CumulativeHistogram,
    edge: &Edge,
    tolerance: f64,
    direction: Direction,
) -> f64 {
    let shifted = histogram.survival_at(tolerance_bound(edge.bound, tolerance, direction));
    let psi = shifted
        .map(|s| (logit(s) - logit(1.0 - edge.share_below)).abs())
        .unwrap_or(0.0);
    if psi.is_nan() {
        0.0
    } else {
        psi.min(PRIOR_PSI_HI)
    }
}

impl MetricJudge {
    /// Cells of one arm's histogram, worst last, or `None` when it lacks an edge.
    fn oriented_cells(
        &self,
        bounds: &[f64],
        cumulative: &[f64],
        edges: &[Edge],
    ) -> Option<Vec<f64>> {
        let mut cells = CumulativeHistogram::cells(bounds, cumulative, edges)?;
        if self.spec.direction == Direction::Min {
            cells.reverse();
        }
        Some(cells)
    }

    /// Freezes the edges from the baseline seen so far, if there is enough of it, and restarts
    /// the fail test on their cells with the baseline seen as history.
    fn freeze_edges(&mut self) {
        let Some(latency) = self.latency.as_mut() else {
            return;
        };
        let Some(primary) = latency.baseline_for_edge.choose_edge(latency.quantile) else {
            return;
        };
        let seen = latency.baseline_for_edge.clone();
        let edges = seen.choose_edges(primary);
        latency.edge = Some(primary);
        latency.edges = edges.clone();
        let psi = tolerance_log_odds(&seen, &primary, self.spec.tolerance, self.spec.direction);
        let built = SharePrior::for_log_odds(psi)
            .and_then(|prior| OrdinalEProcess::new(&prior, edges.len() + 1))
            .map_err(JudgeError::from);
        if let Ok(tests) = &mut self.tests {
            match built {
                Ok(share) => tests.share = share,
                Err(problem) => self.tests = Err(problem),
            }
        }
        self.set_pass_null(&seen, &primary);
        let (bounds, cumulative) = seen.layout();
        match self.oriented_cells(bounds, cumulative, &edges) {
            Some(cells) => self.add_share_history(&cells),
            None => self.tests = Err(JudgeError::MissingEdges),
        }
    }

    /// While no edge is chosen, adds a baseline histogram delta (even from a tick whose canary
    /// is unavailable) to the edge choice and freezes the edges once it can. The tick itself is
    /// not judged: cells must not depend on the counts they are judged on.
    pub(super) fn feed_edge_choice(&mut self, baseline: &MetricDelta) {
        let MetricDelta::Histogram {
            upper_bounds,
            cumulative,
        } = baseline
        else {
            return;
        };
        if let Some(latency) = self.latency.as_mut() {
            latency.baseline_for_edge.add(upper_bounds, cumulative);
            self.freeze_edges();
        }
    }

    /// Sets the pass test's null from the quantile tolerance: "the canary's share above the
    /// primary edge is at least what the baseline's would be were it `(1 ± tol)×` slower", the
    /// ratio `Ŝ_B(e / (1 ± tol)) / S_B(e)` frozen with the edges. A pass is refused outright when
    /// the edge does not resolve the watched quantile: more than 3× the quantile's share of
    /// baseline requests lies beyond it (the edge sits well inside the body, e.g. at p90 for a p99
    /// whose bucket holds no request above it, where a tail regression would be diluted), or less
    /// than a tenth. Prometheus' default buckets, about ×2–2.5 apart, stay within these bounds.
    fn set_pass_null(&mut self, seen: &CumulativeHistogram, primary: &Edge) {
        let Some(latency) = self.latency.as_mut() else {
            return;
        };
        let q = latency.quantile;
        let (share, wanted) = if q >= 0.5 {
            (1.0 - primary.share_below, 1.0 - q)
        } else {
            (primary.share_below, q)
        };
        if !(share >= wanted / 10.0 && share <= wanted * 3.0) {
            latency.pass_blocked = Some(format!(
                "the bucket edge {} holds {:.2}% of baseline requests on the quantile's side, \
                 so the histogram cannot resolve p{} well enough to pass it",
                primary.bound,
                share * 100.0,
                q * 100.0
            ));
        }
        let bound = tolerance_bound(primary.bound, self.spec.tolerance, self.spec.direction);
        let above = 1.0 - primary.share_below;
        let null_ratio = seen.survival_at(bound).map(|s| s / above);
        let higher_is_worse = self.spec.direction == Direction::Max;
        let built = match null_ratio {
            Some(ratio) if ratio.is_finite() && ratio > 0.0 => {
                RatioEProcess::new(ratio, higher_is_worse).map_err(|e| e.to_string())
            }
            _ => Err(format!(
                "no baseline share at {bound} to set the pass test's tolerance"
            )),
        };
        match (built, &mut self.tests) {
            (Ok(ratio), Ok(tests)) => tests.ratio = ratio,
            (Err(problem), _) => {
                if let Some(latency) = self.latency.as_mut() {
                    latency.pass_blocked.get_or_insert(problem);
                }
            }
            (Ok(_), Err(_)) => {}
        }
    }

    /// This tick's counts of a latency metric, or `None` when a histogram lacks the edges or
    /// changed its bucket layout.
    pub(super) fn latency_counts(
        &mut self,
        canary: (&[f64], &[f64]),
        baseline: (&[f64], &[f64]),
    ) -> Option<TickCounts> {
        let latency = self.latency.as_mut()?;
        let edge = latency.edge?;
        let edges = latency.edges.clone();
        let at_edge = |(_, cumulative): (&[f64], &[f64])| {
            let below = *cumulative.get(edge.index)?;
            let total = *cumulative.last()?;
            (valid_counts(total - below, total) && below >= 0.0).then_some((total - below, total))
        };
        let cells = |arm: (&[f64], &[f64])| self.oriented_cells(arm.0, arm.1, &edges);
        match (
            at_edge(canary),
            at_edge(baseline),
            cells(canary),
            cells(baseline),
        ) {
            (Some(a), Some(b), Some(canary_cells), Some(baseline_cells)) => {
                if !self.add_judged(canary, baseline) {
                    self.skip(|| "the histogram's bucket layout changed".to_string());
                    return None;
                }
                Some(TickCounts {
                    primary: [a, b],
                    canary_cells,
                    baseline_cells,
                })
            }
            _ => {
                self.skip(|| {
                    format!(
                        "histogram lacks the chosen edges around {} or its counts are invalid",
                        edge.bound
                    )
                });
                None
            }
        }
    }

    /// Adds a judged tick to both arms' histograms; `false` (adding nothing) when either arm's
    /// bucket layout differs from the one first judged.
    fn add_judged(&mut self, canary: (&[f64], &[f64]), baseline: (&[f64], &[f64])) -> bool {
        let Some(latency) = self.latency.as_mut() else {
            return false;
        };
        let same = |h: &CumulativeHistogram, bounds: &[f64]| {
            let (known, _) = h.layout();
            known.is_empty() || known == bounds
        };
        if !same(&latency.canary_judged, canary.0) || !same(&latency.baseline_judged, baseline.0) {
            return false;
        }
        latency.canary_judged.add(canary.0, canary.1)
            && latency.baseline_judged.add(baseline.0, baseline.1)
    }

    /// The canary's share above the primary edge and the baseline's share there at the
    /// tolerance, once both are defined.
    pub(crate) fn latency_gate_shares(&self, latency: &LatencyState) -> Option<(f64, f64)> {
        let edge = latency.edge?;
        let canary = latency.canary_judged.share_above(edge.index)?;
        let bound = tolerance_bound(edge.bound, self.spec.tolerance, self.spec.direction);
        let baseline = latency.baseline_judged.survival_at(bound)?;
        Some((canary, baseline))
    }

    /// The latency gate; see the module documentation.
    pub(crate) fn latency_beyond_tolerance(&self, latency: &LatencyState) -> bool {
        let Some((canary, baseline)) = self.latency_gate_shares(latency) else {
            return false;
        };
        match self.spec.direction {
            Direction::Max => canary > baseline,
            Direction::Min => canary < baseline,
        }
    }
}
