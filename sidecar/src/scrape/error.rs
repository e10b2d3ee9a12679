//! Why a scrape failed, and what to do about it.

use std::time::Duration;

/// What the scrape loop should do after a failed scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// A transient hiccup (a connection closed under us): trying again at once is reasonable.
    Now,
    /// The app is down, overloaded or misbehaving: wait longer before the next attempt.
    BackOff,
}

/// Why one scrape of the app gave no exposition.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The target is not a plain-HTTP URL with a host the scraper can reach.
    #[error("{target}: not a usable scrape target: {reason}")]
    Target {
        /// The configured target, as given.
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing listens on the target's port: the app is down or not started yet.
    #[error("{target}: connection refused (is the app down?)")]
    Refused {
        /// The scraped URL.
        target: String,
    },
    /// The connection could not be opened for another reason.
    #[error("{target}: cannot connect: {source}")]
    Connect {
        /// The scraped URL.
        target: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The whole exchange (connect, headers and body) took longer than the timeout.
    #[error("{target}: timed out after {} ms", .after.as_millis())]
    Timeout {
        /// The scraped URL.
        target: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The app answered with a status other than 2xx.
    #[error("{target}: HTTP status {status}")]
    Status {
        /// The scraped URL.
        target: String,
        /// The status code received.
        status: u16,
    },
    /// The body grew past the size cap; reading stopped there.
    #[error(
        "{target}: body too large: more than the {cap} bytes allowed (refused after {read} bytes)"
    )]
    TooLarge {
        /// The scraped URL.
        target: String,
        /// The size cap, in bytes.
        cap: usize,
        /// Bytes read (or announced by `Content-Length`) when the body was refused.
        read: u64,
    },
    /// The peer did not speak HTTP/1 correctly or closed the connection mid-response.
    #[error("{target}: bad HTTP exchange: {source}")]
    Protocol {
        /// The scraped URL.
        target: String,
        /// hyper's description of the failure.
        source: hyper::Error,
    },
}

impl ScrapeError {
    /// Whether to retry at once or back off. Only a connection that closed before the response
    /// completed is worth an immediate retry (a keep-alive race, a restart between two requests);
    /// everything else means the app is down or misbehaving and hammering it would not help.
    pub fn retry(&self) -> Retry {
        match self {
            ScrapeError::Protocol { source, .. } if closed_early(source) => Retry::Now,
            _ => Retry::BackOff,
        }
    }
}

/// Whether the peer closed or reset the connection before the response was complete (no
/// response at all, or a body cut short), as opposed to sending something that is not HTTP.
fn closed_early(error: &hyper::Error) -> bool {
    if error.is_incomplete_message() || error.is_canceled() {
        return true;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(inner) = cause {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
            return matches!(io.kind(), UnexpectedEof | ConnectionReset | BrokenPipe);
        }
        cause = inner.source();
    }
    false
}

/// Result of a scrape.
pub type Result<T, E = ScrapeError> = std::result::Result<T, E>;
