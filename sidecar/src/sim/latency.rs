//! The latency model: a lognormal, optionally with a stretched tail, bucketed at Prometheus' default
//! histogram bounds; and `histogram_quantile` as Prometheus interpolates it.

use statrs::distribution::{ContinuousCDF, Normal};

use super::{Result, SimError};

/// Prometheus' default histogram bucket upper bounds, in seconds, ending with `+Inf`.
pub const DEFAULT_BUCKETS: [f64; 12] = [
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::INFINITY,
];

/// Number of histogram cells (buckets, `+Inf` included).
pub const CELLS: usize = DEFAULT_BUCKETS.len();

/// A latency distribution: `exp(μ + σ·g(Z))` with `Z` standard normal and `g` the identity up to
/// `z0`, then a line of slope `k ≥ 1` (the tail stretch). Without a stretch it is a lognormal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    /// `ln` of the median, in seconds.
    pub mu: f64,
    /// Standard deviation of `ln` latency below the stretch point.
    pub sigma: f64,
    /// Standard-normal quantile above which the tail is stretched.
    pub stretch_from_z: f64,
    /// Slope of the stretched tail in standard-normal units (`1` = no stretch).
    pub stretch_slope: f64,
}

fn standard_normal() -> Result<Normal> {
    Normal::new(0.0, 1.0).map_err(|e| SimError::Distribution {
        what: "standard normal",
        message: e.to_string(),
    })
}

impl LatencyModel {
    /// A lognormal with the given median (seconds) and `σ` of `ln` latency.
    pub fn lognormal(median_s: f64, sigma: f64) -> Result<LatencyModel> {
        if !(median_s > 0.0 && median_s.is_finite()) {
            return Err(SimError::InvalidParameter {
                name: "median_s",
                value: median_s,
                why: "must be a positive number of seconds",
            });
        }
        if !(sigma > 0.0 && sigma.is_finite()) {
            return Err(SimError::InvalidParameter {
                name: "sigma",
                value: sigma,
                why: "must be positive",
            });
        }
        Ok(LatencyModel {
            mu: median_s.ln(),
            sigma,
            stretch_from_z: f64::INFINITY,
            stretch_slope: 1.0,
        })
    }

    /// Every latency multiplied by `factor` (all quantiles scale alike).
    pub fn scaled(self, factor: f64) -> Result<LatencyModel> {
        if !(factor > 0.0 && factor.is_finite()) {
            return Err(SimError::InvalidParameter {
                name: "factor",
                value: factor,
                why: "must be positive",
            });
        }
        Ok(LatencyModel {
            mu: self.mu + factor.ln(),
            ..self
        })
    }

    /// Only the tail stretched: quantiles up to `from_quantile` stay where they are, quantiles above it
    /// move out along a steeper line so that the `at_quantile` quantile is multiplied by `factor`.
    /// With `from_quantile = 0.9, at_quantile = 0.99, factor = 1.5` the median and p90 are unchanged
    /// and p99 grows by half.
    pub fn tail_stretched(
        self,
        from_quantile: f64,
        at_quantile: f64,
        factor: f64,
    ) -> Result<LatencyModel> {
        let normal = standard_normal()?;
        if !(0.0 < from_quantile && from_quantile < at_quantile && at_quantile < 1.0) {
            return Err(SimError::InvalidParameter {
                name: "at_quantile",
                value: at_quantile,
                why: "need 0 < from_quantile < at_quantile < 1",
            });
        }
        if !(factor >= 1.0 && factor.is_finite()) {
            return Err(SimError::InvalidParameter {
                name: "factor",
                value: factor,
                why: "a tail stretch needs a factor of at least 1",
            });
        }
        let z0 = normal.inverse_cdf(from_quantile);
        let z1 = normal.inverse_cdf(at_quantile);
        let slope = 1.0 + factor.ln() / (self.sigma * (z1 - z0));
        Ok(LatencyModel {
            stretch_from_z: z0,
            stretch_slope: slope,
            ..self
        })
    }

