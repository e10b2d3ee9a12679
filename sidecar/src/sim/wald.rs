//! Wald's lower bound on the average time any sequential test needs to tell a regression from no
//! regression at error rates `alpha` and `beta`: the SPRT's average sample number for the true
//! alternative, `[(1−β)·ln((1−β)/α) + β·ln(β/(1−α))] / KL`, where `KL` is the information per second.
//!
//! Information per second of the canary's share of events given the traffic split:
//! `KL = Σ_arms n_arm · Σ_cells q_arm,c · ln(q_arm,c / q̄_c)`, with `n_arm` the arm's requests per
//! second and `q̄` the traffic-weighted pooled cell distribution. Ratio metrics have two cells (event,
//! no event); latency uses every histogram bucket as a cell.

use super::latency::LatencyModel;
use super::scenario::{ArmParams, Traffic};
use super::watch::MetricKind;

/// The SPRT's `(1−β)·ln((1−β)/α) + β·ln(β/(1−α))`, the evidence needed on average.
pub fn evidence_needed(alpha: f64, beta: f64) -> f64 {
    (1.0 - beta) * ((1.0 - beta) / alpha).ln() + beta * (beta / (1.0 - alpha)).ln()
}

/// Information per second, in nats, that `canary_cells` vs `baseline_cells` give at these rates.
pub fn kl_rate(
    canary_rps: f64,
    canary_cells: &[f64],
    baseline_rps: f64,
    baseline_cells: &[f64],
) -> f64 {
    let total = canary_rps + baseline_rps;
    if total <= 0.0 {
        return 0.0;
    }
    let term = |q: f64, pooled: f64| {
        if q > 0.0 && pooled > 0.0 {
            q * (q / pooled).ln()
        } else {
            0.0
        }
    };
    canary_cells
        .iter()
        .zip(baseline_cells)
        .map(|(&c, &b)| {
            let pooled = (canary_rps * c + baseline_rps * b) / total;
            canary_rps * term(c, pooled) + baseline_rps * term(b, pooled)
        })
        .sum()
}

/// Seconds Wald's bound needs, `None` when the arms are identical (no regression to find).
pub fn bound_seconds(
    alpha: f64,
    beta: f64,
    canary_rps: f64,
    canary_cells: &[f64],
    baseline_rps: f64,
    baseline_cells: &[f64],
) -> Option<f64> {
    let kl = kl_rate(canary_rps, canary_cells, baseline_rps, baseline_cells);
    (kl > 1e-15).then(|| evidence_needed(alpha, beta) / kl)
}

fn ratio_cells(p: f64) -> [f64; 2] {
    [p, 1.0 - p]
}

fn latency_cells(model: &LatencyModel) -> Vec<f64> {
    model.cell_probabilities().to_vec()
}

/// Wald's bound for the metric `kind` between two arms at average traffic, `alpha = beta`.
pub fn scenario_bound(
    kind: MetricKind,
    canary: &ArmParams,
    baseline: &ArmParams,
    traffic: Traffic,
    alpha: f64,
) -> Option<f64> {
    let (c, b) = match kind {
        MetricKind::Errors => (
            ratio_cells(canary.error_rate).to_vec(),
            ratio_cells(baseline.error_rate).to_vec(),
        ),
        MetricKind::Conversion => (
            ratio_cells(canary.conversion_rate).to_vec(),
            ratio_cells(baseline.conversion_rate).to_vec(),
        ),
        MetricKind::Latency => (
            latency_cells(&canary.latency),
            latency_cells(&baseline.latency),
        ),
    };
    bound_seconds(
        alpha,
        alpha,
        traffic.canary_rps,
        &c,
        traffic.baseline_rps,
        &b,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_arms_carry_no_information() {
        assert_eq!(
            bound_seconds(0.01, 0.01, 50.0, &[0.1, 0.9], 50.0, &[0.1, 0.9]),
            None
        );
    }

    #[test]
    fn more_traffic_is_faster() {
        let slow = bound_seconds(0.01, 0.01, 5.0, &[0.05, 0.95], 5.0, &[0.01, 0.99]).unwrap();
        let fast = bound_seconds(0.01, 0.01, 50.0, &[0.05, 0.95], 50.0, &[0.01, 0.99]).unwrap();
        assert!((slow / fast - 10.0).abs() < 1e-9);
    }
}
