//! Special functions and the few distribution functions the judge and the benchmark use.
//!
//! Gamma, beta, normal and lognormal come from `statrs`; the binomial log-pmf is written over
//! `ln_gamma` so that it also accepts the non-integer counts a Prometheus counter can hold.
//! Every function returns `Err` (never panics) on a parameter outside its domain.

use statrs::distribution::{ContinuousCDF, LogNormal, Normal};

use super::{Result, StatsError};

fn check(ok: bool, function: &'static str, detail: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(StatsError::Domain {
            function,
            detail: detail(),
        })
    }
}

/// `ln Γ(x)` for `x > 0`.
pub fn ln_gamma(x: f64) -> Result<f64> {
    check(x > 0.0 && x.is_finite(), "ln_gamma", || format!("x = {x}"))?;
    Ok(statrs::function::gamma::ln_gamma(x))
}

/// `ln B(a, b)` for `a, b > 0`.
pub fn ln_beta(a: f64, b: f64) -> Result<f64> {
    statrs::function::beta::checked_ln_beta(a, b).map_err(|_| StatsError::Domain {
        function: "ln_beta",
        detail: format!("a = {a}, b = {b}"),
    })
}

/// `ln C(n, k)`, the log binomial coefficient, for real `0 ≤ k ≤ n`.
pub fn ln_binomial(n: f64, k: f64) -> Result<f64> {
    check(k >= 0.0 && k <= n && n.is_finite(), "ln_binomial", || {
        format!("n = {n}, k = {k}")
    })?;
    if k == 0.0 || k == n {
        return Ok(0.0);
    }
    Ok(ln_gamma(n + 1.0)? - ln_gamma(k + 1.0)? - ln_gamma(n - k + 1.0)?)
}

/// `ln P(X = k)` for `X ~ Binomial(n, p)`, real `0 ≤ k ≤ n`, `0 ≤ p ≤ 1`.
pub fn binomial_ln_pmf(k: f64, n: f64, p: f64) -> Result<f64> {
    check((0.0..=1.0).contains(&p), "binomial_ln_pmf", || {
        format!("p = {p}")
    })?;
    let coefficient = ln_binomial(n, k)?;
    Ok(coefficient + x_ln_y(k, p) + x_ln_y(n - k, 1.0 - p))
}

/// `x ln y` with the convention `0 ln 0 = 0`.
pub fn x_ln_y(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * y.ln() }
}

/// The standard normal distribution function `Φ(x)`.
pub fn normal_cdf(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// The standard normal quantile `Φ⁻¹(p)` for `0 < p < 1`.
pub fn normal_ppf(p: f64) -> Result<f64> {
    check(p > 0.0 && p < 1.0, "normal_ppf", || format!("p = {p}"))?;
    Ok(Normal::standard().inverse_cdf(p))
}

/// The lognormal distribution function at `x` for `ln X ~ Normal(mu, sigma)`, `sigma > 0`.
pub fn lognormal_cdf(x: f64, mu: f64, sigma: f64) -> Result<f64> {
    let distribution = LogNormal::new(mu, sigma).map_err(|_| StatsError::Domain {
        function: "lognormal_cdf",
        detail: format!("mu = {mu}, sigma = {sigma}"),
    })?;
    Ok(distribution.cdf(x))
}

/// `KL(Bernoulli(p) ‖ Bernoulli(q))` in nats, for `p` in `[0, 1]` and `q` in `(0, 1)`.
pub fn bernoulli_kl(p: f64, q: f64) -> Result<f64> {
    check(
        (0.0..=1.0).contains(&p) && q > 0.0 && q < 1.0,
        "bernoulli_kl",
        || format!("p = {p}, q = {q}"),
    )?;
    Ok(x_ln_y(p, p / q) + x_ln_y(1.0 - p, (1.0 - p) / (1.0 - q)))
}

/// `ln(p / (1 - p))`.
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

/// `1 / (1 + e^{-x})`, the inverse of [`logit`].
pub fn expit(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `ln Σ exp(a_i + b_i)`, stable for large terms; `-inf` for empty input.
pub fn log_sum_exp_weighted(a: &[f64], b: &[f64]) -> f64 {
    let max = a
        .iter()
        .zip(b)
        .map(|(x, y)| x + y)
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = a.iter().zip(b).map(|(x, y)| (x + y - max).exp()).sum();
    max + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_pmf_sums_to_one() {
        let total: f64 = (0..=20)
            .map(|k| binomial_ln_pmf(f64::from(k), 20.0, 0.3).unwrap().exp())
            .sum();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    #[test]
    fn domain_errors_name_the_function() {
        let error = normal_ppf(1.5).unwrap_err();
        assert!(error.to_string().contains("normal_ppf"), "{error}");
        assert!(binomial_ln_pmf(3.0, 2.0, 0.5).is_err());
        assert!(ln_beta(0.0, 1.0).is_err());
        assert!(lognormal_cdf(1.0, 0.0, -1.0).is_err());
    }

    #[test]
    fn expit_inverts_logit() {
        for p in [1e-6, 0.01, 0.5, 0.99] {
            assert!((expit(logit(p)) - p).abs() < 1e-15);
        }
    }

    #[test]
    fn log_sum_exp_handles_huge_terms() {
        let value = log_sum_exp_weighted(&[1000.0, 1000.0], &[0.0, 0.0]);
        assert!((value - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp_weighted(&[], &[]), f64::NEG_INFINITY);
    }
}
