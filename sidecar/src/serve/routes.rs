//! One function per route; [`route`] dispatches on the path, then the method.

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};

use super::query::WindowQuery;
use super::response::{json, method_not_allowed, text, with_type};
use super::wire::WindowJson;
use super::{Body, BoxError, MAX_BODY_BYTES, MAX_WINDOW_OBSERVATIONS, PeerAddr, Readiness, State};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Answers one request.
pub(super) async fn route<B>(state: &State, request: Request<B>) -> Response<Body>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let get_only = |answer: fn(&State, &Parts) -> Response<Body>| {
        if parts.method == Method::GET {
            answer(state, &parts)
        } else {
            method_not_allowed("GET")
        }
    };
    match parts.uri.path() {
        "/live" => get_only(|_, _| text(StatusCode::OK, "live")),
        "/ready" => get_only(ready),
        "/metrics" => get_only(metrics),
        "/v1/window" => get_only(window),
        "/v1/verdict" => get_only(verdict),
        "/admin/log-level" => log_level(state, &parts, body).await,
        path => text(StatusCode::NOT_FOUND, format!("no route {path}")),
    }
}

fn ready(state: &State, _: &Parts) -> Response<Body> {
    match state.readiness() {
        Readiness::Ready => text(StatusCode::OK, "ready"),
        Readiness::NotReady(reason) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}"),
        ),
    }
}

fn metrics(state: &State, _: &Parts) -> Response<Body> {
    match state.metrics().encode() {
        Ok(body) => with_type(StatusCode::OK, OPENMETRICS, Bytes::from(body)),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {e}"),
        ),
    }
}

fn window(state: &State, parts: &Parts) -> Response<Body> {
    let query = match WindowQuery::parse(parts.uri.query()) {
        Ok(query) => query,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (observations, truncated) =
        state.observations(query.from_ms, query.to_ms, MAX_WINDOW_OBSERVATIONS);
    json(
        StatusCode::OK,
        &WindowJson::new(query.from_ms, query.to_ms, truncated, &observations)
            .with_metrics(state.definitions()),
    )
}

fn verdict(state: &State, _: &Parts) -> Response<Body> {
    match state.verdict() {
        Some(verdict) => json(StatusCode::OK, &verdict),
        None => text(StatusCode::SERVICE_UNAVAILABLE, "no verdict yet"),
    }
}

async fn log_level<B>(state: &State, parts: &Parts, body: B) -> Response<Body>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let peer = parts.extensions.get::<PeerAddr>();
    if !peer.is_some_and(PeerAddr::is_loopback) {
        return text(
            StatusCode::FORBIDDEN,
            "admin routes answer only on loopback",
        );
    }
    match parts.method {
        Method::GET => text(StatusCode::OK, state.log_level().current()),
        Method::PUT => {
            let directive = match read_text(parts, body).await {
                Ok(directive) => directive,
                Err(refusal) => return refusal,
            };
            match state.log_level().set(directive.trim()) {
                Ok(()) => text(StatusCode::OK, state.log_level().current()),
                Err(e) => text(
                    StatusCode::BAD_REQUEST,
                    format!("invalid log filter {:?}: {e}", directive.trim()),
                ),
            }
        }
        _ => method_not_allowed("GET, PUT"),
    }
}

/// Reads a small UTF-8 body, refusing one over [`MAX_BODY_BYTES`] with 413.
async fn read_text<B>(parts: &Parts, body: B) -> Result<String, Response<Body>>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => {
            return Err(text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            ));
        }
    };
    String::from_utf8(bytes.to_vec())
        .map_err(|_| text(StatusCode::BAD_REQUEST, "request body is not UTF-8"))
}
