//! A planned write to a Deployment, and the exact HTTP request that carries it.

use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, TestOperation};

use super::{Error, Result};
use crate::FIELD_MANAGER;

/// Content type of every request planned here: a JSON Patch (RFC 6902).
pub const JSON_PATCH_CONTENT_TYPE: &str = "application/json-patch+json";

/// A JSON Patch of one Deployment, guarded by the resourceVersion it was planned against.
///
/// # Why a JSON Patch with a `test` op
///
/// The precondition is the first operation, `{"op":"test","path":"/metadata/resourceVersion",
/// "value":<rv>}`. The API server applies a patch to the object as currently stored, on every
/// attempt of its guaranteed-update loop, and refuses the whole patch when an op fails; so if
/// any other writer (another controller replica, an earlier verdict's rollback, a GitOps sync,
/// the Deployment controller's status update) changed the Deployment since it was read, nothing
/// is written and the answer is `422 Unprocessable Entity` ("testing value
/// /metadata/resourceVersion failed"). The caller then re-reads the Deployment and plans again;
/// the new plan sees what the other writer did (typically [`super::HoldReason::AlreadyDone`]).
///
/// A JSON merge patch carrying `metadata.resourceVersion` is enforced too (the stored object's
/// version is compared with the patched object's, `409 Conflict`), but a merge patch merges
/// maps key by key: labels, annotations or `nodeSelector` keys that the failed template added
/// would survive, the template would not equal the target ReplicaSet's, and the Deployment
/// controller would roll out a new revision instead of scaling the old one back up. `kubectl
/// rollout undo` sends a JSON Patch that replaces `/spec/template` whole, and so does Ripcord.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentPatch {
    /// The Deployment's namespace (a valid DNS-1123 label).
    pub namespace: String,
    /// The Deployment's name (a valid DNS-1123 subdomain).
    pub name: String,
    /// The resourceVersion the plan was made against; the patch applies only to it.
    pub resource_version: String,
    /// The operations, starting with the `test` of `/metadata/resourceVersion`.
    pub patch: Patch,
}

impl DeploymentPatch {
    /// A patch of `namespace/name` that applies `ops` only at `resource_version`. The names
    /// must be valid Kubernetes names: they become the request path.
    pub(crate) fn new(
        namespace: &str,
        name: &str,
        resource_version: &str,
        ops: impl IntoIterator<Item = PatchOperation>,
    ) -> Result<Self> {
        let object = format!("Deployment {namespace}/{name}");
        let invalid = |field, value: &str| Error::InvalidName {
            object: object.clone(),
            field,
            value: value.chars().take(64).collect(),
        };
        if !is_dns_name(namespace, 63, false) {
            return Err(invalid("metadata.namespace", namespace));
        }
        if !is_dns_name(name, 253, true) {
            return Err(invalid("metadata.name", name));
        }
        let test = PatchOperation::Test(TestOperation {
            path: pointer(&["metadata", "resourceVersion"]),
            value: resource_version.into(),
        });
        Ok(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            resource_version: resource_version.to_string(),
            patch: Patch(std::iter::once(test).chain(ops).collect()),
        })
    }

    /// The request path: `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`.
    pub fn path(&self) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/deployments/{}",
            self.namespace, self.name
        )
    }

    /// The request body: the JSON Patch as a JSON array.
    pub fn body(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.patch).map_err(|source| Error::Encode {
            object: format!("Deployment {}/{}", self.namespace, self.name),
            source,
        })
    }

    /// The exact request to send: `PATCH {path}?fieldManager=ripcord`, `Content-Type:
    /// application/json-patch+json`, `Accept: application/json`, body [`Self::body`]. Send it
    /// with the controller's authenticated client (for example `kube::Client::request`).
    pub fn to_request(&self) -> Result<http::Request<Vec<u8>>> {
        let path = self.path();
        http::Request::builder()
            .method(http::Method::PATCH)
            .uri(format!("{path}?fieldManager={FIELD_MANAGER}"))
            .header(http::header::CONTENT_TYPE, JSON_PATCH_CONTENT_TYPE)
            .header(http::header::ACCEPT, "application/json")
            .body(self.body()?)
            .map_err(|source| Error::Request { path, source })
    }
}

/// A JSON Pointer from unescaped tokens (`/` and `~` in a token are escaped).
pub(crate) fn pointer(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

/// Whether `text` is a DNS-1123 label (`dots` false) or subdomain (`dots` true) of at most
/// `max` characters: lowercase alphanumerics and `-` (and `.`), alphanumeric at both ends.
fn is_dns_name(text: &str, max: usize, dots: bool) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes.iter().all(|&b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
        })
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
