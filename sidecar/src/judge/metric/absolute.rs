//! A metric judged on the canary alone against its absolute limit, when the release has no
//! baseline ([`crate::stats::limit`] does the statistics).
//!
//! **Ratio.** The canary's events out of its trials, against the limit as a rate.
//!
//! **Latency.** "The `q` quantile is at most `L`" means at most a share `1 - q` of requests take
//! longer than `L`. A histogram only counts at its bucket edges, so the fail test counts the
//! requests above the smallest edge `e⁺ ≥ L` and tests their share against `1 - q`: since
//! `e⁺ ≥ L`, the share above `e⁺` is at most the share above `L`, so a quantile within the limit
//! keeps the counted share within `1 - q` and the fail test's false-alarm bound holds
//! (conservative: a slowdown that stays between `L` and `e⁺` is not seen). The pass test
//! mirrors it at the largest edge `e⁻ ≤ L`: a share above `e⁻` surely below `1 - q` puts the
//! quantile at or below `e⁻ ≤ L`. Without an edge at or above `L` the metric stays
//! inconclusive with that reason; without one at or below, it can fail but never pass.
//! The edges are chosen from the first canary histogram's layout, before any of its counts are
//! used, so the tests stay predictable.

use crate::judge::latency::CumulativeHistogram;
use crate::spec::{Direction, MetricSpec, Signal};
use crate::stats::limit::LimitEProcess;
use crate::verdict::{AbsoluteEvidence, ArmCounts};
use crate::window::MetricDelta;

/// Events and trials of one tick.
type Counts = (f64, f64);

/// The bucket edges a latency limit is counted at, by index among the histogram's bounds.
#[derive(Debug, Clone, PartialEq)]
struct LatencyCuts {
    upper_bounds: Vec<f64>,
    fail: Option<usize>,
    pass: Option<usize>,
    judged: CumulativeHistogram,
}

/// The absolute judgement of one metric.
#[derive(Debug, Clone)]
pub(crate) struct AbsoluteJudge {
    limit: f64,
    quantile: Option<f64>,
    fail: Result<LimitEProcess, String>,
    pass: Result<LimitEProcess, String>,
    cuts: Option<LatencyCuts>,
}

impl AbsoluteJudge {
    /// The absolute judge of `spec`, or `None` when the spec gives no limit.
    pub(crate) fn new(spec: &MetricSpec) -> Option<AbsoluteJudge> {
        let limit = spec.limit?;
        let (rate_limit, higher_is_worse, quantile) = match spec.signal {
            Signal::Ratio { .. } => (limit, spec.direction == Direction::Max, None),
            Signal::Latency { quantile, .. } => (1.0 - quantile, true, Some(quantile)),
        };
        let test = LimitEProcess::new(rate_limit, higher_is_worse).map_err(|e| e.to_string());
        Some(AbsoluteJudge {
            limit,
            quantile,
            fail: test.clone(),
            pass: test,
            cuts: None,
        })
    }

    /// Adds one tick of the canary; `Err` says why the tick was skipped.
    pub(crate) fn feed(&mut self, canary: &MetricDelta) -> Result<(), String> {
        let (fail_counts, pass_counts) = match (canary, self.quantile) {
            (MetricDelta::Ratio { events, trials }, None) => {
                ((*events, *trials), (*events, *trials))
            }
            (
                MetricDelta::Histogram {
                    upper_bounds,
                    cumulative,
                },
                Some(_),
            ) => self.latency_counts(upper_bounds, cumulative)?,
            (MetricDelta::Unavailable(why), _) => {
                return Err(format!("canary: {}", super::unavailable_reason(why)));
            }
            _ => return Err("the delta's kind does not match the metric's signal".to_string()),
        };
        let valid = |(events, trials): (f64, f64)| {
            events.is_finite() && trials.is_finite() && events >= 0.0 && events <= trials
        };
        if !(valid(fail_counts) && valid(pass_counts)) {
            return Err("counts are negative, not finite, or events exceed trials".to_string());
        }
        let refused =
            |e: crate::stats::StatsError| format!("the limit test refused the counts: {e}");
        let fail = self.fail.as_mut().map_err(|e| e.clone())?;
        fail.update(fail_counts.0, fail_counts.1).map_err(refused)?;
        if let Ok(pass) = &mut self.pass {
            pass.update(pass_counts.0, pass_counts.1).map_err(refused)?;
        }
        Ok(())
    }

