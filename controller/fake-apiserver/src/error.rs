//! Errors: [`Error`] for using the fake server from a test, and [`ApiError`], the refusals it
//! answers clients with as Kubernetes `Status` bodies.

use http::StatusCode;
use serde_json::{Value, json};

/// What went wrong starting or seeding the fake API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not bind 127.0.0.1:0; the machine is out of ports or sockets.
    #[error("fake API server: cannot bind a local port: {0}")]
    Bind(#[source] std::io::Error),
    /// A `kube::Client` could not be built for the server's URL.
    #[error("fake API server: cannot build a kube client for {url}: {source}")]
    Client {
        /// The server's URL.
        url: String,
        /// Why kube refused it.
        #[source]
        source: kube::Error,
    },
    /// The server's own URL did not parse as a URI (a bug in this crate).
    #[error("fake API server: {url} is not a URI: {source}")]
    Url {
        /// The URL.
        url: String,
        /// Why it did not parse.
        #[source]
        source: http::uri::InvalidUri,
    },
    /// A seed file could not be read.
    #[error("fake API server: cannot read seed file {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// A seed fixture is not YAML of Kubernetes objects.
    #[error("fake API server: seed fixture is not YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// A seed object was refused (missing kind, name, or already present).
    #[error("fake API server: seed object refused: {0}")]
    Seed(String),
    /// A write made through [`crate::FakeApiServer::write_as_other`] was refused.
    #[error("fake API server: write refused: {0}")]
    Write(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A refusal sent to a client as a Kubernetes `Status` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) code: StatusCode,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub(crate) fn not_found(resource: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
        )
    }

    pub(crate) fn conflict(resource: &str, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
    }

    pub(crate) fn already_exists(resource: &str, name: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", message)
    }

    /// The `Status` body Kubernetes sends with this refusal.
    pub(crate) fn status_body(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code.as_u16(),
        })
    }
}
