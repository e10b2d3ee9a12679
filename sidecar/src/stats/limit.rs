//! The one-sample test against an absolute limit, for a release without a baseline: a grid
//! mixture of binomial likelihood ratios on the canary's own event rate `p`, with its confidence
//! sequence.
//!
//! **Alternatives.** For a limit `L` in `(0, 1)` the alternatives are the rates
//! `q = expit(logit(L) ± ψ_i)`, `ψ_i = ψ_lo (ψ_hi/ψ_lo)^{i/(K-1)}`, `i = 0..K`
//! ([`LIMIT_PSI_LO`], [`LIMIT_PSI_HI`], [`LIMIT_GRID_POINTS`]): `K` log-odds offsets on the bad side
//! of the limit (above it when higher is worse) and `K` mirrored on the good side. They are fixed
//! when the test is built, before any data, so the mixture is predictable.
//!
//! **Fail test** against `H0: p_t ≤ L` at every request (mirrored, `p_t ≥ L`, when lower is
//! worse). Each bad-side alternative `q > L` gives the per-request factor
//! `(q/L)^{y} ((1-q)/(1-L))^{1-y}` for an event indicator `y`; given the past its expectation is
//! `p q/L + (1-p)(1-q)/(1-L)`, which is `1` at `p = L` and increases in `p` (its slope is
//! `q/L - (1-q)/(1-L) > 0`), so it is at most `1` for every `p ≤ L`, even when the rate moves
//! between requests. The running product is therefore a nonnegative supermartingale under `H0`,
//! and so is the uniform mean over the `K` alternatives (fixed weights summing to one). Ville's
//! inequality gives `P(ever E ≥ 1/α) ≤ α`: the test may be checked after every request or tick
//! at no cost. The product depends on the data only through the totals `x` events in `n`
//! requests: `ln E = ln mean_i exp(x ln(q_i/L) + (n-x) ln((1-q_i)/(1-L)))`.
//!
//! **Pass test** against `H0': p_t ≥ L` (mirrored): the same construction over the good-side
//! alternatives; the slope argument runs the other way.
//!
//! **Confidence sequence.** For each candidate constant rate `p`, the mean over all `2K`
//! alternatives of `Π (q_i/p)^y ((1-q_i)/(1-p))^{1-y}` is a martingale of mean one under `p`;
//! `{p : ln mean_i exp(LL(q_i)) - LL(p) < ln(1/α)}`, `LL(p) = x ln p + (n-x) ln(1-p)`, covers
//! the true rate at all times with probability `1 - α`. `LL` is concave, and the maximum
//! likelihood rate `x/n` is always inside, so the set is an interval; its ends are found by
//! bisection.
//!
//! Counts are totals of Prometheus counters, so non-integer values are accepted; requests are
//! taken as Bernoulli trials given the past, as in [`super::share`] and [`super::ratio`].

use super::special::x_ln_y;
use super::{Result, StatsError};

/// Alternatives per side of the limit.
pub const LIMIT_GRID_POINTS: usize = 32;
/// Smallest log-odds distance of an alternative from the limit.
pub const LIMIT_PSI_LO: f64 = 0.02;
/// Largest log-odds distance of an alternative from the limit.
pub const LIMIT_PSI_HI: f64 = 4.0;

/// Bisection steps for the confidence sequence's ends (interval width below `2^-80`).
const BISECTION_STEPS: usize = 80;

/// The `i`-th log-odds offset of the grid.
pub fn limit_offset(i: usize) -> f64 {
    let steps = (LIMIT_GRID_POINTS - 1) as f64;
    LIMIT_PSI_LO * (LIMIT_PSI_HI / LIMIT_PSI_LO).powf(i as f64 / steps)
}

/// An always-valid interval on the canary's event rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateInterval {
    /// Lower end, in `[0, 1]`.
    pub lower: f64,
    /// Upper end, in `[0, 1]`.
    pub upper: f64,
}

/// The fail and pass e-processes of one rate against one limit, and its confidence sequence.
#[derive(Debug, Clone)]
pub struct LimitEProcess {
    limit: f64,
    higher_is_worse: bool,
    bad: Vec<f64>,
    good: Vec<f64>,
    events: f64,
    trials: f64,
}

