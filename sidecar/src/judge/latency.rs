//! Latency metrics: the bucket edges chosen from the baseline, the cells they cut, the baseline's
//! survival function for the practical-tolerance gate, and `histogram_quantile`-style quantile
//! estimates for the evidence.
//!
//! **Edges.** Once [`MIN_EXPECTED_PER_SIDE`] baseline requests are expected on each side of the
//! watched quantile, the *primary* edge is the finite bucket edge whose baseline cumulative share
//! is nearest the quantile (it drives the pass test, the gate and the evidence). Neighbouring edges
//! are then added, alternately below and above, while every cell keeps at least
//! [`MIN_CELL_SHARE`] of the baseline's requests *and* [`MIN_EXPECTED_PER_SIDE`] of them; on each
//! side the nearest edge that keeps both cells it cuts that large is taken, up to [`MAX_EDGES`],
//! and only within [`LOGIT_WINDOW`] of the primary edge in the baseline's cumulative log odds:
//! the fail test's proportional-odds alternative is a local model, and a change confined to the
//! tail (p99 slower, body unchanged) contradicts it at edges deep in the body.
//! The edges are frozen from baseline requests only, so the cells are predictable.
//!
//! **Gate.** Latency `×(1 + tol)` everywhere would move the baseline's share above the primary edge
//! `e` from `S_B(e)` to `S_B(e / (1 + tol))`. [`CumulativeHistogram::survival_at`] estimates it
//! between bucket bounds linearly in `ln S` against `ln bound` (a power-law tail, accurate in
//! tails where `histogram_quantile`'s linear interpolation is not).

/// Baseline requests expected on each side of the primary edge before it is chosen, and in every
/// cell cut by a neighbouring edge.
pub const MIN_EXPECTED_PER_SIDE: f64 = 20.0;
/// Smallest share of the baseline's requests in a cell cut by a neighbouring edge.
pub const MIN_CELL_SHARE: f64 = 0.02;
/// Most edges (the primary included) a latency metric is judged through.
pub const MAX_EDGES: usize = 4;
/// Largest distance, in cumulative log odds of the baseline, of a neighbouring edge from the primary.
pub const LOGIT_WINDOW: f64 = 3.0;

/// A bucket edge, frozen once chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    /// Index of the edge among the histogram's upper bounds.
    pub index: usize,
    /// The edge's upper bound.
    pub bound: f64,
    /// Share of the baseline's requests at or below the edge when it was chosen.
    pub share_below: f64,
}

/// A cumulative histogram summed over ticks; it keeps the bucket layout it first saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CumulativeHistogram {
    upper_bounds: Vec<f64>,
    cumulative: Vec<f64>,
}

impl CumulativeHistogram {
    /// Adds one delta. Returns `false` (and adds nothing) when its layout differs from the first.
    pub fn add(&mut self, upper_bounds: &[f64], cumulative: &[f64]) -> bool {
        if upper_bounds.len() != cumulative.len() {
            return false;
        }
        if self.upper_bounds.is_empty() {
            self.upper_bounds.extend_from_slice(upper_bounds);
            self.cumulative.resize(cumulative.len(), 0.0);
        } else if self.upper_bounds != upper_bounds {
            return false;
        }
        for (sum, value) in self.cumulative.iter_mut().zip(cumulative) {
            *sum += value;
        }
        true
    }

    /// The upper bounds and cumulative counts.
    pub fn layout(&self) -> (&[f64], &[f64]) {
        (&self.upper_bounds, &self.cumulative)
    }

    /// All requests (the `+Inf` bucket).
    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// Requests above the bucket edge at `index`.
    pub fn above(&self, index: usize) -> f64 {
        self.total() - self.cumulative.get(index).copied().unwrap_or(0.0)
    }

    /// The edge whose cumulative share is closest to `quantile` with requests on both sides, once
    /// `MIN_EXPECTED_PER_SIDE` requests are expected on each side of the quantile.
    pub fn choose_edge(&self, quantile: f64) -> Option<Edge> {
        let total = self.total();
        if total * quantile.min(1.0 - quantile) < MIN_EXPECTED_PER_SIDE {
            return None;
        }
        let finite = self.upper_bounds.len().saturating_sub(1);
        (0..finite)
            .filter(|&i| self.upper_bounds[i].is_finite())
            .filter(|&i| self.cumulative[i] > 0.0 && self.cumulative[i] < total)
            .map(|i| Edge {
                index: i,
                bound: self.upper_bounds[i],
                share_below: self.cumulative[i] / total,
            })
            .min_by(|a, b| {
                (a.share_below - quantile)
                    .abs()
                    .total_cmp(&(b.share_below - quantile).abs())
            })
    }

    fn enough(&self, count: f64) -> bool {
        count >= MIN_EXPECTED_PER_SIDE && count >= MIN_CELL_SHARE * self.total()
    }

    /// Whether the edges at `a` and `b` are within [`LOGIT_WINDOW`] in cumulative log odds.
    fn near(&self, a: usize, b: usize) -> bool {
        let log_odds = |i: usize| {
            let below = self.cumulative[i];
            (below / (self.total() - below)).ln()
        };
        (log_odds(a) - log_odds(b)).abs() <= LOGIT_WINDOW
    }

