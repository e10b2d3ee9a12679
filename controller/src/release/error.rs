//! Errors of release detection.

/// Why a Deployment's rollout history could not be read. None of these heal by retrying the
/// same objects: wait for the object named to change (the watch delivers it), and report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field the history needs is absent.
    #[error("{object} has no {field}; its rollout history cannot be read until it is set")]
    MissingField {
        /// The object, as `Kind namespace/name`.
        object: String,
        /// The missing field, as a path (`metadata.uid`, `spec.template`, ...).
        field: &'static str,
    },
    /// A field holds a value that cannot be what it claims to be.
    #[error("{object} has {field} = {value:?}, which is not {expected}")]
    InvalidField {
        /// The object, as `Kind namespace/name`.
        object: String,
        /// The field, as a path.
        field: &'static str,
        /// The value found (shortened when long).
        value: String,
        /// What the field should hold.
        expected: &'static str,
    },
}

/// Result alias of release detection.
pub type Result<T, E = Error> = std::result::Result<T, E>;
