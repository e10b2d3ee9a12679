//! One bounded HTTP/1 POST of a report to the controller's intake (plain http, or https trusting
//! the given CA), with a bearer token read fresh from its file.

use super::{ReportError, Result};
use crate::scrape::Tls;
use crate::scrape::client::{BodyStop, read_capped};
use crate::scrape::transport::Endpoint;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most of the controller's answer read, in bytes; its content is unused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Posts report bodies to one intake URL over HTTP/1.1, plain or TLS.
#[derive(Debug, Clone)]
pub struct Poster {
    url: String,
    endpoint: Endpoint,
    token_path: PathBuf,
    timeout: Duration,
}

impl Poster {
    /// A poster to `url` (`http://host[:port]/path`), authenticating with the token in
    /// `token_path`, each exchange bounded by `timeout`.
    pub fn new(url: &str, token_path: impl Into<PathBuf>, timeout: Duration) -> Result<Self> {
        Self::with_tls(url, token_path, timeout, None)
    }

    /// Like [`Poster::new`], and `https://` URLs too when `tls` is given.
    pub fn with_tls(
        url: &str,
        token_path: impl Into<PathBuf>,
        timeout: Duration,
        tls: Option<&Tls>,
    ) -> Result<Self> {
        let endpoint = Endpoint::parse(url, tls).map_err(|reason| ReportError::Url {
            url: url.to_string(),
            reason,
        })?;
        Ok(Poster {
            url: url.to_string(),
            endpoint,
            token_path: token_path.into(),
            timeout,
        })
    }

    /// The intake URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` as JSON with the token the file holds now; succeeds on a 2xx answer.
    pub async fn post(&self, body: Bytes) -> Result<()> {
        let token = read_token(&self.token_path)?;
        let request = self.request(body, &token)?;
        tokio::time::timeout(self.timeout, self.exchange(request))
            .await
            .map_err(|_| ReportError::Timeout {
                url: self.url.clone(),
                after: self.timeout,
            })?
    }

    fn request(&self, body: Bytes, token: &str) -> Result<Request<Full<Bytes>>> {
        Request::post(self.endpoint.path_and_query())
            .header(HOST, self.endpoint.authority())
            .header(CONTENT_TYPE, "application/json")
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .header(
                USER_AGENT,
                concat!("ripcord-sidecar/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| ReportError::Url {
                url: self.url.clone(),
                reason: e.to_string(),
            })
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<()> {
        let stream = self
            .endpoint
            .connect()
            .await
            .map_err(|source| ReportError::Connect {
                url: self.url.clone(),
                source,
            })?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.protocol(source))?;
        let answer = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|source| self.protocol(source))?;
            let status = response.status();
            // Drain the (small) answer so the connection ends cleanly; its content is unused,
            // so a longer one is left unread and the status decides.
            match read_capped(response, MAX_ANSWER_BYTES).await {
                Ok(_) | Err(BodyStop::TooLarge(_)) => {}
                Err(BodyStop::Protocol(source)) => return Err(self.protocol(source)),
            }
            if status.is_success() {
                Ok(())
            } else {
                Err(ReportError::Status {
                    url: self.url.clone(),
                    status: status.as_u16(),
                })
            }
        };
        tokio::pin!(answer, connection);
        tokio::select! {
            biased;
            outcome = &mut answer => outcome,
            _ = &mut connection => answer.await,
        }
    }

    fn protocol(&self, source: hyper::Error) -> ReportError {
        ReportError::Protocol {
            url: self.url.clone(),
            source,
        }
    }
}

/// Reads the token, trimmed; the projected service-account token rotates, so it is read on
/// every send rather than cached. The file is a few hundred bytes on a kubelet-managed tmpfs,
/// so a plain read does not stall the runtime.
pub(crate) fn read_token(path: &Path) -> Result<String> {
    let refuse = |reason: String| ReportError::Token {
        path: path.to_path_buf(),
        reason,
    };
    let token = std::fs::read_to_string(path).map_err(|e| refuse(e.to_string()))?;
    let token = token.trim();
    if token.is_empty() {
        return Err(refuse("the file is empty".to_string()));
    }
    if token.contains(['\r', '\n']) {
        return Err(refuse("the token spans several lines".to_string()));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_with_a_host_are_accepted_https_only_with_tls() {
        for bad in ["https://ctl/intake", "ctl:80", "/intake", "not a url"] {
            let refused = Poster::new(bad, "/token", Duration::from_secs(1));
            assert!(
                matches!(refused, Err(ReportError::Url { .. })),
                "{bad}: {refused:?}"
            );
        }
        let poster = Poster::new("http://[::1]:8443/v1/verdicts?x=1", "/t", Duration::ZERO)
            .expect("a valid URL");
        assert_eq!(
            (poster.endpoint.host.as_str(), poster.endpoint.port),
            ("::1", 8443)
        );
        let tls = Tls::with_web_roots().expect("web roots");
        let https = Poster::with_tls("https://ctl/intake", "/t", Duration::ZERO, Some(&tls));
        assert_eq!(https.expect("https with tls").endpoint.port, 443);
        let request = poster.request(Bytes::new(), "abc").expect("a request");
        assert_eq!(request.uri(), "/v1/verdicts?x=1");
        assert_eq!(request.headers()[HOST], "[::1]:8443");
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer abc");
    }

    #[test]
    fn a_missing_or_empty_token_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("ripcord-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("token");
        let missing = read_token(&path);
        assert!(
            matches!(missing, Err(ReportError::Token { .. })),
            "{missing:?}"
        );
        std::fs::write(&path, "  \n").expect("write");
        let empty = read_token(&path).expect_err("empty token");
        assert!(empty.to_string().contains("empty"), "{empty}");
        std::fs::write(&path, "tok-1\n").expect("write");
        assert_eq!(read_token(&path).expect("token"), "tok-1");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
