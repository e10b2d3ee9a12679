//! Errors of the TLS module.

use std::path::PathBuf;

/// What went wrong generating, loading or publishing the webhook's certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// rcgen could not generate a key or sign a certificate; a bug or an invalid DNS name.
    #[error("generating the {what} failed: {source}")]
    Generate {
        /// Which certificate or key.
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
    /// A certificate or key file could not be read; check the configured path and the mount.
    #[error("reading {path} failed: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// PEM text holds no usable certificate or key.
    #[error("the {what} PEM is not usable: {reason}")]
    Pem {
        /// Which PEM (certificate chain or private key).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the key, or the key does not match the certificate.
    #[error("the serving certificate and key are not usable together: {0}")]
    Rustls(#[from] rustls::Error),
    /// Reading or patching the MutatingWebhookConfiguration failed; retry with backoff.
    #[error("updating the caBundle of MutatingWebhookConfiguration {name} failed: {source}")]
    Kube {
        /// The configuration's name.
        name: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// Result alias of the TLS module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
