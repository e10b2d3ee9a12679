//! `POST /mutate` as a `tower::Service`: an AdmissionReview in JSON in (at most
//! [`MAX_REVIEW_BYTES`], read within a time limit), the AdmissionReview answer out; 400 with a
//! message saying what is wrong for a body that is not an AdmissionReview.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use tokio::sync::watch;

use super::config::InjectConfig;
use super::error::{Error, Result};
use super::mutate::{allow_with_warning, mutate};

/// Largest AdmissionReview body accepted: 1 MiB (the API server's own objects are smaller).
pub const MAX_REVIEW_BYTES: usize = 1 << 20;

/// Longest the body of one review may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The path the webhook is registered under.
const PATH: &str = "/mutate";

/// The `/mutate` route over a shared [`InjectConfig`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Mutate {
    config: watch::Receiver<Arc<InjectConfig>>,
}

impl Mutate {
    /// The route injecting per `config`.
    pub fn new(config: Arc<InjectConfig>) -> Self {
        Mutate::following(watch::channel(config).1)
    }

    /// The route injecting per the latest configuration sent on `config` (a renewed CA bundle).
    pub fn following(config: watch::Receiver<Arc<InjectConfig>>) -> Self {
        Mutate { config }
    }

    /// Answers one AdmissionReview body with the AdmissionReview to send back.
    pub fn review(&self, body: &[u8]) -> Result<Vec<u8>> {
        let response = match serde_json::from_slice::<AdmissionReview<Pod>>(body) {
            Ok(review) => {
                let request: AdmissionRequest<Pod> =
                    review.try_into().map_err(|_| Error::NoRequest)?;
                let config = Arc::clone(&self.config.borrow());
                mutate(&request, &config)
            }
            Err(pod_error) => {
                // A well-formed review of something that does not decode as a Pod is
                // answered (allowed, unchanged); anything else is not a review at all.
                let review = serde_json::from_slice::<AdmissionReview<DynamicObject>>(body)
                    .map_err(|e| Error::Malformed(e.to_string()))?;
                let request: AdmissionRequest<DynamicObject> =
                    review.try_into().map_err(|_| Error::NoRequest)?;
                allow_with_warning(
                    AdmissionResponse::from(&request),
                    &Error::NotAPod(pod_error.to_string()),
                )
            }
        };
        encode(response)
    }

    async fn respond<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: http_body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.uri().path() != PATH {
            return text(
                StatusCode::NOT_FOUND,
                format!("the webhook serves {PATH} only\n"),
            );
        }
        if request.method() != Method::POST {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{PATH} takes POST only\n"),
            );
        }
        let answer = match read_body(request.into_body()).await {
            Ok(body) => self.review(&body),
            Err(e) => Err(e),
        };
        match answer {
            Ok(json) => {
                let mut response = Response::new(Full::new(Bytes::from(json)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/json"),
                );
                response
            }
            Err(e @ Error::TooLarge { .. }) => {
                text(StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n"))
            }
            Err(e) => text(StatusCode::BAD_REQUEST, format!("{e}\n")),
        }
    }
}

/// The AdmissionReview answer in JSON, with the patch as a base64 string — how the API server
/// encodes a `[]byte` field — rather than kube-core's array of numbers, which is three to four
/// times larger.
fn encode(mut response: AdmissionResponse) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let patch = response.patch.take();
    let mut review =
        serde_json::to_value(response.into_review()).map_err(|e| Error::Patch(e.to_string()))?;
    if let (Some(patch), Some(answer)) = (
        patch,
        review.get_mut("response").and_then(|r| r.as_object_mut()),
    ) {
        answer.insert(
            "patch".to_string(),
            base64::engine::general_purpose::STANDARD
                .encode(patch)
                .into(),
        );
    }
    serde_json::to_vec(&review).map_err(|e| Error::Patch(e.to_string()))
}