    fn usable_edge(&self, index: usize) -> Option<Edge> {
        let total = self.total();
        let bound = *self.upper_bounds.get(index)?;
        let below = *self.cumulative.get(index)?;
        let finite = index + 1 < self.upper_bounds.len() && bound.is_finite();
        (finite && below > 0.0 && below < total).then_some(Edge {
            index,
            bound,
            share_below: below / total,
        })
    }

    /// The nearest edge beyond the outermost edge `from` (downwards or upwards) that leaves
    /// enough requests in both cells it cuts and lies near the `primary` edge.
    fn neighbour(&self, primary: usize, from: usize, downwards: bool) -> Option<Edge> {
        let (from_count, total) = (*self.cumulative.get(from)?, self.total());
        let candidates: Box<dyn Iterator<Item = usize>> = if downwards {
            Box::new((0..from).rev())
        } else {
            Box::new(from + 1..self.upper_bounds.len())
        };
        candidates.filter_map(|i| self.usable_edge(i)).find(|edge| {
            let here = self.cumulative[edge.index];
            let (inner, outer) = if downwards {
                (from_count - here, here)
            } else {
                (here - from_count, total - here)
            };
            self.enough(inner) && self.enough(outer) && self.near(primary, edge.index)
        })
    }

    /// The primary edge plus neighbours (see the module documentation), in increasing order.
    pub fn choose_edges(&self, primary: Edge) -> Vec<Edge> {
        let mut edges = vec![primary];
        let (mut below_done, mut above_done) = (false, false);
        while edges.len() < MAX_EDGES && !(below_done && above_done) {
            let downwards = !below_done && (above_done || edges.len() % 2 == 1);
            let next = if downwards {
                self.neighbour(primary.index, edges[0].index, true)
            } else {
                let last = edges[edges.len() - 1].index;
                self.neighbour(primary.index, last, false)
            };
            match next {
                Some(edge) if downwards => edges.insert(0, edge),
                Some(edge) => edges.push(edge),
                None if downwards => below_done = true,
                None => above_done = true,
            }
        }
        edges
    }

    /// Counts per cell cut by `edges` (increasing), or `None` when the histogram's layout lacks
    /// an edge or its counts decrease.
    pub fn cells(upper_bounds: &[f64], cumulative: &[f64], edges: &[Edge]) -> Option<Vec<f64>> {
        if upper_bounds.len() != cumulative.len() {
            return None;
        }
        let total = *cumulative.last()?;
        let mut below = 0.0;
        let mut cells = Vec::with_capacity(edges.len() + 1);
        for edge in edges {
            if upper_bounds.get(edge.index) != Some(&edge.bound) {
                return None;
            }
            let here = cumulative[edge.index];
            cells.push(here - below);
            below = here;
        }
        cells.push(total - below);
        cells
            .iter()
            .all(|c| c.is_finite() && *c >= 0.0)
            .then_some(cells)
    }

    /// Share of requests above the edge at `index`; `None` without requests.
    pub fn share_above(&self, index: usize) -> Option<f64> {
        let total = self.total();
        (total > 0.0 && index < self.cumulative.len()).then(|| self.above(index) / total)
    }

    /// The share of requests above `x`, interpolated linearly in `ln S` against `ln bound` between
    /// the neighbouring bucket bounds (linearly in `S` in the first bucket, which starts at zero
    /// with `S = 1`, or when the upper bound has no requests above it). Beyond the last finite
    /// bound it is the share above that bound. `None` without requests.
    pub fn survival_at(&self, x: f64) -> Option<f64> {
        let total = self.total();
        let finite = self.upper_bounds.len().checked_sub(1)?;
        if total <= 0.0 || finite == 0 || x.is_nan() {
            return None;
        }
        let survival = |i: usize| self.above(i) / total;
        let Some(hi) = (0..finite).find(|&i| self.upper_bounds[i] >= x) else {
            return Some(survival(finite - 1));
        };
        let (b_hi, s_hi) = (self.upper_bounds[hi], survival(hi));
        let (b_lo, s_lo) = match hi.checked_sub(1) {
            Some(lo) => (self.upper_bounds[lo], survival(lo)),
            None => (0f64.min(b_hi), 1.0),
        };
        if x >= b_hi || x <= b_lo {
            return Some(if x >= b_hi { s_hi } else { s_lo });
        }
        if b_lo > 0.0 && s_hi > 0.0 {
            let t = (x / b_lo).ln() / (b_hi / b_lo).ln();
            Some((s_lo.ln() + t * (s_hi / s_lo).ln()).exp())
        } else {
            Some(s_lo + (s_hi - s_lo) * (x - b_lo) / (b_hi - b_lo))
        }
    }

