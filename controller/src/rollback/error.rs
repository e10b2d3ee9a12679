//! Errors of rollback planning.

/// Why no rollback plan could be made. Nothing here heals by retrying the same objects: report
/// it and wait for the Deployment or its ReplicaSets to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Deployment's rollout history could not be read.
    #[error(transparent)]
    History(#[from] crate::release::Error),
    /// A name that goes into the request path is not a valid Kubernetes name.
    #[error("{object} has {field} = {value:?}, which is not a valid Kubernetes name")]
    InvalidName {
        /// The object, as `Kind namespace/name`.
        object: String,
        /// The field, as a path.
        field: &'static str,
        /// The value found (shortened when long).
        value: String,
    },
    /// A pod template could not be written as JSON (a bug, not bad input).
    #[error("cannot encode the pod template of {object} as JSON: {source}")]
    Encode {
        /// The object whose template it is.
        object: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The HTTP request could not be assembled (a bug, not bad input).
    #[error("cannot build the PATCH request for {path}: {source}")]
    Request {
        /// The request path.
        path: String,
        /// What the `http` crate reported.
        #[source]
        source: http::Error,
    },
}

/// Result alias of rollback planning.
pub type Result<T, E = Error> = std::result::Result<T, E>;
