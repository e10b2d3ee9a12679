//! The serving certificate behind the TLS acceptor: from PEM in memory (generated) or from
//! files (cert-manager), swapped in place when the files change so new connections get the
//! renewed certificate without a restart.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use super::error::{Error, Result};

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The serving certificate and key, shared by every connection; cheap to read, swapped whole.
pub struct ServingCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<Files>,
}

/// Where cert-manager's files are, and what they held when last loaded.
struct Files {
    cert: PathBuf,
    key: PathBuf,
    loaded: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("ServingCert");
        if let Some(files) = &self.files {
            debug.field("cert", &files.cert).field("key", &files.key);
        }
        debug.finish_non_exhaustive()
    }
}

impl ServingCert {
    /// A certificate from PEM: the chain (leaf first) and its private key.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<Self>> {
        Ok(Arc::new(ServingCert {
            current: RwLock::new(certified_key(chain_pem, key_pem)?),
            files: None,
        }))
    }

    /// A certificate read from files (for example cert-manager's `tls.crt` and `tls.key`);
    /// [`ServingCert::reload`] rereads them.
    pub fn from_files(cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Result<Arc<Self>> {
        let (cert, key) = (cert.into(), key.into());
        let (cert_pem, key_pem) = (read_capped(&cert)?, read_capped(&key)?);
        let current = RwLock::new(certified_key(&cert_pem, &key_pem)?);
        Ok(Arc::new(ServingCert {
            current,
            files: Some(Files {
                cert,
                key,
                loaded: Mutex::new((cert_pem, key_pem)),
            }),
        }))
    }

    /// When the certificate served now expires, if its leaf parses.
    pub fn not_after(&self) -> Option<std::time::SystemTime> {
        let current = Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()));
        let leaf = current.cert.first()?;
        super::stored::validity(leaf).map(|v| v.not_after)
    }

    /// Swaps in a certificate from PEM (a renewed one); on an error the previous one stays.
    pub fn replace(&self, chain_pem: &[u8], key_pem: &[u8]) -> Result<()> {
        let key = certified_key(chain_pem, key_pem)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }

    /// Rereads the files and swaps the certificate in when they changed. Returns whether it
    /// changed; on an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<bool> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let fresh = (read_capped(&files.cert)?, read_capped(&files.key)?);
        let mut loaded = files.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if *loaded == fresh {
            return Ok(false);
        }
        let key = certified_key(&fresh.0, &fresh.1)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        *loaded = fresh;
        Ok(true)
    }

    /// Calls [`ServingCert::reload`] every `period` until `shutdown` completes, logging
    /// reloads and failures (a failed reload keeps the previous certificate).
    pub async fn watch(self: Arc<Self>, period: Duration, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => match self.reload() {
                    Ok(true) => tracing::info!("serving certificate reloaded from its files"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!("keeping the previous serving certificate: {e}"),
                },
                () = &mut shutdown => break,
            }
        }
    }

    /// A TLS acceptor (TLS 1.2 and 1.3, ALPN `http/1.1`) serving this certificate, including
    /// its later reloads.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Parses a PEM chain and key and checks that they belong together.
fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate chain", e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            "certificate chain",
            "no CERTIFICATE block".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| pem_error("private key", e.to_string()))?;
    Ok(Arc::new(CertifiedKey::from_der(chain, key, &provider())?))
}

fn pem_error(what: &'static str, reason: String) -> Error {
    Error::Pem { what, reason }
}

/// Reads a file of at most [`MAX_PEM_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>> {
    let read_error = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read_error)?
        .take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(pem_error(
            "certificate or key file",
            format!("{} is larger than {MAX_PEM_BYTES} bytes", path.display()),
        ));
    }
    Ok(bytes)
}
