//! Why a flag could not be turned off, and what the caller should do about it.

use crate::http::{Disposition, HttpError};

use super::credentials::CredentialError;

/// Why turning a flag off failed. Every message names the flag and says whether to retry, back
/// off or give up; [`FlagError::disposition`] says the same for code.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// The flag URL (the `ripcord.dev/flag` annotation) is not one Ripcord understands.
    #[error("flag URL {url:?}: {reason}; give up: fix the ripcord.dev/flag annotation")]
    Url {
        /// The URL's scheme and host only (its path or query may hold a secret), cut to a
        /// bounded length.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A credential could not be read from the credentials directory.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// The call to the flag provider failed.
    #[error("flag {flag}: {source}")]
    Http {
        /// The flag, as its URL.
        flag: String,
        /// The HTTP client's error, which carries the advice.
        #[source]
        source: HttpError,
    },
    /// The provider answered, but not as expected: the flag or environment does not exist, or the
    /// answer does not have the expected shape.
    #[error("flag {flag}: {reason}; give up: check the flag and the provider")]
    Provider {
        /// The flag, as its URL.
        flag: String,
        /// What was wrong with the answer.
        reason: String,
    },
    /// The Kubernetes API call for an OpenFeature `FeatureFlag` failed.
    #[error("flag {flag}: Kubernetes API: {source}; {}", FlagError::kube_disposition(.source).advice())]
    Kube {
        /// The flag, as its URL.
        flag: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
    /// The `FeatureFlag` kept changing under us: every attempt lost a resourceVersion race.
    #[error(
        "flag {flag}: the FeatureFlag changed during each of {attempts} attempts; back off, then retry"
    )]
    Conflict {
        /// The flag, as its URL.
        flag: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The flag is somewhere the operator has not let Ripcord act: an Unleash server or webhook
    /// at an origin not in `--flag-allowed-origins` (the controller's credentials would go
    /// there), or a FeatureFlag in another namespace than the release's.
    #[error(
        "flag {flag}: {reason}; give up: fix the ripcord.dev/flag annotation, or ask the operator to allow it"
    )]
    NotAllowed {
        /// The flag, as its URL.
        flag: String,
        /// Why it is refused.
        reason: String,
    },
    /// The flipper was built without what this kind of flag needs (a Kubernetes client).
    #[error("flag {flag}: {what} is not configured; give up: configure the controller")]
    NotConfigured {
        /// The flag, as its URL.
        flag: String,
        /// What is missing.
        what: &'static str,
    },
}

impl FlagError {
    /// What the caller should do: retry, back off, or give up.
    pub fn disposition(&self) -> Disposition {
        match self {
            FlagError::Http { source, .. } => source.disposition(),
            FlagError::Kube { source, .. } => FlagError::kube_disposition(source),
            FlagError::Conflict { .. } => Disposition::BackOff,
            FlagError::Url { .. }
            | FlagError::Credential(_)
            | FlagError::Provider { .. }
            | FlagError::NotConfigured { .. }
            | FlagError::NotAllowed { .. } => Disposition::GiveUp,
        }
    }

    fn kube_disposition(error: &kube::Error) -> Disposition {
        match error {
            kube::Error::Api(status) => Disposition::for_status(status.code),
            kube::Error::HyperError(_) | kube::Error::Service(_) => Disposition::Retry,
            _ => Disposition::GiveUp,
        }
    }
}

/// Result alias of the flags module.
pub type Result<T, E = FlagError> = std::result::Result<T, E>;
