//! The serving certificate of the webhook and intake port. In `controller` mode the replicas
//! share one PKI through a Secret the chart creates empty: a replica that finds it empty, or
//! finds something due for renewal ([`crate::tls::renew`]), writes the new PKI with a
//! resourceVersion precondition, and a replica that loses that race reads the winner's. Every
//! replica rereads the Secret each [`RENEW_PERIOD`], swaps in a renewed certificate and publishes
//! a changed CA bundle. In `cert-manager` mode they come from mounted files, reread when
//! cert-manager renews them.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch};
use tokio::sync::watch;

use crate::tls::renew::{Renewal, carry_out, decide};
use crate::tls::{ServingCert, StoredPki};

use super::{Error, Result};

/// Key of the serving certificate chain in the Secret.
const CERT_KEY: &str = "tls.crt";
/// Key of the serving key in the Secret.
const KEY_KEY: &str = "tls.key";
/// Key of the CA bundle in the Secret.
const CA_KEY: &str = "ca.crt";
/// Key of the signing CA's private key in the Secret.
const CA_PRIVATE_KEY: &str = "ca.key";

/// How many times to re-read the Secret after losing the race to write it.
const ATTEMPTS: usize = 3;

/// How often each replica rereads the Secret, renews what is due and picks up another replica's
/// renewal.
pub(super) const RENEW_PERIOD: Duration = Duration::from_secs(60);

/// The certificate and the CAs to trust, in PEM.
pub(super) struct Certificate {
    /// The serving certificate, shared with the TLS acceptor.
    pub(super) serving: Arc<ServingCert>,
    /// The CA bundle, handed to sidecars and written into the webhook's `caBundle`.
    pub(super) ca_pem: String,
}

/// Where the controller's own PKI is kept: Secret `name` in `namespace`, for Service `service`.
#[derive(Clone)]
pub(super) struct SecretPki {
    api: Api<Secret>,
    name: String,
    namespace: String,
    service: String,
}

impl SecretPki {
    /// The PKI in Secret `namespace/name` for Service `service`.
    pub(super) fn new(client: &kube::Client, namespace: &str, name: &str, service: &str) -> Self {
        SecretPki {
            api: Api::namespaced(client.clone(), namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            service: service.to_string(),
        }
    }

    /// The certificate as stored once anything due at start-up is renewed.
    pub(super) async fn certificate(&self) -> Result<(Certificate, StoredPki)> {
        let stored = self.sync(SystemTime::now()).await?;
        let certificate = Certificate {
            serving: ServingCert::from_pem(stored.cert_pem.as_bytes(), stored.key_pem.as_bytes())?,
            ca_pem: stored.ca_bundle_pem.clone(),
        };
        Ok((certificate, stored))
    }

    /// Rereads the Secret each [`RENEW_PERIOD`] until `shutdown`: renews what is due, swaps a
    /// changed certificate into `serving` and publishes a changed bundle on `bundle`. A failed
    /// round keeps what is in use and is retried the next period.
    pub(super) async fn keep_fresh(
        self,
        mut in_use: StoredPki,
        serving: Arc<ServingCert>,
        bundle: watch::Sender<String>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticks = tokio::time::interval(RENEW_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = &mut shutdown => break,
            }
            match self.sync(SystemTime::now()).await {
                Ok(stored) => in_use = adopt(in_use, stored, &serving, &bundle),
                Err(err) => tracing::warn!(error = %err, "keeping the serving certificate in use"),
            }
        }
    }

    /// The CA bundle the Secret holds now, if it holds a PKI.
    pub(super) async fn stored_bundle(&self) -> Result<Option<String>> {
        Ok(stored(&self.read().await?).map(|pki| pki.ca_bundle_pem))
    }

    async fn read(&self) -> Result<Secret> {
        self.api
            .get(&self.name)
            .await
            .map_err(|source| Error::kube("read TLS Secret", &self.name, source))
    }

    /// Reads the Secret, writes the renewal due at `now` if any, and returns what it then holds.
    async fn sync(&self, now: SystemTime) -> Result<StoredPki> {
        let dns_name = format!("{}.{}.svc", self.service, self.namespace);
        for _ in 0..ATTEMPTS {
            let secret = self.read().await?;
            let stored = stored(&secret);
            let facts = stored.as_ref().map(|s| s.facts(&dns_name, now));
            let renewal = decide(facts.as_ref(), now);
            let renewed = carry_out(
                renewal,
                stored.as_ref(),
                &self.service,
                &self.namespace,
                now,
            )?;
            let Some(renewed) = renewed else {
                return stored.ok_or_else(|| self.unwritable("holds nothing and needs nothing"));
            };
            let Some(version) = &secret.metadata.resource_version else {
                return Err(self.unwritable("has no resourceVersion to write under"));
            };
            match self.write(&renewed, version).await {
                Ok(()) => {
                    log_renewal(renewal, &self.name);
                    return Ok(renewed);
                }
                Err(kube::Error::Api(status)) if status.code == 409 => {
                    tracing::debug!("another replica wrote the TLS Secret first; reading theirs");
                }
                Err(source) => return Err(Error::kube("write TLS Secret", &self.name, source)),
            }
        }
        Err(Error::Contended {
            name: self.name.clone(),
        })
    }