impl LimitEProcess {
    /// A fresh test of the rate against `limit`, in `(0, 1)`; higher is worse when
    /// `higher_is_worse` (the fail test's null is then `rate ≤ limit`).
    pub fn new(limit: f64, higher_is_worse: bool) -> Result<LimitEProcess> {
        if !(limit > 0.0 && limit < 1.0) {
            return Err(StatsError::Parameter(format!(
                "absolute limit {limit} is not a rate strictly between 0 and 1"
            )));
        }
        let centre = super::special::logit(limit);
        let side = |sign: f64| -> Vec<f64> {
            (0..LIMIT_GRID_POINTS)
                .map(|i| super::special::expit(centre + sign * limit_offset(i)))
                .collect()
        };
        let worse = if higher_is_worse { 1.0 } else { -1.0 };
        Ok(LimitEProcess {
            limit,
            higher_is_worse,
            bad: side(worse),
            good: side(-worse),
            events: 0.0,
            trials: 0.0,
        })
    }

    /// Adds one tick's `events` out of `trials`; refuses counts that are negative, not finite,
    /// or with more events than trials (and then changes nothing).
    pub fn update(&mut self, events: f64, trials: f64) -> Result<()> {
        if !(events.is_finite() && trials.is_finite() && events >= 0.0 && events <= trials) {
            return Err(StatsError::Domain {
                function: "LimitEProcess::update",
                detail: format!("events = {events}, trials = {trials}"),
            });
        }
        self.events += events;
        self.trials += trials;
        Ok(())
    }

    /// The limit tested against.
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// Events counted so far.
    pub fn events(&self) -> f64 {
        self.events
    }

    /// Trials counted so far.
    pub fn trials(&self) -> f64 {
        self.trials
    }

    /// The observed rate, `None` before any trial.
    pub fn rate(&self) -> Option<f64> {
        (self.trials > 0.0).then(|| self.events / self.trials)
    }

    /// Whether the observed rate is beyond the limit (the practical gate of a fail).
    pub fn beyond_limit(&self) -> bool {
        self.rate().is_some_and(|rate| {
            if self.higher_is_worse {
                rate > self.limit
            } else {
                rate < self.limit
            }
        })
    }

    fn log_likelihood(&self, p: f64) -> f64 {
        x_ln_y(self.events, p) + x_ln_y(self.trials - self.events, 1.0 - p)
    }

    /// `ln mean_i exp(LL(q_i))` over `alternatives`, without allocating.
    fn log_mixture(&self, alternatives: &[f64]) -> f64 {
        let max = alternatives
            .iter()
            .map(|&q| self.log_likelihood(q))
            .fold(f64::NEG_INFINITY, f64::max);
        if !max.is_finite() {
            return max;
        }
        let sum: f64 = alternatives
            .iter()
            .map(|&q| (self.log_likelihood(q) - max).exp())
            .sum();
        max + (sum / alternatives.len() as f64).ln()
    }

    /// Natural logarithm of the fail test's e-value (evidence that the rate is beyond the limit).
    pub fn fail_log_e_value(&self) -> f64 {
        self.log_mixture(&self.bad) - self.log_likelihood(self.limit)
    }

    /// Natural logarithm of the pass test's e-value (evidence that the rate is within the limit).
    pub fn pass_log_e_value(&self) -> f64 {
        self.log_mixture(&self.good) - self.log_likelihood(self.limit)
    }

    /// The confidence sequence at level `1 - alpha` on the (constant) rate.
    pub fn confidence_interval(&self, alpha: f64) -> RateInterval {
        // Both sides have LIMIT_GRID_POINTS alternatives: the mean over all is the mean of means.
        let (bad, good) = (self.log_mixture(&self.bad), self.log_mixture(&self.good));
        let high = bad.max(good);
        let all = high + (0.5 * ((bad - high).exp() + (good - high).exp())).ln();
        let cut = all + alpha.ln();
        let inside = |p: f64| self.log_likelihood(p) > cut;
        let centre = self.rate().unwrap_or(self.limit);
        RateInterval {
            lower: edge(centre, 0.0, inside),
            upper: edge(centre, 1.0, inside),
        }
    }
}

