//! The HTTP side: reads each request (body capped), logs it, and answers it from the store —
//! discovery, TokenReview, get, list, watch, create, update, patch, delete — with `Status`
//! bodies for refusals, as the API server does.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use crate::discovery;
use crate::error::ApiError;
use crate::kinds;
use crate::log::LoggedRequest;
use crate::ownership;
use crate::page;
use crate::patch::{self, PatchKind};
use crate::path::{self, ResourcePath};
use crate::select::Selector;
use crate::store::{Change, ChangeType, ObjectKey, Origin, Preconditions, Store};
use crate::tokens::{self, TokenIdentity};

/// The response body: a whole JSON document or a watch stream.
pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Largest request body the server reads.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Longest a watch stays open when the client names no `timeoutSeconds`.
const DEFAULT_WATCH_SECONDS: u64 = 1800;

/// How often a watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(5);

/// A failure a test asked for: after `pass` more requests with this method and path are served,
/// the next one gets `status`.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) pass: usize,
    pub(crate) status: StatusCode,
}

/// What another client makes of the stored object (`None` when absent).
pub(crate) type Rewrite = Box<dyn FnOnce(Option<&Value>) -> Value + Send>;

/// A write by another client a test asked for: just before the next request with this method
/// and path is served, the object at `key` becomes what `change` makes of it.
pub(crate) struct Interference {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) key: ObjectKey,
    pub(crate) change: Rewrite,
}

impl std::fmt::Debug for Interference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interference")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Mutex<Store>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    pub(crate) tokens: Mutex<HashMap<String, TokenIdentity>>,
    pub(crate) failures: Mutex<Vec<Failure>>,
    pub(crate) interferences: Mutex<Vec<Interference>>,
    /// Whether a watch asking for `sendInitialEvents` is refused (no WatchList feature gate).
    pub(crate) refuse_streaming_lists: AtomicBool,
    pub(crate) address: SocketAddr,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Woken after every answered request (and seed), for tests waiting on state.
    pub(crate) answered: tokio::sync::Notify,
}

/// Locks `mutex`, carrying on after a panic elsewhere poisoned it (the data is plain state).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return refusal(&ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                format!("request body unreadable or over {MAX_BODY} bytes: {e}"),
            ));
        }
    };
    let request = LoggedRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    };
    lock(&shared.log).push(request.clone());
    interfere(&shared, &request);
    let response = match take_failure(&shared, &request) {
        Some(status) => refusal(&ApiError::new(
            status,
            "InternalError",
            "failure injected by the test",
        )),
        None => route(&shared, &request).unwrap_or_else(|e| refusal(&e)),
    };
    shared.answered.notify_waiters();
    response
}

/// Carries out the first interference waiting for this request, if any.
fn interfere(shared: &Shared, request: &LoggedRequest) {
    let interference = {
        let mut waiting = lock(&shared.interferences);
        let Some(index) = waiting
            .iter()
            .position(|i| i.method == request.method && i.path == request.path)
        else {
            return;
        };
        waiting.remove(index)
    };
    let mut store = lock(&shared.store);
    let next = (interference.change)(store.get(&interference.key));
    if let Err(e) = store.overwrite(&interference.key, next) {
        tracing::warn!("fake API server: interference not stored: {}", e.message);
    }
}

fn take_failure(shared: &Shared, request: &LoggedRequest) -> Option<StatusCode> {
    let mut failures = lock(&shared.failures);
    let index = failures
        .iter()
        .position(|f| f.method == request.method && f.path == request.path)?;
    if failures[index].pass > 0 {
        failures[index].pass -= 1;
        return None;
    }
    Some(failures.remove(index).status)
}