/// Reads the whole body, refusing more than [`MAX_REVIEW_BYTES`] or a body slower than
/// [`BODY_TIMEOUT`].
async fn read_body<B>(body: B) -> Result<Bytes>
where
    B: http_body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let collected =
        tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, MAX_REVIEW_BYTES).collect())
            .await
            .map_err(|_| Error::Body(format!("no complete body within {BODY_TIMEOUT:?}")))?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Error::TooLarge {
            cap: MAX_REVIEW_BYTES,
        }),
        Err(e) => Err(Error::Body(e.to_string())),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<B> tower::Service<Request<B>> for Mutate
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = self.clone();
        Box::pin(async move { Ok(route.respond(request).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::inject::tests::fixture;

    fn route() -> Mutate {
        Mutate::new(Arc::new(InjectConfig::new("sidecar:test", "ripcord", "CA")))
    }

    async fn send(method: Method, path: &str, body: Vec<u8>) -> (StatusCode, Bytes) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::new(Bytes::from(body)))
            .expect("a request");
        let response = route().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, body)
    }

    #[tokio::test]
    async fn a_review_is_answered_with_a_review_carrying_the_patch() {
        let (status, body) = send(Method::POST, "/mutate", fixture("plain-pod")).await;
        assert_eq!(status, StatusCode::OK);
        let review: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["kind"], "AdmissionReview");
        let response = &review["response"];
        assert_eq!(response["uid"], "5e1f3c2a-8a4b-4f6e-9d21-3b7c0a9e1f01");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["patchType"], "JSONPatch");
        // The patch is base64 in JSON, as the API server encodes []byte.
        let bytes: k8s_openapi::ByteString =
            serde_json::from_value(response["patch"].clone()).expect("a base64 string");
        let patch: json_patch::Patch = serde_json::from_slice(&bytes.0).expect("a JSON patch");
        assert!(!patch.0.is_empty());
    }

    #[tokio::test]
    async fn malformed_bodies_get_400_with_the_reason() {
        for (body, needle) in [
            (b"{".to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
            (b"[]".to_vec(), "not an admission.k8s.io/v1 AdmissionReview"),
            (
                br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_vec(),
                "has no request",
            ),
        ] {
            let (status, text) = send(Method::POST, "/mutate", body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let text = String::from_utf8_lossy(&text);
            assert!(text.contains(needle), "{text}");
        }
    }

    #[tokio::test]
    async fn a_review_of_something_else_is_allowed_with_a_warning() {
        let mut review: Value = serde_json::from_slice(&fixture("plain-pod")).expect("json");
        review["request"]["object"]["spec"]["containers"] = "not a list".into();
        let body = serde_json::to_vec(&review).expect("json");
        let (status, body) = send(Method::POST, "/mutate", body).await;
        assert_eq!(status, StatusCode::OK);
        let answer: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(answer["response"]["allowed"], true);
        assert!(answer["response"].get("patch").is_none());
        assert!(
            answer["response"]["warnings"][0]
                .as_str()
                .is_some_and(|w| w.contains("not a Pod"))
        );
    }

    #[tokio::test]
    async fn an_oversized_body_is_refused_unread() {
        let (status, text) = send(Method::POST, "/mutate", vec![b' '; MAX_REVIEW_BYTES + 1]).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(String::from_utf8_lossy(&text).contains("1048576"));
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused() {
        assert_eq!(
            send(Method::POST, "/other", Vec::new()).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            send(Method::GET, "/mutate", Vec::new()).await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn served_over_tls_by_the_ops_server() {
        use hyper_util::rt::TokioIo;
        use rustls::pki_types::ServerName;

        let pki = crate::tls::generate(crate::tls::SERVICE_NAME, "ripcord").expect("generated");
        let acceptor =
            crate::tls::ServingCert::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes())
                .expect("usable")
                .acceptor()
                .expect("acceptor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::ops::server::serve(
            listener,
            Some(acceptor),
            route(),
            async {
                let _ = stopped.await;
            },
        ));

        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("ripcord-controller.ripcord.svc").expect("name");
        let tls = crate::tls::tests::connector(&pki.ca_pem)
            .connect(name, tcp)
            .await
            .expect("handshake");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("http1");
        tokio::spawn(connection);
        // Two requests on one kept-alive connection.
        for fixture_name in ["plain-pod", "unlabelled"] {
            let request = Request::post("/mutate")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(fixture(fixture_name))))
                .expect("request");
            let response = sender.send_request(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK);
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let answer: Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(answer["response"]["allowed"], true);
            assert_eq!(
                answer["response"].get("patch").is_some(),
                fixture_name == "plain-pod"
            );
        }
        drop(sender);
        let _ = stop.send(());
        server.await.expect("server stopped");
    }
}
