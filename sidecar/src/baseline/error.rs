//! Why a baseline could not be read from Prometheus.

use std::time::Duration;

/// Why a query to Prometheus' HTTP API gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// The configured base URL is not a plain-HTTP URL with a host.
    #[error("{url}: not a usable Prometheus URL: {reason}")]
    Url {
        /// The base URL, as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The window to sum over is shorter than one millisecond.
    #[error("the baseline range must be at least 1 ms, got {range:?}")]
    Range {
        /// The range asked for.
        range: Duration,
    },
    /// Prometheus could not be reached (refused, unreachable, broken connection).
    #[error("Prometheus at {url} is unreachable: {reason}")]
    Unreachable {
        /// The base URL.
        url: String,
        /// The operating system's or hyper's description.
        reason: String,
    },
    /// The whole query took longer than the timeout.
    #[error("Prometheus at {url} did not answer within {} ms", .after.as_millis())]
    Timeout {
        /// The base URL.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The answer grew past the size cap; reading stopped there.
    #[error("Prometheus at {url} sent more than the {cap} bytes allowed (refused after {read})")]
    TooLarge {
        /// The base URL.
        url: String,
        /// The size cap, in bytes.
        cap: usize,
        /// Bytes read (or announced) when the answer was refused.
        read: u64,
    },
    /// The answer is not the API's JSON envelope.
    #[error("Prometheus answered HTTP {status} with a body that is not its API's JSON: {reason}")]
    Malformed {
        /// The HTTP status of the answer.
        status: u16,
        /// What is wrong with the body.
        reason: String,
    },
    /// Prometheus answered `"status": "error"` (a bad query, a timeout, an overloaded server).
    #[error("Prometheus refused `{query}`: {error_type}: {message}")]
    Api {
        /// The PromQL query sent.
        query: String,
        /// The API's `errorType` (`bad_data`, `timeout`, `execution`, ...).
        error_type: String,
        /// The API's `error` message.
        message: String,
    },
    /// The answer is valid but not what the query can give (a matrix, a bad `le`, a NaN).
    #[error("unexpected answer to `{query}`: {reason}")]
    Unexpected {
        /// The PromQL query sent.
        query: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result of a baseline query.
pub type Result<T, E = BaselineError> = std::result::Result<T, E>;
