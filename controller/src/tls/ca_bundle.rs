//! Publishing the CA: a JSON patch setting `clientConfig.caBundle` on every webhook of the
//! MutatingWebhookConfiguration that lacks this CA (pure), and the read-then-patch that applies
//! it (the only API I/O here).

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, TestOperation};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use kube::api::Api;

use super::error::{Error, Result};

/// The patch that puts `ca_pem` in each webhook's `clientConfig.caBundle`, or `None` when every
/// webhook already carries it. Each change is guarded by a `test` of the webhook's name, so a
/// list reordered since it was read fails the patch instead of touching the wrong webhook.
pub fn ca_bundle_patch(config: &MutatingWebhookConfiguration, ca_pem: &[u8]) -> Option<Patch> {
    let wanted = ByteString(ca_pem.to_vec());
    let mut operations = Vec::new();
    for (index, webhook) in config.webhooks.iter().flatten().enumerate() {
        if webhook.client_config.ca_bundle.as_ref() == Some(&wanted) {
            continue;
        }
        let index = index.to_string();
        operations.push(PatchOperation::Test(TestOperation {
            path: PointerBuf::from_tokens(["webhooks", index.as_str(), "name"]),
            value: webhook.name.clone().into(),
        }));
        operations.push(PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["webhooks", index.as_str(), "clientConfig", "caBundle"]),
            value: base64(&wanted),
        }));
    }
    (!operations.is_empty()).then_some(Patch(operations))
}

/// `bytes` as Kubernetes encodes a `[]byte` field: a base64 string.
fn base64(bytes: &ByteString) -> serde_json::Value {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(&bytes.0)
        .into()
}

/// Reads the MutatingWebhookConfiguration `name` and patches its webhooks' `caBundle` to
/// `ca_pem` where it differs. Returns whether it patched. Errors are worth retrying with
/// backoff (the configuration may not be installed yet, or changed under the patch).
pub async fn apply_ca_bundle(client: kube::Client, name: &str, ca_pem: &[u8]) -> Result<bool> {
    let kube_error = |source| Error::Kube {
        name: name.to_string(),
        source: Box::new(source),
    };
    let api: Api<MutatingWebhookConfiguration> = Api::all(client);
    let config = api.get(name).await.map_err(kube_error)?;
    let Some(patch) = ca_bundle_patch(&config, ca_pem) else {
        return Ok(false);
    };
    api.patch(
        name,
        &crate::patch_params(),
        &kube::api::Patch::<()>::Json(patch),
    )
    .await
    .map_err(kube_error)?;
    Ok(true)
}
