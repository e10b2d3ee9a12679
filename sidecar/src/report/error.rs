//! Why a report could not be delivered.

use std::path::PathBuf;
use std::time::Duration;

/// Why one report was not delivered to the controller.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The intake URL is not an `http://host[:port]/path` URL (or `https://` with TLS settings).
    #[error("{url}: not a usable intake URL: {reason}")]
    Url {
        /// The configured URL, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The reporter was started outside a tokio runtime, where it has nothing to run its task on.
    #[error("the reporter must be started inside a tokio runtime")]
    NoRuntime,
    /// The service-account token file could not be read, or is empty.
    #[error("token file {}: {reason}", .path.display())]
    Token {
        /// The token file's path.
        path: PathBuf,
        /// What went wrong reading it.
        reason: String,
    },
    /// The report could not be serialised.
    #[error("cannot encode the report: {0}")]
    Encode(serde_json::Error),
    /// The report is larger than the intake accepts; it is dropped, not retried.
    #[error("report {sequence} is {bytes} bytes, more than the {cap} allowed")]
    TooLarge {
        /// The report's sequence number.
        sequence: u64,
        /// Its encoded size.
        bytes: usize,
        /// The size cap.
        cap: usize,
    },
    /// The controller could not be reached.
    #[error("{url}: cannot connect: {source}")]
    Connect {
        /// The intake URL.
        url: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The whole exchange took longer than the timeout.
    #[error("{url}: timed out after {} ms", .after.as_millis())]
    Timeout {
        /// The intake URL.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The controller answered with a status other than 2xx.
    #[error("{url}: HTTP status {status}")]
    Status {
        /// The intake URL.
        url: String,
        /// The status code received.
        status: u16,
    },
    /// The controller did not speak HTTP/1 correctly or closed the connection mid-exchange.
    #[error("{url}: bad HTTP exchange: {source}")]
    Protocol {
        /// The intake URL.
        url: String,
        /// hyper's description of the failure.
        source: hyper::Error,
    },
}

impl ReportError {
    /// Whether sending the same report again may succeed (everything but a bad URL, an
    /// unencodable or oversized report).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            ReportError::Url { .. }
                | ReportError::NoRuntime
                | ReportError::Encode(_)
                | ReportError::TooLarge { .. }
        )
    }
}

/// Result of reporting.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
