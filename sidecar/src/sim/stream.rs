//! Seeded per-second streams of one simulated release: both arms' counts for every metric.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution, Normal, Poisson};

use super::latency::CELLS;
use super::scenario::{ArmParams, Scenario, Traffic};
use super::{Result, SimError};

/// Relative amplitude of the load's sinusoid.
pub const LOAD_AMPLITUDE: f64 = 0.3;
/// Period of the load's sinusoid, seconds.
pub const LOAD_PERIOD_S: f64 = 600.0;
/// `σ` of the per-minute multiplicative load noise `exp(N(0, σ²))`.
pub const LOAD_NOISE_SIGMA: f64 = 0.1;

/// One arm's counts over one second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArmCounts {
    /// Requests served.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Requests that converted.
    pub conversions: u64,
    /// Requests per latency cell (not cumulative), at [`super::latency::DEFAULT_BUCKETS`].
    pub latency_cells: [u64; CELLS],
}

impl ArmCounts {
    /// Adds another interval's counts to these.
    pub fn add(&mut self, other: &ArmCounts) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.conversions += other.conversions;
        for (a, b) in self.latency_cells.iter_mut().zip(other.latency_cells) {
            *a += b;
        }
    }
}

/// Both arms over the same second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Seconds since release at the end of the interval (the first tick is 1).
    pub second: u32,
    /// The new version's counts.
    pub canary: ArmCounts,
    /// The previous version's counts.
    pub baseline: ArmCounts,
}

struct ArmSampler {
    params: ArmParams,
    cells: [f64; CELLS],
}

impl ArmSampler {
    fn new(params: ArmParams) -> ArmSampler {
        ArmSampler {
            params,
            cells: params.latency.cell_probabilities(),
        }
    }

    fn sample(&self, rng: &mut SmallRng, mean_requests: f64) -> Result<ArmCounts> {
        let requests = if mean_requests > 0.0 {
            let poisson = Poisson::new(mean_requests).map_err(|e| SimError::Distribution {
                what: "poisson",
                message: e.to_string(),
            })?;
            poisson.sample(rng) as u64
        } else {
            0
        };
        Ok(ArmCounts {
            requests,
            errors: binomial(rng, requests, self.params.error_rate)?,
            conversions: binomial(rng, requests, self.params.conversion_rate)?,
            latency_cells: multinomial(rng, requests, &self.cells)?,
        })
    }
}

fn binomial(rng: &mut SmallRng, n: u64, p: f64) -> Result<u64> {
    if n == 0 || p <= 0.0 {
        return Ok(0);
    }
    if p >= 1.0 {
        return Ok(n);
    }
    let dist = Binomial::new(n, p).map_err(|e| SimError::Distribution {
        what: "binomial",
        message: e.to_string(),
    })?;
    Ok(dist.sample(rng))
}

/// A multinomial draw as sequential binomials: cell `i` gets `Bin(n_left, p_i / p_left)`.
fn multinomial(rng: &mut SmallRng, n: u64, probabilities: &[f64; CELLS]) -> Result<[u64; CELLS]> {
    let mut counts = [0u64; CELLS];
    let mut left = n;
    let mut mass_left = 1.0;
    for (i, &p) in probabilities.iter().enumerate() {
        if left == 0 {
            break;
        }
        if i == CELLS - 1 || mass_left <= p {
            counts[i] = left;
            break;
        }
        let drawn = binomial(rng, left, p / mass_left)?;
        counts[i] = drawn;
        left -= drawn;
        mass_left -= p;
    }
    Ok(counts)
}

/// A simulated release: call [`ReleaseSim::history`] for the baseline's pre-release snapshot, then
/// [`ReleaseSim::next_tick`] once a second.
pub struct ReleaseSim {
    rng: SmallRng,
    traffic: Traffic,
    canary: ArmSampler,
    baseline: ArmSampler,
    phase_s: f64,
    noise: Normal<f64>,
    noise_minute: i64,
    noise_factor: f64,
    second: u32,
}

impl ReleaseSim {
    /// A release of `scenario` under `traffic`, fully determined by `seed`.
    pub fn new(scenario: &Scenario, traffic: Traffic, seed: u64) -> Result<ReleaseSim> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let phase_s = rng.random::<f64>() * LOAD_PERIOD_S;
        let noise = Normal::new(0.0, LOAD_NOISE_SIGMA).map_err(|e| SimError::Distribution {
            what: "load noise",
            message: e.to_string(),
        })?;
        Ok(ReleaseSim {
            rng,
            traffic,
            canary: ArmSampler::new(scenario.canary),
            baseline: ArmSampler::new(scenario.baseline),
            phase_s,
            noise,
            noise_minute: i64::MIN,
            noise_factor: 1.0,
            second: 0,
        })
    }

    /// The load multiplier for the second ending at `second` (negative before the release).
    fn load(&mut self, second: i64) -> f64 {
        let minute = (second - 1).div_euclid(60);
        if minute != self.noise_minute {
            self.noise_minute = minute;
            self.noise_factor = self.noise.sample(&mut self.rng).exp();
        }
        let t = second as f64 - 0.5 + self.phase_s;
        (1.0 + LOAD_AMPLITUDE * (std::f64::consts::TAU * t / LOAD_PERIOD_S).sin())
            * self.noise_factor
    }

    /// The baseline's per-second counts over the `seconds` before the release, oldest first.
    pub fn history(&mut self, seconds: u32) -> Result<Vec<ArmCounts>> {
        (1..=i64::from(seconds))
            .rev()
            .map(|ago| {
                let load = self.load(1 - ago);
                self.baseline
                    .sample(&mut self.rng, self.traffic.baseline_rps * load)
            })
            .collect()
    }

    /// The next second after the release.
    pub fn next_tick(&mut self) -> Result<Tick> {
        self.second += 1;
        let load = self.load(i64::from(self.second));
        let canary = self
            .canary
            .sample(&mut self.rng, self.traffic.canary_rps * load)?;
        let baseline = self
            .baseline
            .sample(&mut self.rng, self.traffic.baseline_rps * load)?;
        Ok(Tick {
            second: self.second,
            canary,
            baseline,
        })
    }
}

/// A per-release seed from the run's seed and the release's coordinates (SplitMix64 mixing).
pub fn release_seed(master: u64, scenario: u64, traffic: u64, release: u64) -> u64 {
    let mut x = master;
    for part in [scenario, traffic, release] {
        x = splitmix64(x ^ splitmix64(part.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    }
    x
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multinomial_conserves_the_total() {
        let mut rng = SmallRng::seed_from_u64(7);
        let probs = [
            0.1, 0.2, 0.0, 0.3, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.0, 0.0,
        ];
        for n in [0, 1, 17, 1000] {
            let counts = multinomial(&mut rng, n, &probs).unwrap();
            assert_eq!(counts.iter().sum::<u64>(), n);
            assert_eq!(counts[2], 0);
        }
    }

    #[test]
    fn seeds_differ_by_coordinate() {
        assert_ne!(release_seed(1, 0, 0, 0), release_seed(1, 0, 0, 1));
        assert_ne!(release_seed(1, 0, 1, 0), release_seed(1, 1, 0, 0));
        assert_eq!(release_seed(3, 2, 1, 0), release_seed(3, 2, 1, 0));
    }
}
