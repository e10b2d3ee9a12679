//! The HTTPS port's routes: the admission webhook at `/mutate`, the sidecars' intake under
//! `/v1/`. One `tower::Service`, served by [`crate::ops::server::serve`] over TLS.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::inject::Mutate;

/// Routes requests to the webhook or the intake; cheap to clone.
#[derive(Debug, Clone)]
pub struct Router<I> {
    mutate: Mutate,
    intake: I,
}

impl<I> Router<I> {
    /// Routes `/mutate` to `mutate` and `/v1/...` to `intake`.
    pub fn new(mutate: Mutate, intake: I) -> Self {
        Router { mutate, intake }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<I> tower::Service<Request<Incoming>> for Router<I>
where
    I: tower::Service<Request<Incoming>, Response = Response<Full<Bytes>>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    I::Future: Send + 'static,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let path = request.uri().path();
        if path == "/mutate" {
            let mut mutate = self.mutate.clone();
            return Box::pin(async move { tower::Service::call(&mut mutate, request).await });
        }
        if path.starts_with("/v1/") {
            let mut intake = self.intake.clone();
            return Box::pin(async move { tower::Service::call(&mut intake, request).await });
        }
        Box::pin(async move {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"this port serves /mutate and /v1/ only\n",
            )));
            *response.status_mut() = StatusCode::NOT_FOUND;
            Ok(response)
        })
    }
}