fn route(shared: &Arc<Shared>, request: &LoggedRequest) -> Result<Response<Body>, ApiError> {
    let query: HashMap<String, String> = request
        .query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if request.method == Method::GET {
        if let Some(answer) = discovery::answer(&request.path, &shared.address.to_string()) {
            return Ok(json_response(StatusCode::OK, &answer));
        }
        if ["/healthz", "/livez", "/readyz"].contains(&request.path.as_str()) {
            return Ok(full(
                StatusCode::OK,
                "text/plain",
                Bytes::from_static(b"ok"),
            ));
        }
    }
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let at = path::parse(&request.path).ok_or_else(not_found)?;
    if at.resource == "tokenreviews" {
        return match (&request.method, &at.name) {
            (&Method::POST, None) => token_review(shared, request),
            _ => Err(method_not_allowed(&request.method)),
        };
    }
    let key = |name: &String| {
        ObjectKey::new(
            &at.group_version,
            &at.resource,
            at.namespace.as_deref(),
            name,
        )
    };
    let subresource = at.subresource.as_deref();
    match (&request.method, &at.name) {
        (&Method::GET, None) if flag(&query, "watch") => watch(shared, &at, &query),
        (&Method::GET, None) => list(shared, &at, &query),
        (&Method::GET, Some(name)) => {
            let key = key(name);
            match subresource {
                None | Some("status") => lock(&shared.store)
                    .get(&key)
                    .map(|object| json_response(StatusCode::OK, object))
                    .ok_or_else(|| ApiError::not_found(&key.qualified_resource(), name)),
                Some(_) => Err(not_found()),
            }
        }
        (&Method::POST, None) => {
            let body = parse_json(&request.body)?;
            let mut store = lock(&shared.store);
            let created = store.create(
                &at.group_version,
                &at.resource,
                at.namespace.as_deref(),
                body,
                Origin::Client,
            )?;
            if let Some(name) = created.pointer("/metadata/name").and_then(Value::as_str) {
                let manager = manager(&query);
                store
                    .owners
                    .record(&key(&name.to_string()), None, &created, manager, None);
            }
            Ok(json_response(StatusCode::CREATED, &created))
        }
        (&Method::PUT, Some(name)) => {
            let body = parse_json(&request.body)?;
            let mut store = lock(&shared.store);
            let before = store.get(&key(name)).cloned();
            let updated = store.update(&key(name), body, subresource)?;
            store
                .owners
                .record(&key(name), before.as_ref(), &updated, manager(&query), None);
            Ok(json_response(StatusCode::OK, &updated))
        }
        (&Method::PATCH, Some(name)) => patch(shared, request, &query, &at, key(name)),
        (&Method::DELETE, Some(name)) if subresource.is_none() => {
            let preconditions = delete_preconditions(&request.body)?;
            let mut store = lock(&shared.store);
            let deleted = store.delete(&key(name), &preconditions)?;
            if store.get(&key(name)).is_none() {
                store.owners.forget(&key(name));
            }
            Ok(json_response(StatusCode::OK, &deleted))
        }
        (&Method::DELETE, None) => delete_collection(shared, &at, &query),
        (method, _) => Err(method_not_allowed(method)),
    }
}

/// The field manager a write names, or [`ownership::UNNAMED`].
fn manager(query: &HashMap<String, String>) -> &str {
    query
        .get("fieldManager")
        .map(String::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(ownership::UNNAMED)
}

fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("the server does not allow this method on the requested resource: {method}"),
    )
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v == "true" || v == "1")
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body of the request is not JSON: {e}")))
}

fn selectors(query: &HashMap<String, String>) -> Result<(Selector, Selector), ApiError> {
    let labels = Selector::parse(query.get("labelSelector").map_or("", String::as_str))?;
    let fields = Selector::parse(query.get("fieldSelector").map_or("", String::as_str))?;
    Ok((labels, fields))
}

fn selected(labels: &Selector, fields: &Selector, object: &Value) -> bool {
    labels.matches_labels(object) && fields.matches_fields(object)
}

/// The kind of objects in a collection: from the known table, else from a stored object.
fn kind_of(store: &Store, group_version: &str, resource: &str) -> String {
    kinds::by_resource(group_version, resource)
        .map(|info| info.kind.to_string())
        .or_else(|| {
            store
                .list(group_version, resource, None)
                .find_map(|(_, o)| o.get("kind").and_then(Value::as_str).map(str::to_string))
        })
        .unwrap_or_else(|| resource.to_string())
}

