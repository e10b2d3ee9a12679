//! The simulator, the reference policies and Wald's bound, checked against their definitions.

use ripcord_sidecar::sim::SimError;
use ripcord_sidecar::sim::latency::CELLS;
use ripcord_sidecar::sim::policy::oracle::{OracleSprt, SprtState, Truth};
use ripcord_sidecar::sim::policy::{Policy, PolicyKind};
use ripcord_sidecar::sim::scenario::{self, Traffic};
use ripcord_sidecar::sim::stream::{ArmCounts, ReleaseSim, Tick, release_seed};
use ripcord_sidecar::sim::wald::scenario_bound;
use ripcord_sidecar::sim::watch::{MetricKind, Watch};

const FAST: Traffic = Traffic {
    canary_rps: 50.0,
    baseline_rps: 50.0,
};

fn within_sigmas(observed: f64, expected_p: f64, trials: f64, sigmas: f64) -> bool {
    let se = (expected_p * (1.0 - expected_p) / trials).sqrt();
    (observed - expected_p).abs() <= sigmas * se
}

#[test]
fn simulated_rates_match_their_parameters() {
    let regressions = scenario::regressions().unwrap();
    let errors = &regressions[0];
    let mut sim = ReleaseSim::new(errors, FAST, 11).unwrap();
    let (mut canary, mut baseline) = (ArmCounts::default(), ArmCounts::default());
    for _ in 0..3600 {
        let tick = sim.next_tick().unwrap();
        canary.add(&tick.canary);
        baseline.add(&tick.baseline);
    }
    let n = canary.requests as f64;
    // Six whole load periods: the mean rate is the nominal one up to the per-minute noise.
    assert!(
        (n / 3600.0 / 50.0 - 1.0).abs() < 0.03,
        "canary mean rate {}",
        n / 3600.0
    );
    assert!((baseline.requests as f64 / 3600.0 / 50.0 - 1.0).abs() < 0.03);
    assert!(within_sigmas(canary.errors as f64 / n, 0.05, n, 4.0));
    assert!(within_sigmas(
        baseline.errors as f64 / baseline.requests as f64,
        0.01,
        baseline.requests as f64,
        4.0
    ));
    assert!(within_sigmas(canary.conversions as f64 / n, 0.10, n, 4.0));
    let cells = errors.canary.latency.cell_probabilities();
    for (i, p) in cells.iter().enumerate() {
        assert!(
            within_sigmas(canary.latency_cells[i] as f64 / n, *p, n, 4.5),
            "cell {i}"
        );
    }
    assert_eq!(canary.latency_cells.iter().sum::<u64>(), canary.requests);
}

#[test]
fn latency_scenarios_move_what_they_say() {
    let regressions = scenario::regressions().unwrap();
    let median = &regressions[3];
    let tail = &regressions[4];
    assert_eq!(median.regressing, Some(MetricKind::Latency));
    let base = median.baseline.latency;
    assert!((median.canary.latency.quantile(0.5) / base.quantile(0.5) - 1.1).abs() < 1e-9);
    assert!((tail.canary.latency.quantile(0.5) / base.quantile(0.5) - 1.0).abs() < 1e-12);
    assert!((tail.canary.latency.quantile(0.99) / base.quantile(0.99) - 1.5).abs() < 1e-9);
    assert!((base.quantile(0.5) - 0.080).abs() < 1e-12);
}

#[test]
fn wald_bound_reproduces_the_design_figures() {
    let regressions = scenario::regressions().unwrap();
    let bound = |i: usize| {
        let s = &regressions[i];
        scenario_bound(s.regressing.unwrap(), &s.canary, &s.baseline, FAST, 0.01).unwrap()
    };
    assert!((bound(0) - 6.0).abs() < 0.05, "1%→5%: {}", bound(0));
    assert!((bound(1) - 52.0).abs() < 0.5, "1%→2%: {}", bound(1));
    assert!((bound(2) - 21.0).abs() < 0.1, "0.1%→1%: {}", bound(2));
    let aa = scenario::aa().unwrap();
    assert_eq!(
        scenario_bound(MetricKind::Errors, &aa.canary, &aa.baseline, FAST, 0.01),
        None
    );
}

fn fires_at(policy: &mut dyn Policy, ticks: impl IntoIterator<Item = Tick>) -> Option<u32> {
    policy.history(&[]);
    ticks
        .into_iter()
        .find(|t| policy.observe(t))
        .map(|t| t.second)
}

fn arm(requests: u64, errors: u64) -> ArmCounts {
    let mut latency_cells = [0; CELLS];
    latency_cells[4] = requests;
    ArmCounts {
        requests,
        errors,
        conversions: requests / 10,
        latency_cells,
    }
}

/// 100 requests a second per arm, 1 % errors in the baseline; the canary at `bad` errors in the
/// minutes `bad_minute` says are bad, 1 % otherwise.
fn stream(bad: u64, bad_minute: impl Fn(u32) -> bool) -> impl Iterator<Item = Tick> {
    (1..=3600).map(move |second| {
        let minute = (second - 1) / 60;
        let canary_errors = if bad_minute(minute) { bad } else { 1 };
        Tick {
            second,
            canary: arm(100, canary_errors),
            baseline: arm(100, 1),
        }
    })
}

