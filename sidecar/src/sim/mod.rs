//! Seeded simulation of releases for the detection benchmark.
//!
//! A simulated release gives, every second, the counts of a canary arm and a baseline arm for three
//! metrics (errors, latency histogram, conversion), with Poisson traffic under a time-varying load.
//! [`policy`] holds Ripcord's judge and the reference policies that consume the same streams,
//! [`wald`] the physical limit of any test, [`bench`] runs everything and [`table`] prints it.
//!
//! Model choices, written down once:
//! - load: `rate × (1 + 0.3·sin(2π(t + φ)/600 s)) × ε_minute`, with `φ` uniform per release and
//!   `ε_minute = exp(N(0, 0.1²))` drawn each minute, shared by both arms; requests per arm per second
//!   are Poisson with that mean.
//! - errors and conversions: binomial counts per second, one Bernoulli trial per request.
//! - latency: lognormal with median 80 ms and σ = 0.6 (p90 ≈ 173 ms, p99 ≈ 323 ms), bucketed at
//!   Prometheus' default bounds; per-second bucket counts by a multinomial drawn as sequential binomials.
//!   "median ×1.1" multiplies every latency by 1.1; "p99-only ×1.5" stretches only the tail above the
//!   baseline's p90 (see [`latency::LatencyModel::tail_stretched`]), so the median does not move.

pub mod bench;
pub mod checks;
pub mod latency;
pub mod policy;
pub mod scenario;
pub mod stream;
pub mod table;
pub mod wald;
pub mod watch;

/// What can go wrong setting up a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A probability or rate outside its domain.
    #[error("invalid simulation parameter {name} = {value}: {why}")]
    InvalidParameter {
        /// Which parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What it should be.
        why: &'static str,
    },
    /// A distribution could not be built from its parameters.
    #[error("cannot build the {what} distribution: {message}")]
    Distribution {
        /// Which distribution.
        what: &'static str,
        /// The library's message.
        message: String,
    },
}

/// Result of simulation set-up.
pub type Result<T, E = SimError> = std::result::Result<T, E>;
