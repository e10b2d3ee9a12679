//! Errors of the operations module.

/// What went wrong running the controller's operational parts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Lease used for leader election could not be created or read; retry with backoff.
    #[error("leader election with Lease {namespace}/{name} failed: {source}")]
    Lease {
        /// Namespace of the Lease.
        namespace: String,
        /// Name of the Lease.
        name: String,
        /// What the lease manager reported.
        #[source]
        source: kube_lease_manager::LeaseManagerError,
    },
    /// The operations server could not bind its address; fix the flag or free the port.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of the operations module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