#[test]
fn flagger_rolls_back_at_the_fifth_failed_check() {
    let watch = Watch::errors();
    let mut flagger = PolicyKind::Flagger.build(&watch);
    assert_eq!(fires_at(flagger.as_mut(), stream(5, |_| true)), Some(300));
    // Failed checks count over the analysis, not only in a row: bad minutes 0, 2, 4, 6, 8.
    let mut flagger = PolicyKind::Flagger.build(&watch);
    assert_eq!(
        fires_at(flagger.as_mut(), stream(5, |m| m % 2 == 0)),
        Some(540)
    );
    // Within tolerance (+40 % < +50 %) never fails.
    let within = (1..=3600).map(|second| Tick {
        second,
        canary: arm(100, 7),
        baseline: arm(100, 5),
    });
    let mut flagger = PolicyKind::Flagger.build(&watch);
    assert_eq!(fires_at(flagger.as_mut(), within), None);
}

#[test]
fn argo_aborts_at_the_first_failed_measurement() {
    let watch = Watch::errors();
    let mut argo = PolicyKind::Argo.build(&watch);
    assert_eq!(fires_at(argo.as_mut(), stream(5, |_| true)), Some(60));
    let mut argo = PolicyKind::Argo.build(&watch);
    assert_eq!(fires_at(argo.as_mut(), stream(5, |m| m >= 3)), Some(240));
}

#[test]
fn kayenta_judges_once_at_sixty_minutes() {
    let watch = Watch::errors();
    let mut kayenta = PolicyKind::Kayenta.build(&watch);
    assert_eq!(fires_at(kayenta.as_mut(), stream(5, |_| true)), Some(3600));
    let mut kayenta = PolicyKind::Kayenta.build(&watch);
    assert_eq!(fires_at(kayenta.as_mut(), stream(1, |_| true)), None);
}

#[test]
fn naive_z_test_inflates_false_alarms() {
    let aa = scenario::aa().unwrap();
    let watch = Watch::all(0.99);
    let releases = 100;
    let mut alarms = 0;
    for r in 0..releases {
        let mut sim = ReleaseSim::new(&aa, FAST, release_seed(5, 0, 0, r)).unwrap();
        let history = sim.history(300).unwrap();
        let mut z = PolicyKind::ZTest.build(&watch);
        z.history(&history);
        if (0..3600).any(|_| z.observe(&sim.next_tick().unwrap())) {
            alarms += 1;
        }
    }
    // One look at alpha 0.01 per metric would give at most ~3 %; looking every second gives far more.
    assert!(
        alarms as f64 / releases as f64 > 0.04,
        "{alarms} false alarms in {releases} releases"
    );
}

/// Seconds until the oracle SPRT stops (fires or abandons) on one seeded release, and whether it fired.
fn oracle_stop(
    scenario: &scenario::Scenario,
    watch: &Watch,
    seed: u64,
) -> Result<(u32, SprtState), SimError> {
    let truth = Truth {
        canary: scenario.canary,
        baseline: scenario.baseline,
        traffic: FAST,
    };
    let mut oracle = OracleSprt::new(watch, &truth);
    let mut sim = ReleaseSim::new(scenario, FAST, seed)?;
    oracle.history(&sim.history(300)?);
    for _ in 0..3600 {
        let tick = sim.next_tick()?;
        oracle.observe(&tick);
        if oracle.state() != SprtState::Sampling {
            return Ok((tick.second, oracle.state()));
        }
    }
    Ok((3600, oracle.state()))
}

#[test]
fn oracle_sprt_needs_wald_bound_on_average() {
    let regressions = scenario::regressions().unwrap();
    let errors = &regressions[0];
    let bound = scenario_bound(
        MetricKind::Errors,
        &errors.canary,
        &errors.baseline,
        FAST,
        0.01,
    )
    .unwrap();
    let releases = 400;
    let stops: Vec<(u32, SprtState)> = (0..releases)
        .map(|r| oracle_stop(errors, &Watch::errors(), release_seed(17, 1, 0, r)).unwrap())
        .collect();
    // Wald's bound is this test's average sample number (overshoot and whole seconds aside).
    let mean = stops.iter().map(|s| f64::from(s.0)).sum::<f64>() / releases as f64;
    assert!(
        (mean / bound - 1.0).abs() <= 0.25,
        "oracle SPRT mean {mean:.2}s vs Wald bound {bound:.2}s"
    );
    // β = 1 %: almost every release of a real regression fires.
    let fired = stops.iter().filter(|s| s.1 == SprtState::Fired).count();
    assert!(
        fired as f64 / releases as f64 >= 0.95,
        "fired {fired}/{releases}"
    );
}

#[test]
fn oracle_sprt_rarely_fires_under_its_null() {
    // Both arms at the pooled error rate of 1 %→5 %: the null the oracle tests against.
    let regressions = scenario::regressions().unwrap();
    let errors = &regressions[0];
    let truth = Truth {
        canary: errors.canary,
        baseline: errors.baseline,
        traffic: FAST,
    };
    let mut null = errors.clone();
    null.canary.error_rate = 0.03;
    null.baseline.error_rate = 0.03;
    let releases = 400;
    let mut alarms = 0;
    for r in 0..releases {
        let mut oracle = OracleSprt::new(errors.alone.as_ref().unwrap(), &truth);
        let mut sim = ReleaseSim::new(&null, FAST, release_seed(19, 0, 0, r)).unwrap();
        for _ in 0..3600 {
            oracle.observe(&sim.next_tick().unwrap());
            if oracle.state() != SprtState::Sampling {
                break;
            }
        }
        alarms += usize::from(oracle.state() == SprtState::Fired);
    }
    // Wald: P(fire | H0) ≤ α / (1 − β) ≈ 1 %; 400 releases put 4 % far above that.
    assert!(alarms <= 16, "{alarms} false alarms in {releases} releases");
}
