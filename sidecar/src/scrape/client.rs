//! The HTTP/1 client that fetches one exposition: one connection per scrape, bounded in time and
//! in size.

use super::transport::Endpoint;
use super::{Result, ScrapeError};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// What the scraper asks for: OpenMetrics first, then the Prometheus text format.
pub const ACCEPT_EXPOSITION: &str = "application/openmetrics-text;version=1.0.0;q=0.9,\
     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Default bound on one whole scrape (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(800);

/// Settings of a [`Scraper`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeConfig {
    /// The app's metrics URL, plain HTTP (`http://127.0.0.1:8080/metrics`).
    pub target: String,
    /// Bound on one whole scrape, body included.
    pub timeout: Duration,
    /// Largest body accepted, in bytes; a larger one is refused as soon as it is seen.
    pub max_body_bytes: usize,
}

impl ScrapeConfig {
    /// Defaults for `target`: an 800 ms timeout and the exposition parser's size limit.
    pub fn new(target: impl Into<String>) -> Self {
        ScrapeConfig {
            target: target.into(),
            timeout: DEFAULT_TIMEOUT,
            max_body_bytes: crate::expo::Limits::default().max_bytes,
        }
    }
}

/// Fetches the app's exposition over plain HTTP/1.1.
#[derive(Debug, Clone)]
pub struct Scraper {
    config: ScrapeConfig,
    uri: Uri,
    host: String,
    port: u16,
}

impl Scraper {
    /// A scraper for `config`; fails if the target is not an `http://host[:port]/path` URL.
    pub fn new(config: ScrapeConfig) -> Result<Self> {
        let refuse = |reason: &str| ScrapeError::Target {
            target: config.target.clone(),
            reason: reason.to_string(),
        };
        let PlainHttp { uri, host, port } = plain_http(&config.target).map_err(|r| refuse(&r))?;
        Ok(Scraper {
            config,
            uri,
            host,
            port,
        })
    }

    /// The settings this scraper runs with.
    pub fn config(&self) -> &ScrapeConfig {
        &self.config
    }

    /// Fetches one exposition. The whole exchange is bounded by the timeout and the body by the
    /// size cap; every failure is a [`ScrapeError`] saying whether to retry now or back off.
    pub async fn scrape(&self) -> Result<Bytes> {
        let timeout = self.config.timeout;
        tokio::time::timeout(timeout, self.exchange())
            .await
            .map_err(|_| ScrapeError::Timeout {
                target: self.config.target.clone(),
                after: timeout,
            })?
    }

    async fn exchange(&self) -> Result<Bytes> {
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| self.connect_error(source))?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| self.protocol(source))?;
        let request = self.request()?;
        let response = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|source| self.protocol(source))?;
            self.read_body(response).await
        };
        tokio::pin!(response, connection);
        tokio::select! {
            biased;
            outcome = &mut response => outcome,
            // The connection ended first (closed, or broke): whatever it delivered, or the error
            // it left behind, is now in the response's channel.
            _ = &mut connection => response.await,
        }
    }

    fn request(&self) -> Result<Request<Empty<Bytes>>> {
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let authority = self
            .uri
            .authority()
            .map_or(self.host.clone(), |a| a.to_string());
        Request::get(path)
            .header(HOST, authority)
            .header(ACCEPT, ACCEPT_EXPOSITION)
            .header(
                USER_AGENT,
                concat!("ripcord-sidecar/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| ScrapeError::Target {
                target: self.config.target.clone(),
                reason: e.to_string(),
            })
    }

    /// Reads the body frame by frame, refusing it as soon as it exceeds the cap (or announces
    /// that it will, through `Content-Length`).
    async fn read_body(&self, response: Response<Incoming>) -> Result<Bytes> {
        let status = response.status();
        if !status.is_success() {
            return Err(ScrapeError::Status {
                target: self.config.target.clone(),
                status: status.as_u16(),
            });
        }
        read_capped(response, self.config.max_body_bytes)
            .await
            .map_err(|stop| match stop {
                BodyStop::TooLarge(read) => self.too_large(read),
                BodyStop::Protocol(source) => self.protocol(source),
            })
    }

    fn connect_error(&self, source: std::io::Error) -> ScrapeError {
        let target = self.config.target.clone();
        if source.kind() == std::io::ErrorKind::ConnectionRefused {
            ScrapeError::Refused { target }
        } else {
            ScrapeError::Connect { target, source }
        }
    }

    fn protocol(&self, source: hyper::Error) -> ScrapeError {
        ScrapeError::Protocol {
            target: self.config.target.clone(),
            source,
        }
    }

    fn too_large(&self, read: u64) -> ScrapeError {
        ScrapeError::TooLarge {
            target: self.config.target.clone(),
            cap: self.config.max_body_bytes,
            read,
        }
    }
}

