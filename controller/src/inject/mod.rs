//! The sidecar injection webhook: [`mutate`] turns a Pod CREATE AdmissionRequest into a JSON
//! patch that adds the Ripcord sidecar (a native sidecar where the cluster supports it), its
//! downward-API and projected-token volumes; [`Mutate`] serves it as `POST /mutate`.
//! Injection never denies a pod: on any problem it allows the pod unchanged, with a warning.

mod config;
mod error;
mod mutate;
mod service;
mod sidecar;

pub use config::{
    ANNOTATIONS_DIR, DEFAULT_TARGET, ENABLED_LABEL, InjectConfig, METRICS_ANNOTATION,
    PODINFO_VOLUME, SIDECAR_NAME, SIDECAR_PORT, TOKEN_AUDIENCE, TOKEN_DIR,
    TOKEN_EXPIRATION_SECONDS, TOKEN_VOLUME,
};
pub use error::{Error, Result};
pub use mutate::mutate;
pub use service::{MAX_REVIEW_BYTES, Mutate};

#[cfg(test)]
mod tests;