    /// Counts above the fail and pass edges, choosing the edges from the first layout seen.
    fn latency_counts(
        &mut self,
        upper_bounds: &[f64],
        cumulative: &[f64],
    ) -> Result<(Counts, Counts), String> {
        if upper_bounds.len() != cumulative.len() || cumulative.is_empty() {
            return Err("malformed histogram".to_string());
        }
        let limit = self.limit;
        let cuts = self.cuts.get_or_insert_with(|| {
            let finite = upper_bounds.len() - 1;
            let bounds = &upper_bounds[..finite];
            LatencyCuts {
                upper_bounds: upper_bounds.to_vec(),
                fail: bounds.iter().position(|&b| b >= limit && b.is_finite()),
                pass: bounds.iter().rposition(|&b| b <= limit),
                judged: CumulativeHistogram::default(),
            }
        });
        if cuts.upper_bounds != upper_bounds {
            return Err(
                "the histogram's buckets changed since the limit's edges were chosen".into(),
            );
        }
        let Some(fail_index) = cuts.fail else {
            self.fail = Err(format!(
                "no bucket edge at or above the limit {limit}: the histogram cannot tell"
            ));
            return Err("no bucket edge at or above the limit".to_string());
        };
        if cuts.pass.is_none() {
            self.pass = Err(format!(
                "no bucket edge at or below the limit {limit}: it can fail but never pass"
            ));
        }
        let total = cumulative[cumulative.len() - 1];
        let above = |index: usize| (total - cumulative[index], total);
        let pass_index = cuts.pass.unwrap_or(fail_index);
        cuts.judged.add(upper_bounds, cumulative);
        Ok((above(fail_index), above(pass_index)))
    }

    /// Trials counted by the fail test.
    pub(crate) fn trials(&self) -> f64 {
        self.fail.as_ref().map_or(0.0, LimitEProcess::trials)
    }

    /// Log e-value of the fail test (`0` while it cannot run).
    pub(crate) fn fail_log_e_value(&self) -> f64 {
        self.fail
            .as_ref()
            .map_or(0.0, LimitEProcess::fail_log_e_value)
    }

    /// Log e-value of the pass test (`0` while it cannot run).
    pub(crate) fn pass_log_e_value(&self) -> f64 {
        self.pass
            .as_ref()
            .map_or(0.0, LimitEProcess::pass_log_e_value)
    }

    /// The practical gate of a fail: the observed rate is beyond the limit.
    pub(crate) fn beyond_limit(&self) -> bool {
        self.fail.as_ref().is_ok_and(LimitEProcess::beyond_limit)
    }

    /// Why the metric cannot be judged at all against its limit, if it cannot.
    pub(crate) fn problem(&self) -> Option<&str> {
        self.fail.as_ref().err().map(String::as_str)
    }

    /// Why the metric may not pass, if it may not.
    pub(crate) fn pass_blocked(&self) -> Option<&str> {
        self.pass.as_ref().err().map(String::as_str)
    }

    /// The observed rate, if any trial was counted.
    pub(crate) fn rate(&self) -> Option<f64> {
        self.fail.as_ref().ok().and_then(LimitEProcess::rate)
    }

    /// The limit as written, for reasons: `2%`, `p99 ≤ 0.5`.
    pub(crate) fn limit_text(&self) -> String {
        match self.quantile {
            None => format!("{}%", short(self.limit * 100.0)),
            Some(q) => format!("p{} ≤ {}", short(q * 100.0), short(self.limit)),
        }
    }

    /// The evidence of this judgement, with the confidence sequence at `1 - alpha`.
    pub(crate) fn evidence(&self, alpha: f64, reported: fn(f64) -> f64) -> AbsoluteEvidence {
        let fail = self.fail.as_ref().ok();
        let interval = fail.map(|f| f.confidence_interval(alpha));
        let edge = |index: Option<usize>| {
            let cuts = self.cuts.as_ref()?;
            cuts.upper_bounds.get(index?).copied()
        };
        let (events, trials) = fail.map_or((0.0, 0.0), |f| (f.events(), f.trials()));
        AbsoluteEvidence {
            limit: self.limit,
            rate_limit: self.quantile.map_or(self.limit, |q| 1.0 - q),
            edge: edge(self.cuts.as_ref().and_then(|c| c.fail)),
            pass_edge: edge(self.cuts.as_ref().and_then(|c| c.pass)),
            canary: ArmCounts {
                events,
                trials,
                rate: self.rate(),
            },
            lower: interval.map_or(0.0, |i| i.lower),
            upper: interval.map_or(1.0, |i| i.upper),
            e_value: reported(self.fail_log_e_value()),
            pass_e_value: reported(self.pass_log_e_value()),
            threshold: (1.0 / alpha).min(f64::MAX),
            canary_quantile: self
                .quantile
                .zip(self.cuts.as_ref())
                .and_then(|(q, cuts)| cuts.judged.quantile(q)),
        }
    }
}

/// `x` with at most six decimals and no trailing zeros: `3.5` for `3.5000000000000004`.
fn short(x: f64) -> String {
    let text = format!("{x:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_read_as_written() {
        assert_eq!(short(0.035 * 100.0), "3.5");
        assert_eq!(short(2.0), "2");
        assert_eq!(short(0.00025), "0.00025");
    }
}
