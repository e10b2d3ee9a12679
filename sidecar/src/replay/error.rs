//! What can go wrong in a replay: every variant but [`ReplayError::Output`] is bad input.

use std::path::PathBuf;

/// Why a replay could not be judged. Every message names the file and line, or the spec's line.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A recording or watch-spec file could not be read.
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A recording is larger than [`super::MAX_RECORDING_BYTES`].
    #[error("{}: recording is larger than the {limit}-byte cap", .path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap, in bytes.
        limit: u64,
    },
    /// A recording holds no `# SCRAPE` block.
    #[error("{}: empty recording: no `# SCRAPE <unix-ms>` block", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A `# SCRAPE` header line is malformed, or text comes before the first header.
    #[error("{}:{line}: {message}", .path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based line of the header.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// A scrape's timestamp is not later than the previous scrape's.
    #[error(
        "{}:{line}: scrape at {at_ms} ms is not after the previous scrape at {previous_ms} ms \
         (timestamps must increase)",
        .path.display()
    )]
    NotIncreasing {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending header.
        line: usize,
        /// Its timestamp.
        at_ms: i64,
        /// The previous scrape's timestamp.
        previous_ms: i64,
    },
    /// A scrape's exposition text does not parse.
    #[error("{}:{line}:{column}: bad exposition in the scrape at {at_ms} ms: {message}", .path.display())]
    Exposition {
        /// The file.
        path: PathBuf,
        /// 1-based line within the file.
        line: usize,
        /// 1-based byte column within the line (0 when the whole scrape is refused).
        column: usize,
        /// The scrape's timestamp.
        at_ms: i64,
        /// What the exposition parser refused.
        message: String,
    },
    /// The watch spec does not parse.
    #[error("{source_name}: {message}")]
    Spec {
        /// Where the spec came from: `--watch` or the file's path.
        source_name: String,
        /// The parser's error, with line and column.
        message: String,
    },
    /// A watched metric's series name appears in neither recording: most likely a typo.
    #[error("{source_name}:{line}: metric `{metric}`: no series named `{series}` in {recordings}")]
    UnknownMetric {
        /// Where the spec came from: `--watch` or the file's path.
        source_name: String,
        /// 1-based line of the metric in the spec.
        line: usize,
        /// The metric's name in the spec.
        metric: String,
        /// The series name that was looked for.
        series: String,
        /// The recordings searched, `BASELINE or CANARY`.
        recordings: String,
    },
    /// Writing the verdicts or the summary failed.
    #[error("cannot write the replay output: {0}")]
    Output(#[source] std::io::Error),
}

impl ReplayError {
    /// True when the error is the caller's input (exit code 64), false for output failures.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, ReplayError::Output(_))
    }
}

/// Result of a replay step, with [`ReplayError`] as the default error.
pub type Result<T, E = ReplayError> = std::result::Result<T, E>;
