//! Webhook and intake TLS: the controller's own CA and serving certificate for
//! `ripcord-controller.<ns>.svc` ([`generate`]), or cert-manager's from files, reloaded when they
//! change ([`ServingCert::watch`]); the `tokio_rustls` acceptor over either ([`ServingCert::acceptor`]);
//! and the plan that puts the CA into the MutatingWebhookConfiguration's `caBundle`
//! ([`ca_bundle_patch`], applied by [`apply_ca_bundle`]).

mod ca_bundle;
mod error;
mod generate;
mod serving;

pub use ca_bundle::{apply_ca_bundle, ca_bundle_patch};
pub use error::{Error, Result};
pub use generate::{Generated, SERVICE_NAME, dns_names, generate};
pub use serving::ServingCert;

#[cfg(test)]
pub(crate) mod tests;
