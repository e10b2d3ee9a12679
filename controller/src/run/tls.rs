//! The serving certificate of the webhook and intake port. In `controller` mode the replicas
//! share one CA and certificate through a Secret the chart creates empty: the first replica to
//! start generates them and writes them with a resourceVersion precondition; a replica that
//! loses that race reads the winner's. In `cert-manager` mode they come from mounted files,
//! reread when cert-manager renews them.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch};

use crate::tls::{ServingCert, generate};

use super::{Error, Result};

/// Key of the serving certificate chain in the Secret.
const CERT_KEY: &str = "tls.crt";
/// Key of the serving key in the Secret.
const KEY_KEY: &str = "tls.key";
/// Key of the CA certificate in the Secret.
const CA_KEY: &str = "ca.crt";

/// How many times to re-read the Secret after losing the race to fill it.
const ATTEMPTS: usize = 3;

/// The certificate and the CA that signed it, in PEM.
pub(super) struct Certificate {
    /// The serving certificate, shared with the TLS acceptor.
    pub(super) serving: Arc<ServingCert>,
    /// The CA's certificate, handed to sidecars and written into the webhook's `caBundle`.
    pub(super) ca_pem: String,
}

/// The shared certificate from Secret `namespace/name`, generating it (for Service `service`)
/// when the Secret is empty.
pub(super) async fn from_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    service: &str,
) -> Result<Certificate> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..ATTEMPTS {
        let secret = api
            .get(name)
            .await
            .map_err(|source| Error::kube("read TLS Secret", name, source))?;
        if let Some(found) = stored(&secret, &serving_name(service, namespace))? {
            return Ok(found);
        }
        let generated = generate(service, namespace)?;
        let data = BTreeMap::from([
            (CERT_KEY, generated.cert_pem.as_bytes()),
            (KEY_KEY, generated.key_pem.as_bytes()),
            (CA_KEY, generated.ca_pem.as_bytes()),
        ]);
        let encoded: BTreeMap<&str, ByteString> = data
            .into_iter()
            .map(|(k, v)| (k, ByteString(v.to_vec())))
            .collect();
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": secret.metadata.resource_version},
            "data": encoded,
        });
        match api
            .patch(name, &crate::patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(
                    secret = name,
                    "generated the webhook CA and serving certificate"
                );
                return Ok(Certificate {
                    serving: ServingCert::from_pem(
                        generated.cert_pem.as_bytes(),
                        generated.key_pem.as_bytes(),
                    )?,
                    ca_pem: generated.ca_pem,
                });
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {
                tracing::debug!("another replica filled the TLS Secret first; reading theirs");
            }
            Err(source) => return Err(Error::kube("write TLS Secret", name, source)),
        }
    }
    Err(Error::Contended {
        name: name.to_string(),
    })
}

/// The certificate cert-manager keeps in `dir` (`tls.crt`, `tls.key`, `ca.crt`).
pub(super) fn from_dir(dir: &std::path::Path) -> Result<Certificate> {
    let serving = ServingCert::from_files(dir.join(CERT_KEY), dir.join(KEY_KEY))?;
    let ca_path = dir.join(CA_KEY);
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| Error::Read {
        path: ca_path,
        source,
    })?;
    Ok(Certificate { serving, ca_pem })
}

/// The name the API server and the sidecars dial: `<service>.<namespace>.svc`.
fn serving_name(service: &str, namespace: &str) -> String {
    format!("{service}.{namespace}.svc")
}

/// The certificate already in the Secret, if all three keys are there and it names `name`
/// (one filled for another Service name, as before the certificate followed `--service-name`,
/// is replaced under the Secret's resourceVersion like an empty one).
fn stored(secret: &Secret, name: &str) -> Result<Option<Certificate>> {
    let Some(data) = &secret.data else {
        return Ok(None);
    };
    let (Some(cert), Some(key), Some(ca)) =
        (data.get(CERT_KEY), data.get(KEY_KEY), data.get(CA_KEY))
    else {
        return Ok(None);
    };
    if cert.0.is_empty() || key.0.is_empty() || ca.0.is_empty() {
        return Ok(None);
    }
    if !names(&cert.0, name) {
        tracing::warn!(
            name,
            "the TLS Secret's certificate does not name the controller's Service; replacing it"
        );
        return Ok(None);
    }
    Ok(Some(Certificate {
        serving: ServingCert::from_pem(&cert.0, &key.0)?,
        ca_pem: String::from_utf8_lossy(&ca.0).into_owned(),
    }))
}

/// Whether the first certificate of `cert_pem` is valid for DNS name `name`.
fn names(cert_pem: &[u8], name: &str) -> bool {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(cert_pem).next() else {
        return false;
    };
    let (Ok(cert), Ok(server)) = (
        webpki::EndEntityCert::try_from(&der),
        ServerName::try_from(name),
    ) else {
        return false;
    };
    cert.verify_is_valid_for_subject_name(&server).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(service: &str) -> Secret {
        let generated = generate(service, "ops").expect("generated");
        let data = [
            (CERT_KEY, generated.cert_pem),
            (KEY_KEY, generated.key_pem),
            (CA_KEY, generated.ca_pem),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ByteString(v.into_bytes())))
        .collect();
        Secret {
            data: Some(data),
            ..Secret::default()
        }
    }

    #[test]
    fn a_stored_certificate_is_used_only_when_it_names_the_service() {
        let name = serving_name("edge-ripcord-controller", "ops");
        let ours = filled("edge-ripcord-controller");
        assert!(stored(&ours, &name).expect("readable").is_some());
        let theirs = filled("ripcord-controller");
        assert!(
            stored(&theirs, &name).expect("readable").is_none(),
            "a certificate for another Service is replaced"
        );
        assert!(
            stored(&Secret::default(), &name)
                .expect("readable")
                .is_none()
        );
    }
}