fn list(
    shared: &Shared,
    at: &ResourcePath,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(query)?;
    let (limit, resume) = page::params(query)?;
    let store = lock(&shared.store);
    let (gv, resource, ns) = (&*at.group_version, &*at.resource, at.namespace.as_deref());
    let selected = |(_, object): &(&ObjectKey, &Value)| selected(&labels, &fields, object);
    let count = labels.is_empty() && fields.is_empty();
    let page = match &resume {
        None => page::take(
            store.list(gv, resource, ns).filter(selected),
            limit,
            store.revision(),
            count,
        ),
        Some(from) => {
            let then = store
                .list_at(gv, resource, ns, from.revision)
                .ok_or_else(|| page::expired(from.revision))?;
            let after = then.into_iter().filter(|(key, _)| from.is_before(key));
            page::take(after.filter(selected), limit, from.revision, count)
        }
    };
    let revision = resume.map_or(store.revision(), |from| from.revision);
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if let Some(next) = &page.next {
        metadata["continue"] = next.encode().into();
    }
    if let Some(remaining) = page.remaining {
        metadata["remainingItemCount"] = remaining.into();
    }
    let kind = kind_of(&store, gv, resource);
    let body = json!({
        "kind": format!("{kind}List"),
        "apiVersion": at.group_version,
        "metadata": metadata,
        "items": page.items,
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn patch(
    shared: &Shared,
    request: &LoggedRequest,
    query: &HashMap<String, String>,
    at: &ResourcePath,
    key: ObjectKey,
) -> Result<Response<Body>, ApiError> {
    let kind = PatchKind::from_content_type(request.content_type.as_deref())?;
    if kind == PatchKind::Apply && query.get("fieldManager").is_none_or(String::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    let body = patch::parse_body(kind, &request.body)?;
    let manager = manager(query);
    let applied = (kind == PatchKind::Apply).then_some(&body);
    let mut store = lock(&shared.store);
    let Some(current) = store.get(&key).cloned() else {
        if kind == PatchKind::Apply && at.subresource.is_none() {
            let created = store.create(
                &at.group_version,
                &at.resource,
                at.namespace.as_deref(),
                body.clone(),
                Origin::Client,
            )?;
            store.owners.record(&key, None, &created, manager, applied);
            return Ok(json_response(StatusCode::CREATED, &created));
        }
        return Err(ApiError::not_found(&key.qualified_resource(), &key.name));
    };
    if kind == PatchKind::Apply && !flag(query, "force") {
        store.owners.check_apply(&key, &current, &body, manager)?;
    }
    let patched = patch::apply(kind, &current, &body)?;
    let updated = store.update(&key, patched, at.subresource.as_deref())?;
    store
        .owners
        .record(&key, Some(&current), &updated, manager, applied);
    Ok(json_response(StatusCode::OK, &updated))
}

fn delete_preconditions(body: &[u8]) -> Result<Preconditions, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Preconditions::default());
    }
    let options = parse_json(body)?;
    let field = |name: &str| {
        options
            .get("preconditions")
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Ok(Preconditions {
        resource_version: field("resourceVersion"),
        uid: field("uid"),
    })
}

fn delete_collection(
    shared: &Shared,
    at: &ResourcePath,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(query)?;
    let mut store = lock(&shared.store);
    let keys: Vec<ObjectKey> = store
        .list(&at.group_version, &at.resource, at.namespace.as_deref())
        .filter(|(_, object)| selected(&labels, &fields, object))
        .map(|(key, _)| key.clone())
        .collect();
    let mut items = Vec::new();
    for key in keys {
        items.push(store.delete(&key, &Preconditions::default())?);
    }
    let kind = kind_of(&store, &at.group_version, &at.resource);
    let body = json!({
        "kind": format!("{kind}List"),
        "apiVersion": at.group_version,
        "metadata": {"resourceVersion": store.revision().to_string()},
        "items": items,
    });
    Ok(json_response(StatusCode::OK, &body))
}

fn token_review(shared: &Shared, request: &LoggedRequest) -> Result<Response<Body>, ApiError> {
    let body = parse_json(&request.body)?;
    let (token, audiences) = tokens::parse_review(&body)?;
    let identity = lock(&shared.tokens).get(&token).cloned();
    let pod_uid = identity.as_ref().and_then(|identity| {
        identity.pod_uid.clone().or_else(|| {
            let pod = identity.pod.as_deref()?;
            let key = ObjectKey::new("v1", "pods", Some(&identity.namespace), pod);
            let store = lock(&shared.store);
            let uid = store
                .get(&key)
                .and_then(|p| p.pointer("/metadata/uid"))
                .and_then(Value::as_str);
            Some(uid.map_or_else(|| format!("unknown-pod-{pod}"), str::to_string))
        })
    });
    let answer = tokens::answer(&body, identity.as_ref(), &audiences, pod_uid);
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// One line of a watch stream.
fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(kind: &str, group_version: &str, revision: u64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": kind, "apiVersion": group_version, "metadata": metadata}),
    )
}

fn expired(revision: u64) -> Bytes {
    let status = ApiError::new(
        StatusCode::GONE,
        "Expired",
        format!("too old resource version: {revision}"),
    );
    event_line("ERROR", &status.status_body())
}

/// What a watch looks at.
struct WatchFilter {
    group_version: String,
    resource: String,
    namespace: Option<String>,
    labels: Selector,
    fields: Selector,
}

impl WatchFilter {
    /// The event type this watch sees `change` as, if any: a modification that moves an
    /// object into the selection is ADDED, out of it DELETED, as the API server does.
    fn event_type(&self, change: &Change) -> Option<&'static str> {
        if !change.key.in_collection(
            &self.group_version,
            &self.resource,
            self.namespace.as_deref(),
        ) {
            return None;
        }
        let now = selected(&self.labels, &self.fields, &change.object);
        if change.kind != ChangeType::Modified {
            return now.then(|| change.kind.as_str());
        }
        let before = change
            .previous
            .as_ref()
            .is_some_and(|previous| selected(&self.labels, &self.fields, previous));
        match (before, now) {
            (true, true) => Some(ChangeType::Modified.as_str()),
            (false, true) => Some(ChangeType::Added.as_str()),
            (true, false) => Some(ChangeType::Deleted.as_str()),
            (false, false) => None,
        }
    }

    fn line(&self, change: &Change) -> Option<Bytes> {
        self.event_type(change)
            .map(|kind| event_line(kind, &change.object))
    }
}

fn watch(
    shared: &Arc<Shared>,
    at: &ResourcePath,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let (labels, fields) = selectors(query)?;
    let filter = WatchFilter {
        group_version: at.group_version.clone(),
        resource: at.resource.clone(),
        namespace: at.namespace.clone(),
        labels,
        fields,
    };
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(text) => Some(text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion {text:?} is not a number"))
        })?),
    };
    let initial = flag(query, "sendInitialEvents");
    if initial && shared.refuse_streaming_lists.load(Ordering::Relaxed) {
        return Err(ApiError::invalid(
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: \
             sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        ));
    }
    let bookmarks = flag(query, "allowWatchBookmarks");
    let seconds = query
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(DEFAULT_WATCH_SECONDS);
    let mut first = Vec::new();
    let (receiver, start, kind) = {
        let store = lock(&shared.store);
        let kind = kind_of(&store, &at.group_version, &at.resource);
        let start = store.revision();
        match from {
            Some(revision) if !initial => match store.changes_since(revision) {
                Some(changes) => first.extend(changes.iter().filter_map(|c| filter.line(c))),
                None => first.push(expired(revision)),
            },
            _ => {
                first.extend(
                    store
                        .list(
                            &filter.group_version,
                            &filter.resource,
                            filter.namespace.as_deref(),
                        )
                        .filter(|(_, object)| selected(&filter.labels, &filter.fields, object))
                        .map(|(_, object)| event_line("ADDED", object)),
                );
                if initial && bookmarks {
                    first.push(bookmark(&kind, &at.group_version, start, true));
                }
            }
        }
        (store.subscribe(), start, kind)
    };
    let (sender, lines) = mpsc::channel::<Bytes>(256);
    let stream = WatchStream {
        sender,
        receiver,
        filter,
        last: start,
        kind,
        bookmarks,
        shutdown: shared.shutdown.clone(),
    };
    tokio::spawn(stream.run(first, Duration::from_secs(seconds)));
    let body = StreamBody::new(futures::stream::unfold(lines, |mut lines| async move {
        lines
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(Frame::data(line)), lines))
    }));
    let mut response = Response::new(body.boxed_unsync());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// One open watch: forwards admitted changes as lines until the client leaves, the timeout
