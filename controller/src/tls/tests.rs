//! Tests of the TLS module: real handshakes over local sockets with a rustls client trusting
//! the generated CA, file reloads, and the caBundle patch on a webhook configuration fixture.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::*;

/// A TLS client trusting only `ca_pem`.
pub(crate) fn connector(ca_pem: &str) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA added");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// The leaf certificate (DER) `acceptor` presents to a client trusting `ca_pem` for `name`.
pub(crate) async fn served_certificate(
    acceptor: TlsAcceptor,
    ca_pem: &str,
    name: &str,
) -> std::io::Result<Vec<u8>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            let _ = acceptor.accept(stream).await;
        }
    });
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_string()).expect("a DNS name");
    let tls = connector(ca_pem).connect(server_name, tcp).await?;
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| der.as_ref().to_vec())
        .unwrap_or_default();
    drop(tls);
    let _ = server.await;
    Ok(leaf)
}

/// Serves one connection that answers "pong" to "ping"; returns the client's result.
async fn handshake(acceptor: TlsAcceptor, ca_pem: &str, name: &str) -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.expect("accept");
        if let Ok(mut tls) = acceptor.accept(stream).await {
            let mut ping = [0u8; 4];
            if tls.read_exact(&mut ping).await.is_ok() {
                let _ = tls.write_all(b"pong").await;
                let _ = tls.shutdown().await;
            }
        }
    });
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let server_name = ServerName::try_from(name.to_string()).expect("a DNS name");
    let result = async {
        let mut tls = connector(ca_pem).connect(server_name, tcp).await?;
        tls.write_all(b"ping").await?;
        let mut pong = String::new();
        tls.read_to_string(&mut pong).await?;
        Ok(pong)
    }
    .await;
    server.await.expect("server task");
    result
}

#[tokio::test]
async fn the_certificate_names_the_service_it_was_generated_for() {
    let pki = generate("edge-ripcord-controller", "ops").expect("generated");
    let serving =
        ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).expect("usable");
    let acceptor = serving.acceptor().expect("acceptor");
    let pong = handshake(
        acceptor.clone(),
        &pki.ca_pem,
        "edge-ripcord-controller.ops.svc",
    )
    .await
    .expect("the named Service's address is accepted");
    assert_eq!(pong, "pong");
    assert!(
        handshake(acceptor, &pki.ca_pem, "ripcord-controller.ops.svc")
            .await
            .is_err(),
        "the default Service name is not in a certificate for another one"
    );
}

#[tokio::test]
async fn a_client_trusting_the_generated_ca_reaches_the_service_names() {
    let pki = generate(SERVICE_NAME, "ripcord").expect("generated");
    let serving =
        ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).expect("usable");
    let acceptor = serving.acceptor().expect("acceptor");
    for name in [
        "ripcord-controller.ripcord.svc",
        "ripcord-controller.ripcord.svc.cluster.local",
    ] {
        let pong = handshake(acceptor.clone(), &pki.ca_pem, name)
            .await
            .unwrap_or_else(|e| panic!("handshake for {name}: {e}"));
        assert_eq!(pong, "pong");
    }
}

