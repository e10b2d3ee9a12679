//! The connection under every client of the sidecar: plain TCP for `http://` URLs, TLS (rustls)
//! for `https://` ones, trusting only the CA it is given (the controller's), or the public web
//! roots when given none.

use std::sync::Arc;

use hyper::Uri;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA text holds no PEM certificate, or one that does not decode.
    #[error("CA bundle: {0}")]
    Pem(String),
    /// rustls refused a certificate or the protocol settings.
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A TLS client configuration shared by every HTTPS connection of one client; cheap to clone.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ClientConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// Trusts only the certificates in `ca_pem` (one or more PEM `CERTIFICATE` blocks).
    pub fn with_ca_pem(ca_pem: &[u8]) -> Result<Tls, TlsError> {
        let mut roots = rustls::RootCertStore::empty();
        let mut added = 0;
        for certificate in CertificateDer::pem_slice_iter(ca_pem) {
            let certificate = certificate.map_err(|e| TlsError::Pem(e.to_string()))?;
            roots.add(certificate)?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsError::Pem("no PEM CERTIFICATE block found".to_string()));
        }
        Self::with_roots(roots)
    }

    /// Trusts the public web PKI (Mozilla's roots, as shipped by `webpki-roots`).
    pub fn with_web_roots() -> Result<Tls, TlsError> {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Self::with_roots(roots)
    }

    fn with_roots(roots: rustls::RootCertStore) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls(Arc::new(config)))
    }
}

/// A byte stream an HTTP/1 connection runs over: plain TCP or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An `http://` or `https://` URL split into what a connect and an HTTP/1 request need.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The parsed URL.
    pub(crate) uri: Uri,
    /// The host to connect to, without IPv6 brackets.
    pub(crate) host: String,
    /// The port: the URL's, else 80 for http and 443 for https.
    pub(crate) port: u16,
    /// The TLS settings for an `https://` URL; `None` for plain http.
    tls: Option<Tls>,
}

impl Endpoint {
    /// Parses `url`; an `https://` URL needs `tls`, an `http://` one ignores it.
    pub(crate) fn parse(url: &str, tls: Option<&Tls>) -> Result<Endpoint, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
        let (default_port, tls) = match (uri.scheme_str(), tls) {
            (Some("http"), _) => (80, None),
            (Some("https"), Some(tls)) => (443, Some(tls.clone())),
            (Some("https"), None) => {
                return Err("https:// is not supported here (only plain http://)".to_string());
            }
            _ => return Err("only http:// and https:// URLs are supported".to_string()),
        };
        let host = uri
            .host()
            .ok_or_else(|| "no host".to_string())?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(default_port);
        Ok(Endpoint {
            uri,
            host,
            port,
            tls,
        })
    }

    /// The `Host` header's value: the URL's authority.
    pub(crate) fn authority(&self) -> String {
        self.uri
            .authority()
            .map_or(self.host.clone(), |a| a.to_string())
    }

    /// The request target: the URL's path and query.
    pub(crate) fn path_and_query(&self) -> String {
        self.uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string()
    }

    /// Opens a connection: TCP, then the TLS handshake for https (the server's certificate must
    /// chain to the trusted roots and name the URL's host).
    pub(crate) async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let Some(Tls(config)) = &self.tls else {
            return Ok(Box::new(stream));
        };
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = TlsConnector::from(Arc::clone(config))
            .connect(name, stream)
            .await?;
        Ok(Box::new(tls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_needs_tls_settings_and_defaults_to_port_443() {
        let refused = Endpoint::parse("https://ctl.ns.svc/v1/assignment", None);
        assert!(refused.expect_err("no tls").contains("https"));
        let tls = Tls::with_web_roots().expect("web roots");
        let endpoint = Endpoint::parse("https://ctl.ns.svc/v1/assignment", Some(&tls))
            .expect("https with tls");
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("ctl.ns.svc", 443));
        assert_eq!(endpoint.path_and_query(), "/v1/assignment");
        let plain = Endpoint::parse("http://[::1]:9464/v1/window?from=1&to=2", Some(&tls))
            .expect("plain http");
        assert!(plain.tls.is_none());
        assert_eq!(plain.authority(), "[::1]:9464");
        assert!(Endpoint::parse("ftp://x/", Some(&tls)).is_err());
    }

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let refused = Tls::with_ca_pem(b"not a certificate");
        assert!(matches!(refused, Err(TlsError::Pem(_))), "{refused:?}");
    }
}