    /// The `quantile`, interpolated linearly within its bucket as Prometheus' `histogram_quantile`
    /// does (the first bucket starts at zero; a rank in the `+Inf` bucket gives the last finite
    /// bound). `None` without requests.
    pub fn quantile(&self, quantile: f64) -> Option<f64> {
        let total = self.total();
        if total <= 0.0 || self.upper_bounds.len() < 2 {
            return None;
        }
        let rank = quantile * total;
        let bucket = self.cumulative.iter().position(|&c| c >= rank)?;
        let last_finite = self.upper_bounds.len() - 2;
        if bucket > last_finite {
            return Some(self.upper_bounds[last_finite]);
        }
        let (start, below) = if bucket == 0 {
            (0f64.min(self.upper_bounds[0]), 0.0)
        } else {
            (self.upper_bounds[bucket - 1], self.cumulative[bucket - 1])
        };
        let count = self.cumulative[bucket] - below;
        if count <= 0.0 {
            return Some(self.upper_bounds[bucket]);
        }
        Some(start + (self.upper_bounds[bucket] - start) * (rank - below) / count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(cumulative: &[f64]) -> CumulativeHistogram {
        let mut h = CumulativeHistogram::default();
        assert!(h.add(&[0.1, 0.2, 0.5, 1.0, f64::INFINITY], cumulative));
        h
    }

    #[test]
    fn waits_for_enough_baseline_requests() {
        assert_eq!(
            histogram(&[500.0, 900.0, 990.0, 999.0, 1000.0]).choose_edge(0.99),
            None
        );
        let edge = histogram(&[1000.0, 1800.0, 1980.0, 1998.0, 2000.0])
            .choose_edge(0.99)
            .unwrap();
        assert_eq!(edge.bound, 0.5);
        assert!((edge.share_below - 0.99).abs() < 1e-12);
    }

    #[test]
    fn interpolates_like_histogram_quantile() {
        let h = histogram(&[0.0, 50.0, 100.0, 100.0, 100.0]);
        assert!((h.quantile(0.5).unwrap() - 0.2).abs() < 1e-12);
        assert!((h.quantile(0.75).unwrap() - 0.35).abs() < 1e-12);
        let tail = histogram(&[0.0, 0.0, 0.0, 90.0, 100.0]);
        assert_eq!(tail.quantile(0.99), Some(1.0));
    }

    fn prometheus_default(cumulative_share: &[f64]) -> CumulativeHistogram {
        let bounds = crate::sim::latency::DEFAULT_BUCKETS;
        let mut h = CumulativeHistogram::default();
        let counts: Vec<f64> = cumulative_share
            .iter()
            .map(|s| (s * 15000.0).round())
            .collect();
        assert!(h.add(&bounds, &counts));
        h
    }

    /// A lognormal with median 80 ms and σ 0.6 in the default buckets.
    fn lognormal() -> CumulativeHistogram {
        prometheus_default(&[
            0.0, 0.0, 0.0264, 0.2169, 0.6448, 0.9712, 0.99887, 0.99999, 1.0, 1.0, 1.0, 1.0,
        ])
    }

    #[test]
    fn adds_neighbour_edges_while_cells_keep_enough_requests() {
        let h = lognormal();
        let primary = h.choose_edge(0.5).unwrap();
        assert_eq!(primary.bound, 0.1);
        let bounds: Vec<f64> = h.choose_edges(primary).iter().map(|e| e.bound).collect();
        assert_eq!(
            bounds,
            [0.05, 0.1, 0.25],
            "0.025 is beyond the log-odds window"
        );
        let primary = h.choose_edge(0.99).unwrap();
        assert_eq!(primary.bound, 0.5);
        let bounds: Vec<f64> = h.choose_edges(primary).iter().map(|e| e.bound).collect();
        assert_eq!(
            bounds,
            [0.5],
            "0.25 is too far in log odds; above 0.5 has too few requests"
        );
    }

    #[test]
    fn cells_follow_the_edges() {
        let h = lognormal();
        let edges = h.choose_edges(h.choose_edge(0.5).unwrap());
        let cells = CumulativeHistogram::cells(&h.upper_bounds, &h.cumulative, &edges).unwrap();
        assert_eq!(cells.len(), 4);
        assert_eq!(cells.iter().sum::<f64>(), h.total());
        assert_eq!(cells[0], h.cumulative[3]);
        assert!(CumulativeHistogram::cells(&[0.1, f64::INFINITY], &[1.0, 2.0], &edges).is_none());
    }

    #[test]
    fn survival_interpolates_a_power_law_tail() {
        let h = lognormal();
        let between = h.survival_at(0.5 / 1.2).unwrap();
        assert!((between - 0.0026).abs() < 0.0002, "{between}");
        assert_eq!(h.survival_at(0.25).unwrap(), h.above(5) / h.total());
        let first = histogram(&[0.0, 50.0, 100.0, 100.0, 100.0])
            .survival_at(0.05)
            .unwrap();
        assert!((first - 1.0).abs() < 1e-12, "{first}");
        let linear = histogram(&[50.0, 100.0, 100.0, 100.0, 100.0])
            .survival_at(0.05)
            .unwrap();
        assert!((linear - 0.75).abs() < 1e-12, "{linear}");
    }

    #[test]
    fn refuses_a_different_layout() {
        let mut h = histogram(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(!h.add(&[0.1, f64::INFINITY], &[1.0, 2.0]));
        assert_eq!(h.total(), 5.0);
    }
}