#[tokio::test]
async fn other_names_and_other_cas_are_refused() {
    let pki = generate(SERVICE_NAME, "ripcord").expect("generated");
    let other = generate(SERVICE_NAME, "ripcord").expect("generated");
    let acceptor = ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
        .expect("usable")
        .acceptor()
        .expect("acceptor");
    let wrong_name = handshake(
        acceptor.clone(),
        &pki.ca_pem,
        "ripcord-controller.other.svc",
    )
    .await;
    assert!(
        wrong_name.is_err(),
        "a certificate for another namespace was accepted"
    );
    let wrong_ca = handshake(acceptor, &other.ca_pem, "ripcord-controller.ripcord.svc").await;
    assert!(
        wrong_ca.is_err(),
        "a certificate from another CA was accepted"
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let pki = generate(SERVICE_NAME, "ripcord").expect("generated");
    let other = generate(SERVICE_NAME, "ripcord").expect("generated");
    let error = ServingCert::from_pem(pki.cert_pem.as_bytes(), other.key_pem.as_bytes())
        .expect_err("mismatched");
    assert!(matches!(error, Error::Rustls(_)), "{error}");
    let error = ServingCert::from_pem(b"not pem", pki.key_pem.as_bytes()).expect_err("no chain");
    assert!(matches!(error, Error::Pem { .. }), "{error}");
}

/// A fresh directory under the system's temporary directory.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ripcord-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test]
async fn files_are_reloaded_when_they_change_and_kept_when_broken() {
    let dir = scratch("reload");
    let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    let first = generate(SERVICE_NAME, "ripcord").expect("generated");
    std::fs::write(&cert, &first.cert_pem).expect("write");
    std::fs::write(&key, &first.key_pem).expect("write");
    let serving = ServingCert::from_files(&cert, &key).expect("loaded");
    let acceptor = serving.acceptor().expect("acceptor");
    let name = "ripcord-controller.ripcord.svc";
    assert!(!serving.reload().expect("unchanged files reload"));

    let second = generate(SERVICE_NAME, "ripcord").expect("generated");
    std::fs::write(&cert, &second.cert_pem).expect("write");
    std::fs::write(&key, &second.key_pem).expect("write");
    assert!(serving.reload().expect("renewed files reload"));
    // The same acceptor now serves the renewed certificate.
    assert!(
        handshake(acceptor.clone(), &second.ca_pem, name)
            .await
            .is_ok()
    );
    assert!(
        handshake(acceptor.clone(), &first.ca_pem, name)
            .await
            .is_err()
    );

    std::fs::write(&key, "garbage").expect("write");
    assert!(serving.reload().is_err());
    assert!(
        handshake(acceptor, &second.ca_pem, name).await.is_ok(),
        "kept"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn missing_files_name_the_path() {
    let error = ServingCert::from_files("/nonexistent/tls.crt", "/nonexistent/tls.key")
        .expect_err("missing");
    assert!(
        error.to_string().contains("/nonexistent/tls.crt"),
        "{error}"
    );
}

fn webhook_configuration() -> (serde_json::Value, MutatingWebhookConfiguration) {
    let path = format!(
        "{}/../testdata/admission/mutatingwebhookconfiguration.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
    let config = serde_json::from_value(json.clone()).expect("a MutatingWebhookConfiguration");
    (json, config)
}

#[test]
fn the_ca_bundle_patch_sets_every_webhook_once() {
    let (mut json, config) = webhook_configuration();
    let ca = generate(SERVICE_NAME, "ripcord").expect("generated").ca_pem;
    let patch = ca_bundle_patch(&config, ca.as_bytes()).expect("both webhooks need the CA");
    json_patch::patch(&mut json, &patch).expect("the patch applies");
    let patched: MutatingWebhookConfiguration = serde_json::from_value(json).expect("still valid");
    let webhooks = patched.webhooks.as_ref().expect("webhooks");
    assert_eq!(webhooks.len(), 2);
    for webhook in webhooks {
        let bundle = webhook
            .client_config
            .ca_bundle
            .as_ref()
            .expect("a caBundle");
        assert_eq!(bundle.0, ca.as_bytes(), "{}", webhook.name);
        assert_eq!(
            webhook
                .client_config
                .service
                .as_ref()
                .map(|s| s.name.as_str()),
            Some("ripcord-controller"),
            "the rest of clientConfig stays"
        );
    }
    assert!(
        ca_bundle_patch(&patched, ca.as_bytes()).is_none(),
        "nothing left to do"
    );
}

#[test]
fn the_ca_bundle_patch_fails_if_the_webhooks_were_reordered() {
    let (mut json, config) = webhook_configuration();
    let patch = ca_bundle_patch(&config, b"CA").expect("a patch");
    json["webhooks"].as_array_mut().expect("webhooks").reverse();
    assert!(json_patch::patch(&mut json, &patch).is_err());
}

type Seen = Arc<Mutex<Vec<(Method, String, Option<String>, Bytes)>>>;

/// A mock API server holding the webhook configuration: answers GET and JSON-patch PATCH on
/// it and records every request.
fn mock_api(seen: Seen) -> kube::Client {
    let (json, _) = webhook_configuration();
    let state = Arc::new(Mutex::new(json));
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let (seen, state) = (seen.clone(), state.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            seen.lock().expect("lock").push((
                parts.method.clone(),
                parts.uri.path().to_string(),
                content_type,
                body.clone(),
            ));
            let mut current = state.lock().expect("lock");
            if parts.method == Method::PATCH {
                let patch: json_patch::Patch = serde_json::from_slice(&body)?;
                json_patch::patch(&mut current, &patch)?;
            }
            let answer = serde_json::to_vec(&*current)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                Response::builder()
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(answer)))?,
            )
        }
    });
    kube::Client::new(service, "default")
}

#[tokio::test]
async fn apply_reads_then_patches_once() {
    let seen = Seen::default();
    let client = mock_api(seen.clone());
    let ca = generate(SERVICE_NAME, "ripcord").expect("generated").ca_pem;
    assert!(
        apply_ca_bundle(client.clone(), "ripcord", ca.as_bytes())
            .await
            .expect("applied")
    );
    assert!(
        !apply_ca_bundle(client, "ripcord", ca.as_bytes())
            .await
            .expect("no-op")
    );
    let seen = seen.lock().expect("lock");
    let path = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/ripcord";
    let calls: Vec<(&Method, &str)> = seen.iter().map(|(m, p, _, _)| (m, p.as_str())).collect();
    assert_eq!(
        calls,
        [
            (&Method::GET, path),
            (&Method::PATCH, path),
            (&Method::GET, path)
        ]
    );
    assert_eq!(seen[1].2.as_deref(), Some("application/json-patch+json"));
    let patch: serde_json::Value = serde_json::from_slice(&seen[1].3).expect("json");
    assert_eq!(
        patch.as_array().map(Vec::len),
        Some(4),
        "test+add per webhook"
    );
}
