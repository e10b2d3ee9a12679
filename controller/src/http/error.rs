//! Why an outbound call failed, and what the caller should do about it.

use std::time::Duration;

/// What a caller should do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A network fault or timeout: the request may not have arrived; retry soon.
    Retry,
    /// The server is overloaded or failing (5xx, 408, 429): retry after backing off.
    BackOff,
    /// The request itself is wrong (other 4xx, bad URL, oversized answer): retrying will not help.
    GiveUp,
}

impl Disposition {
    /// The advice in words, for error messages.
    pub fn advice(self) -> &'static str {
        match self {
            Disposition::Retry => "retry",
            Disposition::BackOff => "back off, then retry",
            Disposition::GiveUp => "give up: fix the configuration or the request",
        }
    }

    /// The disposition for an HTTP status that is not a success.
    pub fn for_status(status: u16) -> Self {
        match status {
            408 | 425 | 429 => Disposition::BackOff,
            500..=599 => Disposition::BackOff,
            _ => Disposition::GiveUp,
        }
    }
}

/// Why an outbound HTTP call failed. `target` is the method and origin only (`POST
/// https://host`): paths of incoming-webhook URLs are secrets and never appear in errors.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL or request could not be built.
    #[error("{target}: bad request: {reason}; give up: fix the configuration")]
    Request {
        /// Method and origin of the call.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client could not be configured.
    #[error("TLS client setup failed: {0}; give up")]
    Tls(#[from] rustls::Error),
    /// The extra CA certificates could not be read.
    #[error("extra CA certificates: {0}; give up: fix the configured PEM")]
    Ca(String),
    /// Connecting, the TLS handshake or the exchange failed.
    #[error("{target}: network error: {source}; retry")]
    Network {
        /// Method and origin of the call.
        target: String,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The whole call took longer than its timeout.
    #[error("{target}: no complete answer within {after:?}; retry")]
    Timeout {
        /// Method and origin of the call.
        target: String,
        /// The timeout.
        after: Duration,
    },
    /// The answer's body is larger than the cap; it was not read further.
    #[error("{target}: answer larger than {cap} bytes; give up")]
    TooLarge {
        /// Method and origin of the call.
        target: String,
        /// The cap.
        cap: usize,
    },
    /// The server answered with a status that is not a success.
    #[error("{target}: answered HTTP {status}: {excerpt}; {}", Disposition::for_status(*.status).advice())]
    Status {
        /// Method and origin of the call.
        target: String,
        /// The status code.
        status: u16,
        /// The start of the answer's body, for the log.
        excerpt: String,
    },
}

impl HttpError {
    /// What the caller should do: retry, back off, or give up.
    pub fn disposition(&self) -> Disposition {
        match self {
            HttpError::Network { .. } | HttpError::Timeout { .. } => Disposition::Retry,
            HttpError::Status { status, .. } => Disposition::for_status(*status),
            HttpError::Request { .. }
            | HttpError::Tls(_)
            | HttpError::Ca(_)
            | HttpError::TooLarge { .. } => Disposition::GiveUp,
        }
    }
}

/// Result alias of the HTTP client.
pub type Result<T, E = HttpError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_give_up_and_server_errors_back_off() {
        assert_eq!(Disposition::for_status(400), Disposition::GiveUp);
        assert_eq!(Disposition::for_status(401), Disposition::GiveUp);
        assert_eq!(Disposition::for_status(404), Disposition::GiveUp);
        assert_eq!(Disposition::for_status(429), Disposition::BackOff);
        assert_eq!(Disposition::for_status(503), Disposition::BackOff);
        let error = HttpError::Status {
            target: "POST https://x".to_string(),
            status: 503,
            excerpt: "busy".to_string(),
        };
        assert!(error.to_string().contains("back off"), "{error}");
        let timeout = HttpError::Timeout {
            target: "POST https://x".to_string(),
            after: Duration::from_secs(1),
        };
        assert_eq!(timeout.disposition(), Disposition::Retry);
    }
}
