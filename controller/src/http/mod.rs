//! The controller's one outbound HTTP(S) client, for flag providers and notification webhooks:
//! HTTPS with the Mozilla (webpki) roots or plain HTTP, a timeout over the whole exchange, a
//! cap on the answer's size, and errors that say whether to retry, back off or give up.

mod error;

pub use error::{Disposition, HttpError, Result};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;
use std::time::Duration;

/// How long any one call may take, and how large an answer may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Bound on the whole exchange: connect, TLS, request, and reading the answer.
    pub timeout: Duration,
    /// Largest answer body read; a larger one is an error.
    pub max_response_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            timeout: Duration::from_secs(10),
            max_response_bytes: 256 * 1024,
        }
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The body, at most [`HttpLimits::max_response_bytes`].
    pub body: Bytes,
}

/// The `User-Agent` of every call.
const USER_AGENT: &str = concat!("ripcord-controller/", env!("CARGO_PKG_VERSION"));

/// Longest body excerpt kept in a status error.
const EXCERPT_CHARS: usize = 300;

/// An HTTP/1.1 client over HTTPS (webpki roots) or plain HTTP. Cheap to clone; clones share
/// the connection pool.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    limits: HttpLimits,
}

impl HttpClient {
    /// A client with the given limits, trusting the Mozilla root certificates and, when given,
    /// the certificates of `extra_ca_pem` (PEM, one or more; for a private flag service).
    pub fn new(limits: HttpLimits, extra_ca_pem: Option<&[u8]>) -> Result<Self> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(pem) = extra_ca_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| HttpError::Ca(e.to_string()))?;
                roots.add(cert)?;
                added += 1;
            }
            if added == 0 {
                return Err(HttpError::Ca("no PEM certificate found".to_string()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(HttpClient { inner, limits })
    }

    /// The limits every call is held to.
    pub fn limits(&self) -> HttpLimits {
        self.limits
    }

    /// Sends `request`; succeeds on a 2xx answer with its body, bounded in time and size.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Answer> {
        let target = describe(request.method().as_str(), request.uri());
        tokio::time::timeout(self.limits.timeout, self.exchange(request, &target))
            .await
            .map_err(|_| HttpError::Timeout {
                target: target.clone(),
                after: self.limits.timeout,
            })?
    }

    async fn exchange(&self, request: Request<Full<Bytes>>, target: &str) -> Result<Answer> {
        let response = self
            .inner
            .request(request)
            .await
            .map_err(|e| HttpError::Network {
                target: target.to_string(),
                source: Box::new(e),
            })?;
        let status = response.status();
        let cap = self.limits.max_response_bytes;
        let body = Limited::new(response.into_body(), cap)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    HttpError::TooLarge {
                        target: target.to_string(),
                        cap,
                    }
                } else {
                    HttpError::Network {
                        target: target.to_string(),
                        source: e,
                    }
                }
            })?
            .to_bytes();
        if status.is_success() {
            Ok(Answer { status, body })
        } else {
            Err(HttpError::Status {
                target: target.to_string(),
                status: status.as_u16(),
                excerpt: excerpt(&body),
            })
        }
    }
}

/// A request with a JSON `body` (or none), `Accept: application/json`, Ripcord's user agent and
/// the extra `headers`; a `Content-Type` among them replaces the JSON default.
pub fn json_request(
    method: Method,
    uri: Uri,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Request<Full<Bytes>>> {
    let target = describe(method.as_str(), &uri);
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, USER_AGENT);
    let has_type = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !has_type {
        builder = builder.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| HttpError::Request {
            target,
            reason: e.to_string(),
        })
}

/// Parses `url` as an `http://` or `https://` URL with a host; `what` names it in the error.
pub fn parse_url(url: &str, what: &str) -> Result<Uri> {
    let refuse = |reason: String| HttpError::Request {
        target: what.to_string(),
        reason,
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| refuse(format!("not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(refuse("the URL must start with http:// or https://".into())),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(refuse("the URL has no host".into()));
    }
    Ok(uri)
}

/// `METHOD scheme://authority`, leaving out the path, which may hold a secret.
fn describe(method: &str, uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri.authority().map_or("?", |a| a.as_str());
    format!("{method} {scheme}://{authority}")
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut cut: String = text.chars().take(EXCERPT_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_an_http_scheme_and_a_host() {
        for bad in ["ftp://x/y", "x/y", "/path", "http:///x", "not a url"] {
            let error = parse_url(bad, "test").expect_err(bad);
            assert_eq!(error.disposition(), Disposition::GiveUp, "{bad}");
        }
        let uri =
            parse_url("https://hooks.example.com/services/T/B/secret", "slack").expect("valid");
        assert_eq!(describe("POST", &uri), "POST https://hooks.example.com");
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = "x".repeat(10_000);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"  short \n"), "short");
    }
}
