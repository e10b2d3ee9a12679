//! The sidecar's footprint benchmark: a synthetic app serving a realistic exposition
//! ([`SyntheticApp`], [`serve_app`]), the sidecar's real per-tick path measured once a second
//! ([`measure`]: scrape, parse, window update) and the process's own RSS and CPU ([`proc`]).
//!
//! `ripcord-footprint` runs the app and each measured path in separate processes, so the figures
//! of a path are those of a process that does only that path.

mod app;
mod measure;
pub mod proc;

pub use app::{SyntheticApp, serve_app};
pub use measure::{Figures, RipcordStep, Step, WATCH_SPEC, measure, percentile};

/// What can go wrong while measuring the footprint.
#[derive(Debug, thiserror::Error)]
pub enum FootprintError {
    /// A `/proc/self` file could not be read or did not hold the expected field.
    #[error("/proc/self/{file}: {reason}")]
    Proc {
        /// The file under `/proc/self`.
        file: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// The watch spec of the benchmark did not parse.
    #[error("watch spec: {0}")]
    Spec(#[from] crate::spec::SpecError),
    /// The scrape target was refused.
    #[error("scrape target: {0}")]
    Scrape(#[from] crate::scrape::ScrapeError),
    /// A socket or the runtime failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result of the footprint module.
pub type Result<T, E = FootprintError> = std::result::Result<T, E>;
