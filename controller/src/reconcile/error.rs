//! Errors of reconciling a Deployment.

/// What went wrong reconciling a Deployment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object could not be understood; it is skipped until it changes.
    #[error("{object} is malformed: {reason}")]
    Malformed {
        /// The object.
        object: String,
        /// What is wrong.
        reason: String,
    },
    /// A call to the API server failed; retried with backoff.
    #[error("cannot {action} {name}: {source}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The object.
        name: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A status patch could not be built; a bug, retried rarely.
    #[error(transparent)]
    Status(#[from] crate::crd::Error),
    /// Holding the Deployment or lifting the hold failed: retried with backoff when the API
    /// server failed or other writers kept winning, rarely when the objects are malformed.
    #[error(transparent)]
    Hold(#[from] crate::act::Error),
}

impl Error {
    pub(crate) fn kube(action: &'static str, name: &str, source: kube::Error) -> Error {
        Error::Kube {
            action,
            name: name.to_string(),
            source,
        }
    }

    /// Whether retrying soon may succeed (the API server was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Kube { .. }
                | Error::Hold(crate::act::Error::Kube { .. } | crate::act::Error::Contended { .. })
        )
    }
}

/// Result alias of the reconcile module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
