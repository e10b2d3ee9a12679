//! The `ReleaseCheck` custom resource (`ripcord.dev/v1alpha1`): one per release of a watched
//! Deployment, holding the policy it is judged under and, in its status, the verdict, the
//! evidence per metric, the timeline and the actions taken. This module owns the Rust types (the
//! CRD is generated from them), the conversion of a sidecar verdict into status evidence, the
//! status merge patch, and the CRD YAML generator.

mod evidence;
mod generate;
mod patch;
mod types;

pub use evidence::{
    MAX_PATH_POINTS, MAX_TEXT_BYTES, metrics_from_verdict, rfc3339_from_ms, verdict_detail,
};
pub use generate::{CRD_PATHS, GENERATED_HEADER, crd_yaml, write_crds};
pub use patch::{merge_diff, status_merge_patch};
pub use types::*;

/// What went wrong with a `ReleaseCheck` helper.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CRD or a status could not be serialised; a bug in the types, do not retry.
    #[error("cannot serialise {what}: {source}")]
    Serialise {
        /// What was being serialised.
        what: &'static str,
        /// The serialiser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A generated CRD file could not be read or written; check the path and permissions.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of the `crd` module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
