//! One bounded HTTP/1 GET, plain or TLS, with an optional bearer token read fresh from its file:
//! the assignment, a peer's window, the snapshot. Whole exchange under a timeout, body under a cap.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::Request;
use hyper::client::conn::http1;
use hyper::header::{ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;

use super::{Result, RunError};
use crate::report::read_token;
use crate::scrape::Tls;
use crate::scrape::client::{BodyStop, read_capped};
use crate::scrape::transport::Endpoint;

/// How to fetch: TLS settings for `https://` URLs, the token to send, bounds in time and size.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    pub(crate) tls: Option<Tls>,
    /// Sent as `Authorization: Bearer` when set (read on every request: it rotates).
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) timeout: Duration,
    pub(crate) max_bytes: usize,
}

impl Fetcher {
    /// GETs `url` and returns the body of a 2xx answer.
    pub(crate) async fn get(&self, url: &str) -> Result<Bytes> {
        let fetch_error = |reason: String| RunError::Fetch {
            url: url.to_string(),
            reason,
        };
        let endpoint = Endpoint::parse(url, self.tls.as_ref()).map_err(&fetch_error)?;
        let mut request = Request::get(endpoint.path_and_query())
            .header(HOST, endpoint.authority())
            .header(ACCEPT, "application/json")
            .header(
                USER_AGENT,
                concat!("ripcord-sidecar/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(path) = &self.token_file {
            let token = read_token(path).map_err(|e| fetch_error(e.to_string()))?;
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| fetch_error(e.to_string()))?;
        tokio::time::timeout(self.timeout, self.exchange(&endpoint, request))
            .await
            .map_err(|_| fetch_error(format!("no answer within {} ms", self.timeout.as_millis())))?
            .map_err(fetch_error)
    }

    async fn exchange(
        &self,
        endpoint: &Endpoint,
        request: Request<Empty<Bytes>>,
    ) -> std::result::Result<Bytes, String> {
        let stream = endpoint
            .connect()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("bad HTTP exchange: {e}"))?;
        let cap = self.max_bytes;
        let answer = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("bad HTTP exchange: {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP status {}", status.as_u16()));
            }
            read_capped(response, cap).await.map_err(|stop| match stop {
                BodyStop::TooLarge(read) => {
                    format!("answer too large: more than {cap} bytes (refused at {read})")
                }
                BodyStop::Protocol(e) => format!("bad HTTP exchange: {e}"),
            })
        };
        tokio::pin!(answer, connection);
        tokio::select! {
            biased;
            outcome = &mut answer => outcome,
            _ = &mut connection => answer.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server answering every connection with `answer` (after reading the request), or never.
    async fn server(answer: Option<&'static str>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0; 1024];
                let _ = stream.read(&mut request).await;
                if let Some(answer) = answer {
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
                held.push(stream);
            }
        });
        format!("http://{addr}/v1/assignment")
    }

    fn fetcher() -> Fetcher {
        Fetcher {
            tls: None,
            token_file: None,
            timeout: Duration::from_millis(300),
            max_bytes: 64,
        }
    }

    #[tokio::test]
    async fn oversized_silent_and_failing_answers_are_errors_naming_the_url() {
        let cases = [
            (
                Some("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"),
                "too large",
            ),
            (None, "no answer within 300 ms"),
            (
                Some("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"),
                "HTTP status 401",
            ),
        ];
        for (answer, expected) in cases {
            let url = server(answer).await;
            let error = fetcher().get(&url).await.expect_err(expected).to_string();
            assert!(error.contains(expected) && error.contains(&url), "{error}");
        }
        let ok = server(Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")).await;
        assert_eq!(fetcher().get(&ok).await.expect("a small answer"), "{}");
    }
}
