//! Statistics of the judge: distribution functions ([`special`]), the fail test's share e-process
//! on `K` ordered cells ([`ordinal`]) and its two-cell form ([`share`]) and the pass test's one-cell e-process with its confidence sequence
//! ([`ratio`]), and the one-sample test of a canary against an absolute limit ([`limit`]).

pub mod limit;
pub mod ordinal;
pub mod ratio;
pub mod share;
pub mod special;

/// What went wrong in a statistics function.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// A function was called outside its domain.
    #[error("{function}: argument outside the domain ({detail})")]
    Domain {
        /// The function called.
        function: &'static str,
        /// The offending arguments.
        detail: String,
    },
    /// A test was configured with parameters that make no sense.
    #[error("invalid parameter: {0}")]
    Parameter(String),
}

/// Result of a statistics function.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;