    /// `P(latency ≤ x)`.
    pub fn cdf(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return 0.0;
        }
        if x.is_infinite() {
            return 1.0;
        }
        let y = (x.ln() - self.mu) / self.sigma;
        let z = if y <= self.stretch_from_z {
            y
        } else {
            self.stretch_from_z + (y - self.stretch_from_z) / self.stretch_slope
        };
        standard_normal().map_or(f64::NAN, |n| n.cdf(z))
    }

    /// The `p` quantile, in seconds.
    pub fn quantile(&self, p: f64) -> f64 {
        let Ok(normal) = standard_normal() else {
            return f64::NAN;
        };
        let z = normal.inverse_cdf(p);
        let y = if z <= self.stretch_from_z {
            z
        } else {
            self.stretch_from_z + (z - self.stretch_from_z) * self.stretch_slope
        };
        (self.mu + self.sigma * y).exp()
    }

    /// Probability of each histogram cell: `(bound[i-1], bound[i]]`, the last one up to `+Inf`.
    pub fn cell_probabilities(&self) -> [f64; CELLS] {
        let mut cells = [0.0; CELLS];
        let mut below = 0.0;
        for (cell, bound) in cells.iter_mut().zip(DEFAULT_BUCKETS) {
            let cdf = self.cdf(bound);
            *cell = (cdf - below).max(0.0);
            below = cdf;
        }
        cells
    }
}

/// The `q` quantile of a histogram given per-cell counts, interpolated linearly within the bucket as
/// Prometheus' `histogram_quantile` does (the first bucket from 0; a rank in `+Inf` gives the highest
/// finite bound). `None` without observations.
pub fn histogram_quantile(q: f64, cell_counts: &[u64; CELLS]) -> Option<f64> {
    let total: u64 = cell_counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0.0;
    for (i, &count) in cell_counts.iter().enumerate() {
        let upto = below + count as f64;
        if upto >= rank && count > 0 {
            let upper = DEFAULT_BUCKETS[i];
            if upper.is_infinite() {
                return Some(DEFAULT_BUCKETS[CELLS - 2]);
            }
            let lower = if i == 0 { 0.0 } else { DEFAULT_BUCKETS[i - 1] };
            return Some(lower + (upper - lower) * (rank - below) / count as f64);
        }
        below = upto;
    }
    Some(DEFAULT_BUCKETS[CELLS - 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lognormal_quantiles_match_their_parameters() {
        let m = LatencyModel::lognormal(0.08, 0.6).unwrap();
        assert!((m.quantile(0.5) - 0.08).abs() < 1e-12);
        assert!((m.cdf(0.08) - 0.5).abs() < 1e-12);
        assert!((m.quantile(0.99) - 0.08 * (0.6_f64 * 2.326_347_874).exp()).abs() < 1e-6);
    }

    #[test]
    fn tail_stretch_keeps_the_median_and_p90_and_scales_p99() {
        let base = LatencyModel::lognormal(0.08, 0.6).unwrap();
        let tail = base.tail_stretched(0.9, 0.99, 1.5).unwrap();
        assert!((tail.quantile(0.5) / base.quantile(0.5) - 1.0).abs() < 1e-12);
        assert!((tail.quantile(0.9) / base.quantile(0.9) - 1.0).abs() < 1e-9);
        assert!((tail.quantile(0.99) / base.quantile(0.99) - 1.5).abs() < 1e-9);
        assert!((tail.cdf(tail.quantile(0.995)) - 0.995).abs() < 1e-9);
    }

    #[test]
    fn cells_sum_to_one() {
        let m = LatencyModel::lognormal(0.08, 0.6)
            .unwrap()
            .scaled(1.1)
            .unwrap();
        let sum: f64 = m.cell_probabilities().iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn histogram_quantile_interpolates_within_the_bucket() {
        let mut counts = [0u64; CELLS];
        counts[4] = 50; // (0.05, 0.1]
        counts[5] = 50; // (0.1, 0.25]
        assert!((histogram_quantile(0.5, &counts).unwrap() - 0.1).abs() < 1e-12);
        assert!((histogram_quantile(0.75, &counts).unwrap() - 0.175).abs() < 1e-12);
        assert_eq!(histogram_quantile(0.5, &[0; CELLS]), None);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(LatencyModel::lognormal(0.0, 0.6).is_err());
        assert!(LatencyModel::lognormal(0.08, f64::NAN).is_err());
        assert!(
            LatencyModel::lognormal(0.08, 0.6)
                .unwrap()
                .tail_stretched(0.99, 0.9, 1.5)
                .is_err()
        );
    }
}
