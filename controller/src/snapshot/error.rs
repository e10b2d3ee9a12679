//! Errors of keeping and serving baseline snapshots.

/// What went wrong with a baseline snapshot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed; retry with backoff.
    #[error("cannot {action} ConfigMap {name}: {source}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The ConfigMap.
        name: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The stored snapshot is not text; it was not written by Ripcord, or was edited. Nothing
    /// is served from it until it is deleted (the sweep deletes it with its check).
    #[error("ConfigMap {name} holds no snapshot under `{key}`")]
    Unreadable {
        /// The ConfigMap.
        name: String,
        /// The data key looked at.
        key: &'static str,
    },
    /// The outbound HTTP client could not be built; a configuration error, do not retry.
    #[error("cannot build the client for reading sidecar windows: {0}")]
    Client(#[source] crate::http::HttpError),
}

impl Error {
    /// Whether retrying soon may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Kube { .. })
    }
}

/// Result alias of the snapshot module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