    fn unwritable(&self, reason: &str) -> Error {
        Error::Config {
            what: "TLS Secret",
            reason: format!("{} {reason}", self.name),
        }
    }

    /// Writes `pki` into the Secret if it is still at `resource_version`.
    async fn write(&self, pki: &StoredPki, resource_version: &str) -> kube::Result<()> {
        let mut data = BTreeMap::from([
            (CERT_KEY, pki.cert_pem.as_str()),
            (KEY_KEY, pki.key_pem.as_str()),
            (CA_KEY, pki.ca_bundle_pem.as_str()),
        ]);
        if let Some(key) = &pki.ca_key_pem {
            data.insert(CA_PRIVATE_KEY, key);
        }
        let encoded: BTreeMap<&str, ByteString> = data
            .into_iter()
            .map(|(k, v)| (k, ByteString(v.as_bytes().to_vec())))
            .collect();
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": resource_version},
            "data": encoded,
        });
        self.api
            .patch(&self.name, &crate::patch_params(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
    }
}

fn log_renewal(renewal: Renewal, secret: &str) {
    match renewal {
        Renewal::Keep => {}
        Renewal::Fresh(why) => {
            tracing::info!(secret, %why, "generated a new CA and serving certificate");
        }
        Renewal::AddCa(why) => {
            tracing::info!(secret, %why, "added a new CA to the trust bundle");
        }
        Renewal::Reissue(why) => tracing::info!(secret, %why, "renewed the serving certificate"),
        Renewal::Prune => tracing::info!(secret, "dropped expired CAs from the trust bundle"),
    }
}

/// Puts `stored` into use where it differs from `in_use`; returns what is in use after.
fn adopt(
    in_use: StoredPki,
    stored: StoredPki,
    serving: &ServingCert,
    bundle: &watch::Sender<String>,
) -> StoredPki {
    if stored.cert_pem != in_use.cert_pem || stored.key_pem != in_use.key_pem {
        if let Err(err) = serving.replace(stored.cert_pem.as_bytes(), stored.key_pem.as_bytes()) {
            tracing::warn!(error = %err, "the stored serving certificate is unusable; keeping ours");
            return in_use;
        }
        tracing::info!("serving the renewed certificate");
    }
    bundle.send_if_modified(|current| replace_if_changed(current, stored.ca_bundle_pem.clone()));
    stored
}

/// The certificate cert-manager keeps in `dir` (`tls.crt`, `tls.key`, `ca.crt`).
pub(super) fn from_dir(dir: &std::path::Path) -> Result<Certificate> {
    let serving = ServingCert::from_files(dir.join(CERT_KEY), dir.join(KEY_KEY))?;
    let ca_pem = read_ca(dir)?;
    Ok(Certificate { serving, ca_pem })
}

/// The CA bundle cert-manager keeps in `dir`.
fn read_ca(dir: &std::path::Path) -> Result<String> {
    let ca_path = dir.join(CA_KEY);
    std::fs::read_to_string(&ca_path).map_err(|source| Error::Read {
        path: ca_path,
        source,
    })
}

/// Rereads cert-manager's CA bundle in `dir` each `period` until `shutdown`, publishing it on
/// `bundle` when it changed; an unreadable file keeps the bundle in use.
pub(super) async fn watch_ca_file(
    dir: std::path::PathBuf,
    bundle: watch::Sender<String>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ticks = tokio::time::interval(RENEW_PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = &mut shutdown => break,
        }
        match read_ca(&dir) {
            Ok(fresh) => {
                if bundle.send_if_modified(|current| replace_if_changed(current, fresh)) {
                    tracing::info!("CA bundle reloaded from its file");
                }
            }
            Err(err) => tracing::warn!(error = %err, "keeping the CA bundle in use"),
        }
    }
}

/// Puts `fresh` into `current` when they differ; whether it did.
fn replace_if_changed(current: &mut String, fresh: String) -> bool {
    let changed = *current != fresh;
    if changed {
        *current = fresh;
    }
    changed
}

