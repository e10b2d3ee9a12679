//! A bounded HTTP/1 GET of Prometheus' instant-query endpoint: one connection per query, the
//! whole exchange under a timeout and the body under a size cap (as the scraper does).

use super::{BaselineError, Result};
use crate::scrape::client::{BodyStop, PlainHttp, plain_http, read_capped};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, HOST, USER_AGENT};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// Where Prometheus is and how long and how much to wait for it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    url: String,
    host: String,
    port: u16,
    authority: String,
    /// The base path (`/prometheus` behind a prefix), without a trailing slash.
    prefix: String,
    timeout: Duration,
    max_body_bytes: usize,
}

/// An answer: HTTP status and the raw body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body, at most the size cap.
    pub body: Bytes,
}

impl ApiClient {
    /// A client for the Prometheus at `url` (`http://host[:port][/prefix]`).
    pub fn new(url: &str, timeout: Duration, max_body_bytes: usize) -> Result<Self> {
        let refuse = |reason: &str| BaselineError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let PlainHttp { uri, host, port } = plain_http(url).map_err(|r| refuse(&r))?;
        if uri.query().is_some() {
            return Err(refuse("the base URL takes no query string"));
        }
        let authority = uri
            .authority()
            .map_or(host.as_str(), |a| a.as_str())
            .to_string();
        Ok(ApiClient {
            url: url.to_string(),
            host,
            port,
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
            timeout,
            max_body_bytes,
        })
    }

    /// The request path of an instant query of `promql` evaluated at `at_ms` (Unix ms).
    pub fn query_path(&self, promql: &str, at_ms: i64) -> String {
        let time = format!("{}.{:03}", at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
        format!(
            "{}/api/v1/query?query={}&time={time}",
            self.prefix,
            percent_encode(promql)
        )
    }

    /// Runs the instant query `promql` at `at_ms`, bounded by the timeout and the size cap.
    pub async fn query(&self, promql: &str, at_ms: i64) -> Result<Answer> {
        let path = self.query_path(promql, at_ms);
        tokio::time::timeout(self.timeout, self.exchange(path))
            .await
            .map_err(|_| BaselineError::Timeout {
                url: self.url.clone(),
                after: self.timeout,
            })?
    }

    async fn exchange(&self, path: String) -> Result<Answer> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| self.unreachable(&e))?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unreachable(&e))?;
        let request = Request::get(path)
            .header(HOST, &self.authority)
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("ripcord-sidecar/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| BaselineError::Url {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        let response = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| self.unreachable(&e))?;
            self.read_body(response).await
        };
        tokio::pin!(response, connection);
        tokio::select! {
            biased;
            outcome = &mut response => outcome,
            _ = &mut connection => response.await,
        }
    }

    /// Reads the body, refusing it as soon as it exceeds the cap or announces that it will.
    async fn read_body(&self, response: Response<Incoming>) -> Result<Answer> {
        let status = response.status().as_u16();
        let body = read_capped(response, self.max_body_bytes)
            .await
            .map_err(|stop| match stop {
                BodyStop::TooLarge(read) => self.too_large(read),
                BodyStop::Protocol(source) => self.unreachable(&source),
            })?;
        Ok(Answer { status, body })
    }

    fn unreachable(&self, error: &dyn std::fmt::Display) -> BaselineError {
        BaselineError::Unreachable {
            url: self.url.clone(),
            reason: error.to_string(),
        }
    }

    fn too_large(&self, read: u64) -> BaselineError {
        BaselineError::TooLarge {
            url: self.url.clone(),
            cap: self.max_body_bytes,
            read,
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query-string value.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_percent_encoded_under_the_base_path() {
        let client = ApiClient::new("http://127.0.0.1:9090/prom/", Duration::from_secs(1), 1024)
            .expect("a valid URL");
        assert_eq!(
            client.query_path(r#"sum(x{a="b c"}[5s])"#, 1_700_000_000_123),
            "/prom/api/v1/query?query=sum%28x%7Ba%3D%22b%20c%22%7D%5B5s%5D%29&time=1700000000.123"
        );
        assert_eq!((client.host.as_str(), client.port), ("127.0.0.1", 9090));
    }

    #[test]
    fn non_http_or_hostless_urls_are_refused() {
        for bad in [
            "https://prom:9090",
            "prom:9090",
            "not a url",
            "http://p/?x=1",
        ] {
            let refused = ApiClient::new(bad, Duration::from_secs(1), 1024);
            assert!(matches!(refused, Err(BaselineError::Url { .. })), "{bad}");
        }
    }

    #[test]
    fn multibyte_text_is_encoded_byte_by_byte() {
        assert_eq!(percent_encode("é/~"), "%C3%A9%2F~");
    }
}
