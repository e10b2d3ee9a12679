//! The judge's statistics against scipy: `testdata/stats/oracle.json`, written by
//! `scripts/scipy_oracle.py`. Distribution functions agree to 1e-9 relative; log e-values to 1e-9
//! absolute; confidence-sequence endpoints exactly (they are grid points), except the one-sample
//! limit test's, which are found by bisection and agree to 1e-9 absolute.

use ripcord_sidecar::stats::limit::{LIMIT_GRID_POINTS, LIMIT_PSI_HI, LIMIT_PSI_LO, LimitEProcess};
use ripcord_sidecar::stats::ordinal::OrdinalEProcess;
use ripcord_sidecar::stats::ratio::{GRID_POINTS, GRID_RANGE, PASS_SPAN, RatioEProcess};
use ripcord_sidecar::stats::share::{
    CellTick, PRIOR_GAMMA, PRIOR_LOW_FRACTION, PRIOR_POINTS, PRIOR_PSI_FLOOR, PRIOR_PSI_HI,
    REFRESH_LOGIT, ShareEProcess, SharePrior,
};
use ripcord_sidecar::stats::special;
use serde_json::Value;

fn oracle() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/stats/oracle.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("test data is valid"))
        .expect("test data is valid")
}

fn rows<'a>(oracle: &'a Value, name: &str) -> Vec<Vec<f64>> {
    let table: &'a Vec<Value> = oracle["distributions"][name]
        .as_array()
        .expect("test data is valid");
    assert!(!table.is_empty(), "{name} has no cases");
    table
        .iter()
        .map(|row| {
            row.as_array()
                .expect("test data is valid")
                .iter()
                .map(|v| v.as_f64().expect("test data is valid"))
                .collect()
        })
        .collect()
}

fn assert_relative(name: &str, args: &[f64], got: f64, want: f64) {
    let error = (got - want).abs() / want.abs().max(1e-300);
    assert!(
        error <= 1e-9 || (got - want).abs() <= 1e-300,
        "{name}{args:?}: got {got}, scipy {want}"
    );
}

/// Logarithms compare absolutely: an absolute error of 1e-9 on a log is a relative 1e-9 on its value.
fn assert_log(name: &str, args: &[f64], got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{name}{args:?}: got {got}, scipy {want}"
    );
}

#[test]
fn distribution_functions_agree_with_scipy() {
    let oracle = oracle();
    for r in rows(&oracle, "binomial_ln_pmf") {
        assert_log(
            "binomial_ln_pmf",
            &r,
            special::binomial_ln_pmf(r[0], r[1], r[2]).expect("test data is valid"),
            r[3],
        );
    }
    for r in rows(&oracle, "normal_cdf") {
        assert_relative("normal_cdf", &r, special::normal_cdf(r[0]), r[1]);
    }
    for r in rows(&oracle, "normal_ppf") {
        assert_relative(
            "normal_ppf",
            &r,
            special::normal_ppf(r[0]).expect("test data is valid"),
            r[1],
        );
    }
    for r in rows(&oracle, "lognormal_cdf") {
        assert_relative(
            "lognormal_cdf",
            &r,
            special::lognormal_cdf(r[0], r[1], r[2]).expect("test data is valid"),
            r[3],
        );
    }
    for r in rows(&oracle, "ln_gamma") {
        assert_log(
            "ln_gamma",
            &r,
            special::ln_gamma(r[0]).expect("test data is valid"),
            r[1],
        );
    }
    for r in rows(&oracle, "ln_beta") {
        assert_log(
            "ln_beta",
            &r,
            special::ln_beta(r[0], r[1]).expect("test data is valid"),
            r[2],
        );
    }
    for r in rows(&oracle, "bernoulli_kl") {
        let got = special::bernoulli_kl(r[0], r[1]).expect("test data is valid");
        assert!(
            (got - r[2]).abs() <= 1e-9 * r[2].abs().max(1e-12),
            "bernoulli_kl{r:?}: {got}"
        );
    }
}

#[test]
fn oracle_uses_the_judges_grid_and_prior() {
    let prior = &oracle()["prior"];
    let number = |key: &str| prior[key].as_f64().expect("test data is valid");
    assert_eq!(number("low_fraction"), PRIOR_LOW_FRACTION);
    assert_eq!(number("psi_hi"), PRIOR_PSI_HI);
    assert_eq!(number("points"), PRIOR_POINTS as f64);
    assert_eq!(number("gamma"), PRIOR_GAMMA);
    assert_eq!(number("refresh_logit"), REFRESH_LOGIT);
    assert_eq!(number("grid_points"), GRID_POINTS as f64);
    assert_eq!(number("grid_range"), GRID_RANGE);
    assert_eq!(number("pass_span"), PASS_SPAN);
}