/// The PKI in the Secret, if it holds a serving certificate, its key and a CA bundle.
fn stored(secret: &Secret) -> Option<StoredPki> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .filter(|v| !v.0.is_empty())
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    Some(StoredPki {
        cert_pem: text(CERT_KEY)?,
        key_pem: text(KEY_KEY)?,
        ca_bundle_pem: text(CA_KEY)?,
        ca_key_pem: text(CA_PRIVATE_KEY),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::renew::{Reason, Renewal};
    use crate::tls::{SERVING_VALIDITY, Validity, generate, issue_serving, new_ca};
    use ripcord_fake_apiserver::{FakeApiServer, ObjectKey};
    use serde_json::json;

    const SERVICE: &str = "ripcord-controller";
    const DNS_NAME: &str = "ripcord-controller.ripcord.svc";

    fn encoded(data: &[(&str, &str)]) -> serde_json::Value {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        data.iter()
            .map(|(k, v)| (k.to_string(), json!(engine.encode(v))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    async fn server_with_secret(data: &[(&str, &str)]) -> (FakeApiServer, ObjectKey) {
        let server = FakeApiServer::start().await.expect("fake API server");
        let key = server
            .insert(
                json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": {"name": "ripcord-controller-tls", "namespace": "ripcord"},
                "data": encoded(data)}),
            )
            .expect("stored");
        (server, key)
    }

    fn decoded(secret: &serde_json::Value, key: &str) -> Option<String> {
        use base64::Engine as _;
        let text = secret["data"][key].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        String::from_utf8(bytes).ok()
    }

    #[tokio::test]
    async fn a_secret_from_before_renewal_gains_a_ca_under_its_resource_version() {
        let now = SystemTime::now();
        let ca = new_ca("ripcord", Validity::starting(now, SERVING_VALIDITY * 5)).expect("CA");
        let serving = issue_serving(
            &ca,
            SERVICE,
            "ripcord",
            Validity::starting(now, SERVING_VALIDITY),
        )
        .expect("cert");
        let (server, key) = server_with_secret(&[
            (CERT_KEY, &serving.cert_pem),
            (KEY_KEY, &serving.key_pem),
            (CA_KEY, &ca.cert_pem),
        ])
        .await;
        let version = server.get(&key).expect("Secret")["metadata"]["resourceVersion"].clone();
        let pki = SecretPki::new(
            &server.client().expect("client"),
            "ripcord",
            "ripcord-controller-tls",
            SERVICE,
        );

        let (certificate, stored) = pki.certificate().await.expect("certificate");

        assert_eq!(
            stored.cert_pem, serving.cert_pem,
            "the served certificate stays"
        );
        assert_eq!(stored.bundle_blocks().len(), 2);
        assert!(
            certificate.ca_pem.ends_with(&ca.cert_pem),
            "the old CA stays trusted"
        );
        let secret = server.get(&key).expect("Secret");
        assert_eq!(
            decoded(&secret, CA_KEY).as_deref(),
            Some(stored.ca_bundle_pem.as_str())
        );
        assert_eq!(decoded(&secret, CA_PRIVATE_KEY), stored.ca_key_pem);
        let writes = server.writes();
        let paths: Vec<&str> = writes.iter().map(|w| w.path.as_str()).collect();
        assert_eq!(writes.len(), 1, "{paths:?}");
        let body: serde_json::Value = serde_json::from_slice(&writes[0].body).expect("JSON");
        assert_eq!(body["metadata"]["resourceVersion"], version);
        assert_eq!(
            decide(Some(&stored.facts(DNS_NAME, now)), now),
            Renewal::Keep,
            "nothing more is due"
        );
    }

    #[tokio::test]
    async fn a_replica_renews_what_is_due_and_serves_another_replicas_renewal() {
        let now = SystemTime::now();
        let aged = carry_out(
            Renewal::Fresh(Reason::Empty),
            None,
            SERVICE,
            "ripcord",
            now - SERVING_VALIDITY * 3 / 4,
        )
        .expect("generated")
        .expect("a PKI");
        let ca_key = aged.ca_key_pem.clone().expect("key");
        let (server, key) = server_with_secret(&[
            (CERT_KEY, &aged.cert_pem),
            (KEY_KEY, &aged.key_pem),
            (CA_KEY, &aged.ca_bundle_pem),
            (CA_PRIVATE_KEY, &ca_key),
        ])
        .await;
        let pki = SecretPki::new(
            &server.client().expect("client"),
            "ripcord",
            "ripcord-controller-tls",
            SERVICE,
        );
        let serving = ServingCert::from_pem(aged.cert_pem.as_bytes(), aged.key_pem.as_bytes())
            .expect("usable");
        let (bundle, mut following) = watch::channel(aged.ca_bundle_pem.clone());

        let renewed = pki.sync(now).await.expect("synced");
        assert_ne!(renewed.cert_pem, aged.cert_pem, "due, so reissued");
        assert_eq!(
            renewed.ca_bundle_pem, aged.ca_bundle_pem,
            "under the same CA"
        );
        let in_use = adopt(aged.clone(), renewed.clone(), &serving, &bundle);
        assert_eq!(in_use, renewed);
        assert!(
            !following.has_changed().expect("open"),
            "the bundle did not change"
        );
        let served = crate::tls::tests::served_certificate(
            serving.acceptor().expect("acceptor"),
            &aged.ca_bundle_pem,
            DNS_NAME,
        )
        .await
        .expect("handshake");
        assert_eq!(Some(served), leaf(&renewed.cert_pem));

        // Another replica adds a CA and reissues; this one picks both up on its next round.
        let theirs = generate(SERVICE, "ripcord").expect("generated");
        let bundle_pem = format!("{}{}", theirs.ca_pem, renewed.ca_bundle_pem);
        server
            .write_as_other(&key, |current| {
                let mut secret = current.cloned().expect("Secret");
                secret["data"] = encoded(&[
                    (CERT_KEY, &theirs.cert_pem),
                    (KEY_KEY, &theirs.key_pem),
                    (CA_KEY, &bundle_pem),
                    (CA_PRIVATE_KEY, &theirs.ca_key_pem),
                ]);
                secret
            })
            .expect("written");
        let stored = pki.sync(now).await.expect("synced");
        let in_use = adopt(in_use, stored, &serving, &bundle);
        assert_eq!(in_use.cert_pem, theirs.cert_pem);
        assert!(following.has_changed().expect("open"));
        assert_eq!(*following.borrow_and_update(), bundle_pem);
        let served = crate::tls::tests::served_certificate(
            serving.acceptor().expect("acceptor"),
            &bundle_pem,
            DNS_NAME,
        )
        .await
        .expect("handshake");
        assert_eq!(Some(served), leaf(&theirs.cert_pem));
    }

    #[tokio::test]
    async fn the_ca_bundle_published_is_the_secrets_not_a_stale_copy() {
        let current = generate(SERVICE, "ripcord").expect("generated");
        let stale = generate(SERVICE, "ripcord").expect("generated").ca_pem;
        let (server, _) = server_with_secret(&[
            (CERT_KEY, &current.cert_pem),
            (KEY_KEY, &current.key_pem),
            (CA_KEY, &current.ca_pem),
            (CA_PRIVATE_KEY, &current.ca_key_pem),
        ])
        .await;
        let fixture = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/admission/mutatingwebhookconfiguration.json"
        ))
        .expect("fixture");
        let config_key = server
            .insert(serde_json::from_str(&fixture).expect("JSON"))
            .expect("stored");
        let client = server.client().expect("client");
        let pki = SecretPki::new(&client, "ripcord", "ripcord-controller-tls", SERVICE);

        let patched = super::super::publish_ca_bundle(&client, "ripcord", &pki, stale)
            .await
            .expect("published");

        assert!(patched);
        let config = server.get(&config_key).expect("configuration");
        for webhook in config["webhooks"].as_array().expect("webhooks") {
            let bundle = decoded(
                &json!({"data": {"b": webhook["clientConfig"]["caBundle"]}}),
                "b",
            );
            assert_eq!(bundle.as_deref(), Some(current.ca_pem.as_str()));
        }
    }

    fn leaf(pem: &str) -> Option<Vec<u8>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .next()?
            .ok()
            .map(|der| der.as_ref().to_vec())
    }

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
    fn a_stored_certificate_for_another_service_is_replaced() {
        let now = SystemTime::now();
        let name = "edge-ripcord-controller.ops.svc";
        let ours = stored(&filled("edge-ripcord-controller")).expect("stored");
        let facts = ours.facts(name, now);
        assert_eq!(
            decide(Some(&facts), now),
            Renewal::AddCa(crate::tls::renew::Reason::NoSigningKey),
            "a Secret from before renewal keeps its certificate and gains a CA with a key"
        );
        let theirs = stored(&filled("ripcord-controller")).expect("stored");
        assert_eq!(
            decide(Some(&theirs.facts(name, now)), now),
            Renewal::Fresh(crate::tls::renew::Reason::OtherService),
        );
        assert_eq!(stored(&Secret::default()), None);
    }
}
