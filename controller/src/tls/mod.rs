//! Webhook and intake TLS: the controller's own CA and serving certificate for
//! `<service>.<ns>.svc` ([`generate`]), kept and renewed before they expire ([`renew`] decides,
//! over what a stored PKI says, [`StoredPki::facts`]), or cert-manager's from files, reloaded when
//! they change ([`ServingCert::watch`]); the `tokio_rustls` acceptor over either
//! ([`ServingCert::acceptor`]); and the plan that puts the CA bundle into the
//! MutatingWebhookConfiguration's `caBundle` ([`ca_bundle_patch`], applied by [`apply_ca_bundle`]).

mod ca_bundle;
mod error;
mod generate;
pub mod renew;
mod serving;
mod stored;

pub use ca_bundle::{apply_ca_bundle, ca_bundle_patch};
pub use error::{Error, Result};
pub use generate::{
    CA_VALIDITY, CLOCK_SKEW, Generated, Issued, SERVICE_NAME, SERVING_VALIDITY, Validity,
    dns_names, generate, issue_serving, new_ca,
};
pub use serving::ServingCert;
pub use stored::{Facts, StoredPki};

#[cfg(test)]
mod renew_tests;
#[cfg(test)]
pub(crate) mod tests;