/// passes, or the server stops.
struct WatchStream {
    sender: mpsc::Sender<Bytes>,
    receiver: broadcast::Receiver<Arc<Change>>,
    filter: WatchFilter,
    last: u64,
    kind: String,
    bookmarks: bool,
    shutdown: watch::Receiver<bool>,
}

impl WatchStream {
    async fn run(mut self, first: Vec<Bytes>, timeout: Duration) {
        for line in first {
            if self.sender.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticks = tokio::time::interval(BOOKMARK_EVERY);
        ticks.tick().await;
        loop {
            let line = tokio::select! {
                () = &mut deadline => return,
                _ = self.shutdown.changed() => return,
                _ = ticks.tick(), if self.bookmarks => {
                    bookmark(&self.kind, &self.filter.group_version, self.last, false)
                }
                received = self.receiver.recv() => match received {
                    Ok(change) if change.revision <= self.last => continue,
                    Ok(change) => {
                        self.last = change.revision;
                        match self.filter.line(&change) {
                            Some(line) => line,
                            None => continue,
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // The client must start over; a later change must not follow.
                        let _ = self.sender.send(expired(self.last)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if self.sender.send(line).await.is_err() {
                return;
            }
        }
    }
}

fn full(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    full(
        status,
        "application/json",
        Bytes::from(serde_json::to_vec(body).unwrap_or_default()),
    )
}

fn refusal(error: &ApiError) -> Response<Body> {
    json_response(error.code, &error.status_body())
}
