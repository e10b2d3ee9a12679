//! Latency metrics: the bucket edge chosen from the baseline, and `histogram_quantile`-style
//! quantile estimates for the practical-tolerance gate and the evidence.

/// Baseline requests expected on each side of the edge before it is chosen.
pub const MIN_EXPECTED_PER_SIDE: f64 = 20.0;

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

    #[test]
    fn refuses_a_different_layout() {
        let mut h = histogram(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(!h.add(&[0.1, f64::INFINITY], &[1.0, 2.0]));
        assert_eq!(h.total(), 5.0);
    }
}