/// A plain `http://host[:port]/...` URL, split into what a TCP connect and an HTTP/1 request need.
#[derive(Debug, Clone)]
pub(crate) struct PlainHttp {
    /// The parsed URL.
    pub(crate) uri: Uri,
    /// The host to connect to, without IPv6 brackets.
    pub(crate) host: String,
    /// The port, 80 when the URL names none.
    pub(crate) port: u16,
}

/// Parses `url` as a plain `http://` URL with a host; the error says what is wrong with it.
pub(crate) fn plain_http(url: &str) -> std::result::Result<PlainHttp, String> {
    let Endpoint {
        uri, host, port, ..
    } = Endpoint::parse(url, None)?;
    Ok(PlainHttp { uri, host, port })
}

/// Why [`read_capped`] stopped short of a whole body.
#[derive(Debug)]
pub(crate) enum BodyStop {
    /// The body is, or announced it would be, larger than the cap: this many bytes.
    TooLarge(u64),
    /// The connection broke while the body was read.
    Protocol(hyper::Error),
}

/// Reads a response body frame by frame, refusing it as soon as it exceeds `cap` bytes or
/// announces through `Content-Length` that it will; the buffer never grows past the cap.
pub(crate) async fn read_capped(
    response: Response<Incoming>,
    cap: usize,
) -> std::result::Result<Bytes, BodyStop> {
    let announced = announced_length(&response);
    if let Some(length) = announced.filter(|&length| length > cap as u64) {
        return Err(BodyStop::TooLarge(length));
    }
    let mut body = response.into_body();
    let mut buffer = Vec::with_capacity(announced.map_or(0, |l| l as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyStop::Protocol)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let needed = buffer.len() + data.len();
        if needed > cap {
            return Err(BodyStop::TooLarge(needed as u64));
        }
        grow_within(&mut buffer, needed, cap);
        buffer.extend_from_slice(&data);
    }
    Ok(Bytes::from(buffer))
}

fn announced_length(response: &Response<Incoming>) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Makes room for `needed` bytes, doubling the allocation but never past `cap`, so a body near
/// the cap never holds twice the cap.
fn grow_within(buffer: &mut Vec<u8>, needed: usize, cap: usize) {
    if needed <= buffer.capacity() {
        return;
    }
    let target = needed.max(buffer.capacity().saturating_mul(2)).min(cap);
    buffer.reserve_exact(target - buffer.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_targets_with_a_host_are_accepted() {
        for bad in [
            "https://127.0.0.1/metrics",
            "127.0.0.1:80",
            "not a url",
            "/metrics",
        ] {
            let refused = Scraper::new(ScrapeConfig::new(bad));
            assert!(
                matches!(refused, Err(ScrapeError::Target { .. })),
                "{bad}: {refused:?}"
            );
        }
        let scraper = Scraper::new(ScrapeConfig::new("http://[::1]:9090/metrics?x=1"))
            .expect("a valid target");
        assert_eq!((scraper.host.as_str(), scraper.port), ("::1", 9090));
        let request = scraper.request().expect("a request");
        assert_eq!(request.uri(), "/metrics?x=1");
        assert_eq!(request.headers()[HOST], "[::1]:9090");
    }

    #[test]
    fn defaults_follow_the_parser_limit() {
        let config = ScrapeConfig::new("http://127.0.0.1/metrics");
        assert_eq!(config.timeout, Duration::from_millis(800));
        assert_eq!(
            config.max_body_bytes,
            crate::expo::Limits::default().max_bytes
        );
    }

    #[test]
    fn growth_never_allocates_past_the_cap() {
        let mut buffer = Vec::new();
        let cap = 1000;
        for needed in [100, 300, 700, 999] {
            grow_within(&mut buffer, needed, cap);
            buffer.resize(needed, 0);
            assert!(buffer.capacity() >= needed && buffer.capacity() <= cap);
        }
    }
}