/// The end of the interval `{p : inside(p)}` between `centre` (inside) and `bound`.
fn edge(centre: f64, bound: f64, inside: impl Fn(f64) -> bool) -> f64 {
    if inside(bound) {
        return bound;
    }
    let (mut inner, mut outer) = (centre, bound);
    for _ in 0..BISECTION_STEPS {
        let middle = 0.5 * (inner + outer);
        if inside(middle) {
            inner = middle;
        } else {
            outer = middle;
        }
    }
    outer
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use rand_distr::{Binomial, Distribution};

    use super::*;

    #[test]
    fn refuses_a_limit_that_is_not_a_rate_and_bad_counts() {
        for limit in [0.0, 1.0, -0.1, f64::NAN] {
            assert!(LimitEProcess::new(limit, true).is_err(), "{limit}");
        }
        let mut e = LimitEProcess::new(0.02, true).expect("valid limit");
        assert!(e.update(3.0, 2.0).is_err());
        assert!(e.update(f64::NAN, 2.0).is_err());
        assert_eq!(e.trials(), 0.0);
    }

    #[test]
    fn no_data_is_no_evidence_and_the_interval_is_everything() {
        let e = LimitEProcess::new(0.02, true).expect("valid limit");
        assert_eq!(e.fail_log_e_value(), 0.0);
        assert_eq!(e.pass_log_e_value(), 0.0);
        assert_eq!(
            e.confidence_interval(0.01),
            RateInterval {
                lower: 0.0,
                upper: 1.0
            }
        );
    }

    /// Runs `runs` seeded releases of `ticks` ticks of `per_tick` requests at `rate` against
    /// `limit`; returns how many fail (and pass) e-values ever reached `1/alpha`, checked each tick.
    fn crossings(
        rate: f64,
        limit: f64,
        higher_is_worse: bool,
        alpha: f64,
        (runs, ticks, per_tick): (u64, usize, u64),
    ) -> (u64, u64) {
        let threshold = -alpha.ln();
        let binomial = Binomial::new(per_tick, rate).expect("valid rate");
        let (mut fails, mut passes) = (0, 0);
        for seed in 0..runs {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut e = LimitEProcess::new(limit, higher_is_worse).expect("valid limit");
            let (mut failed, mut passed) = (false, false);
            for _ in 0..ticks {
                let events = binomial.sample(&mut rng) as f64;
                e.update(events, per_tick as f64).expect("valid counts");
                failed |= e.fail_log_e_value() >= threshold;
                passed |= e.pass_log_e_value() >= threshold;
                if failed && passed {
                    break;
                }
            }
            fails += u64::from(failed);
            passes += u64::from(passed);
        }
        (fails, passes)
    }

    /// The false-alarm bound at the boundary of the null: a rate exactly at the limit, looked at
    /// every tick for 400 ticks, crosses `1/α` in at most `α` of the runs (both tests, both
    /// directions), with three binomial standard errors of slack for 1000 runs.
    #[test]
    fn at_the_limit_false_alarms_stay_below_alpha() {
        let (alpha, runs) = (0.05, 1000);
        let slack = 3.0 * (alpha * (1.0 - alpha) / runs as f64).sqrt();
        for (limit, higher_is_worse) in [(0.02, true), (0.3, false)] {
            let (fails, passes) = crossings(limit, limit, higher_is_worse, alpha, (runs, 400, 20));
            println!(
                "limit {limit} (higher is worse: {higher_is_worse}), rate at the limit, alpha {alpha}: \
                 fail test crossed in {fails} of {runs} runs, pass test in {passes}"
            );
            for (what, count) in [("fail", fails), ("pass", passes)] {
                let share = count as f64 / runs as f64;
                assert!(
                    share <= alpha + slack,
                    "{what} test at limit {limit}: {count} of {runs} runs crossed"
                );
            }
        }
    }

    #[test]
    fn a_clear_breach_fails_and_a_clear_margin_passes() {
        let runs = 200;
        let (fails, passes) = crossings(0.04, 0.02, true, 0.01, (runs, 300, 50));
        assert_eq!((fails, passes), (runs, 0), "2 % limit, 4 % errors");
        let (fails, passes) = crossings(0.01, 0.02, true, 0.01, (runs, 300, 50));
        assert_eq!((fails, passes), (0, runs), "2 % limit, 1 % errors");
        let (fails, _) = crossings(0.015, 0.03, false, 0.01, (runs, 300, 50));
        assert_eq!(fails, runs, "conversion at least 3 %, converting 1.5 %");
    }

    #[test]
    fn the_interval_covers_the_rate_and_shrinks() {
        let mut e = LimitEProcess::new(0.02, true).expect("valid limit");
        e.update(40.0, 1000.0).expect("valid counts");
        let wide = e.confidence_interval(0.01);
        for _ in 0..99 {
            e.update(40.0, 1000.0).expect("valid counts");
        }
        let narrow = e.confidence_interval(0.01);
        assert!(wide.lower < 0.04 && wide.upper > 0.04, "{wide:?}");
        assert!(narrow.lower < 0.04 && narrow.upper > 0.04, "{narrow:?}");
        assert!(narrow.lower > wide.lower && narrow.upper < wide.upper);
        assert!(narrow.lower > 0.035 && narrow.upper < 0.045, "{narrow:?}");
        assert!(e.beyond_limit());
    }
}
