//! Sums cumulative bucket counts of several histograms at the upper bounds they all share, so
//! the sum stays exact (no interpolation) when bucket layouts differ.

/// A running sum of cumulative histograms over the intersection of their bounds.
#[derive(Debug, Default, Clone)]
pub(super) struct CumulativeSum {
    /// `(upper bound, summed cumulative count)`, ascending; `None` before the first histogram.
    sums: Option<Vec<(f64, f64)>>,
}

impl CumulativeSum {
    /// Adds one histogram given as `(upper bound, cumulative count)` pairs sorted by bound.
    pub(super) fn add(&mut self, histogram: &[(f64, f64)]) {
        let Some(sums) = &mut self.sums else {
            self.sums = Some(histogram.to_vec());
            return;
        };
        let mut other = histogram.iter().peekable();
        sums.retain_mut(|(bound, sum)| {
            while other.next_if(|(b, _)| b < bound).is_some() {}
            match other.next_if(|(b, _)| b == bound) {
                Some(&(_, count)) => {
                    *sum += count;
                    true
                }
                None => false,
            }
        });
    }

    /// Adds one histogram given as parallel slices of bounds and cumulative counts.
    pub(super) fn add_parts(&mut self, upper_bounds: &[f64], cumulative: &[f64]) {
        let pairs: Vec<(f64, f64)> = upper_bounds
            .iter()
            .copied()
            .zip(cumulative.iter().copied())
            .collect();
        self.add(&pairs);
    }

    /// Whether no histogram was added yet.
    pub(super) fn is_empty(&self) -> bool {
        self.sums.is_none()
    }

    /// The shared bounds and their sums (both empty if nothing was added).
    pub(super) fn into_parts(self) -> (Vec<f64>, Vec<f64>) {
        self.sums.unwrap_or_default().into_iter().unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_shared_bounds() {
        let mut sum = CumulativeSum::default();
        assert!(sum.is_empty());
        sum.add(&[(0.1, 1.0), (0.5, 2.0), (f64::INFINITY, 3.0)]);
        sum.add(&[(0.25, 4.0), (0.5, 5.0), (f64::INFINITY, 7.0)]);
        sum.add_parts(&[0.5, 1.0, f64::INFINITY], &[1.0, 1.0, 2.0]);
        assert_eq!(
            sum.into_parts(),
            (vec![0.5, f64::INFINITY], vec![8.0, 12.0])
        );
    }
}