#[test]
fn e_values_and_confidence_sequences_agree_with_scipy() {
    let oracle = oracle();
    let cases = oracle["e_values"].as_array().expect("test data is valid");
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().expect("test data is valid");
        let tolerance = case["tolerance"].as_f64().expect("test data is valid");
        let higher = case["higher_is_worse"]
            .as_bool()
            .expect("test data is valid");
        let alpha = case["alpha"].as_f64().expect("test data is valid");
        let history: Vec<f64> = case["history"]
            .as_array()
            .expect("test data is valid")
            .iter()
            .map(|v| v.as_f64().expect("test data is valid"))
            .collect();
        let mut share = ShareEProcess::new(
            &SharePrior::for_tolerance(tolerance, higher).expect("test data is valid"),
        )
        .expect("test data is valid");
        share
            .add_baseline_history(history[0], history[1])
            .expect("test data is valid");
        let null = if higher {
            1.0 + tolerance
        } else {
            1.0 - tolerance
        };
        let mut ratio = RatioEProcess::new(null, higher).expect("test data is valid");
        for tick in case["ticks"].as_array().expect("test data is valid") {
            let t: Vec<f64> = tick
                .as_array()
                .expect("test data is valid")
                .iter()
                .map(|v| v.as_f64().expect("test data is valid"))
                .collect();
            let (xa, na, xb, nb) = (t[0], t[1], t[2], t[3]);
            let cells = if higher {
                CellTick {
                    canary_bad: xa,
                    canary_total: na,
                    baseline_bad: xb,
                    baseline_total: nb,
                }
            } else {
                CellTick {
                    canary_bad: na - xa,
                    canary_total: na,
                    baseline_bad: nb - xb,
                    baseline_total: nb,
                }
            };
            share.update(&cells).expect("test data is valid");
            ratio.update(xa, na, xb, nb);
        }
        let fail = case["fail_log_e"].as_f64().expect("test data is valid");
        assert!(
            (share.log_e_value() - fail).abs() <= 1e-9,
            "{name}: fail {} vs {fail}",
            share.log_e_value()
        );
        let pass = case["pass_log_e"].as_f64().expect("test data is valid");
        assert!(
            (ratio.pass_log_e_value() - pass).abs() <= 1e-9,
            "{name}: pass {} vs {pass}",
            ratio.pass_log_e_value()
        );
        let interval = ratio.confidence_interval(alpha);
        let lower = case["lower"].as_f64().expect("test data is valid");
        assert!(
            (interval.lower - lower).abs() <= 1e-12 * lower.max(1.0),
            "{name}: lower {interval:?} vs {lower}"
        );
        match case["upper"].as_f64() {
            Some(upper) => assert!(
                (interval.upper.expect("test data is valid") - upper).abs() <= 1e-12 * upper,
                "{name}: {interval:?}"
            ),
            None => assert_eq!(interval.upper, None, "{name}"),
        }
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .expect("test data is valid")
        .iter()
        .map(|v| v.as_f64().expect("test data is valid"))
        .collect()
}

#[test]
fn ordinal_e_values_agree_with_scipy() {
    let oracle = oracle();
    assert_eq!(
        oracle["prior"]["psi_floor"]
            .as_f64()
            .expect("test data is valid"),
        PRIOR_PSI_FLOOR
    );
    let cases = oracle["ordinal_e_values"]
        .as_array()
        .expect("test data is valid");
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().expect("test data is valid");
        let prior =
            SharePrior::for_log_odds(case["psi_tolerance"].as_f64().expect("test data is valid"))
                .expect("test data is valid");
        let history = numbers(&case["history"]);
        let mut e = OrdinalEProcess::new(&prior, history.len()).expect("test data is valid");
        e.add_baseline_history(&history)
            .expect("test data is valid");
        for tick in case["ticks"].as_array().expect("test data is valid") {
            e.update(&numbers(&tick[0]), &numbers(&tick[1]))
                .expect("test data is valid");
        }
        assert_log(
            name,
            &[],
            e.log_e_value(),
            case["log_e"].as_f64().expect("test data is valid"),
        );
    }
}

#[test]
fn limit_e_values_and_confidence_sequences_agree_with_scipy() {
    let oracle = oracle();
    let grid = &oracle["limit"];
    let number = |key: &str| grid[key].as_f64().expect("test data is valid");
    assert_eq!(number("grid_points"), LIMIT_GRID_POINTS as f64);
    assert_eq!(number("psi_lo"), LIMIT_PSI_LO);
    assert_eq!(number("psi_hi"), LIMIT_PSI_HI);
    let cases = oracle["limit_e_values"]
        .as_array()
        .expect("test data is valid");
    assert!(cases.len() >= 4);
    for case in cases {
        let name = case["name"].as_str().expect("test data is valid");
        let value = |key: &str| case[key].as_f64().expect("test data is valid");
        let higher = case["higher_is_worse"]
            .as_bool()
            .expect("test data is valid");
        let mut e = LimitEProcess::new(value("limit"), higher).expect("test data is valid");
        for tick in case["ticks"].as_array().expect("test data is valid") {
            let t = numbers(tick);
            e.update(t[0], t[1]).expect("test data is valid");
        }
        assert_log(name, &[], e.fail_log_e_value(), value("fail_log_e"));
        assert_log(name, &[], e.pass_log_e_value(), value("pass_log_e"));
        let interval = e.confidence_interval(value("alpha"));
        assert_log(name, &[], interval.lower, value("lower"));
        assert_log(name, &[], interval.upper, value("upper"));
    }
}
