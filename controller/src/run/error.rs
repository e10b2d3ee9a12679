//! Errors of starting the controller.

/// Why the controller could not start or keep running.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No Kubernetes client could be configured (no in-cluster service account, no kubeconfig).
    #[error("cannot configure a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// A listener could not bind; fix the flag or free the port.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A setting is invalid; fix it and restart.
    #[error("{what}: {reason}")]
    Config {
        /// The flag or variable.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A call to the API server failed; the controller exits and its pod restarts.
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
    /// Other replicas kept changing the object; restart and try again.
    #[error("{name} kept changing under other replicas")]
    Contended {
        /// The object.
        name: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The certificate could not be generated or loaded.
    #[error(transparent)]
    Tls(#[from] crate::tls::Error),
    /// Leader election could not start.
    #[error(transparent)]
    Ops(#[from] crate::ops::Error),
    /// The outbound HTTP client could not be built.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// The baseline snapshots could not be set up.
    #[error(transparent)]
    Snapshot(#[from] crate::snapshot::Error),
}

impl Error {
    pub(crate) fn kube(action: &'static str, name: &str, source: kube::Error) -> Error {
        Error::Kube {
            action,
            name: name.to_string(),
            source,
        }
    }
}

/// Result alias of the run module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
