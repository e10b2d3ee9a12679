//! The benchmark's scenarios (what regresses, by how much) and traffic levels.

use super::Result;
use super::latency::LatencyModel;
use super::watch::{MetricKind, Watch};

/// Median latency of the baseline, seconds.
pub const BASE_MEDIAN_S: f64 = 0.080;
/// `σ` of `ln` latency of the baseline: p90 ≈ 173 ms, p99 ≈ 323 ms, a typical web service shape.
pub const BASE_SIGMA: f64 = 0.6;
/// Baseline error rate (the 0.1 % scenario overrides it).
pub const BASE_ERROR_RATE: f64 = 0.01;
/// Baseline conversion rate.
pub const BASE_CONVERSION_RATE: f64 = 0.10;

/// Requests per second of each arm at average load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Canary requests per second at average load.
    pub canary_rps: f64,
    /// Baseline requests per second at average load.
    pub baseline_rps: f64,
}

impl Traffic {
    /// The two levels: 50 + 50 and 5 + 5 requests per second.
    pub fn levels() -> [Traffic; 2] {
        [
            Traffic {
                canary_rps: 50.0,
                baseline_rps: 50.0,
            },
            Traffic {
                canary_rps: 5.0,
                baseline_rps: 5.0,
            },
        ]
    }

    /// `50+50` and the like.
    pub fn label(&self) -> String {
        format!("{}+{}", self.canary_rps, self.baseline_rps)
    }
}

/// How one arm behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmParams {
    /// Probability that a request fails.
    pub error_rate: f64,
    /// Probability that a request converts.
    pub conversion_rate: f64,
    /// Latency distribution of requests.
    pub latency: LatencyModel,
}

impl ArmParams {
    /// The baseline's behaviour.
    pub fn baseline() -> Result<ArmParams> {
        Ok(ArmParams {
            error_rate: BASE_ERROR_RATE,
            conversion_rate: BASE_CONVERSION_RATE,
            latency: LatencyModel::lognormal(BASE_MEDIAN_S, BASE_SIGMA)?,
        })
    }
}

/// One simulated situation: how canary and baseline behave and what the service owner watches.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name for the table (`errors 1%→5%`).
    pub name: String,
    /// The metric that regresses, `None` for A/A.
    pub regressing: Option<MetricKind>,
    /// Canary behaviour (regressed from t = 0).
    pub canary: ArmParams,
    /// Baseline behaviour.
    pub baseline: ArmParams,
    /// The regressing metric watched alone (for A/A: none).
    pub alone: Option<Watch>,
    /// All three metrics watched together.
    pub all: Watch,
}

impl Scenario {
    /// Whether nothing regresses.
    pub fn is_aa(&self) -> bool {
        self.regressing.is_none()
    }
}

fn errors(from: f64, to: f64) -> Result<Scenario> {
    let base = ArmParams {
        error_rate: from,
        ..ArmParams::baseline()?
    };
    Ok(Scenario {
        name: format!("errors {}%→{}%", from * 100.0, to * 100.0),
        regressing: Some(MetricKind::Errors),
        canary: ArmParams {
            error_rate: to,
            ..base
        },
        baseline: base,
        alone: Some(Watch::errors()),
        all: Watch::all(0.99),
    })
}

fn conversion(from: f64, to: f64) -> Result<Scenario> {
    let base = ArmParams {
        conversion_rate: from,
        ..ArmParams::baseline()?
    };
    Ok(Scenario {
        name: format!("conversion {}%→{}%", from * 100.0, to * 100.0),
        regressing: Some(MetricKind::Conversion),
        canary: ArmParams {
            conversion_rate: to,
            ..base
        },
        baseline: base,
        alone: Some(Watch::conversion()),
        all: Watch::all(0.99),
    })
}

/// The A/A scenario: canary and baseline identical; both the `all` watches are judged on it.
pub fn aa() -> Result<Scenario> {
    let base = ArmParams::baseline()?;
    Ok(Scenario {
        name: "A/A".to_string(),
        regressing: None,
        canary: base,
        baseline: base,
        alone: None,
        all: Watch::all(0.99),
    })
}

/// The regression scenarios of the issue, each starting at release time.
pub fn regressions() -> Result<Vec<Scenario>> {
    let base = ArmParams::baseline()?;
    Ok(vec![
        errors(0.01, 0.05)?,
        errors(0.01, 0.02)?,
        errors(0.001, 0.01)?,
        Scenario {
            name: "latency median ×1.1".to_string(),
            regressing: Some(MetricKind::Latency),
            canary: ArmParams {
                latency: base.latency.scaled(1.1)?,
                ..base
            },
            baseline: base,
            alone: Some(Watch::latency(0.5)),
            all: Watch::all(0.5),
        },
        Scenario {
            name: "latency p99-only ×1.5".to_string(),
            regressing: Some(MetricKind::Latency),
            canary: ArmParams {
                latency: base.latency.tail_stretched(0.9, 0.99, 1.5)?,
                ..base
            },
            baseline: base,
            alone: Some(Watch::latency(0.99)),
            all: Watch::all(0.99),
        },
        conversion(0.10, 0.09)?,
        conversion(0.10, 0.05)?,
    ])
}

/// Every watch judged in some regression scenario, so that A/A gives each its false-alarm rate.
pub fn watches_for_aa(regressions: &[Scenario]) -> Vec<Watch> {
    let mut watches: Vec<Watch> = Vec::new();
    for scenario in regressions {
        for watch in scenario.alone.iter().chain(std::iter::once(&scenario.all)) {
            if !watches.iter().any(|w| w.name == watch.name) {
                watches.push(watch.clone());
            }
        }
    }
    watches
}
