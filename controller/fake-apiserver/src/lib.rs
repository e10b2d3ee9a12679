//! A stateful fake Kubernetes API server over plain HTTP on `127.0.0.1`, for tests that drive a
//! real `kube::Client` (and kube-runtime watchers) against it.
//!
//! It stores objects as JSON by group/version, resource, namespace and name, hands out
//! resourceVersions from one counter, and follows the API server's rules where Ripcord's
//! controller depends on them: `409 Conflict` for a stale `resourceVersion` on update, on a merge
//! patch that names one, and on delete preconditions; `422` for a JSON patch whose `test` fails;
//! the `status` subresource; finalizers; watches (from a resourceVersion, with bookmarks and
//! `sendInitialEvents`, which can be refused as before Kubernetes 1.34); paged lists (`limit`
//! and `continue`, later pages consistent with the first); TokenReview from a configured token map; discovery enough for kube.
//! Every request is logged for tests to assert on, and one-off failures can be injected.
//!
//! Simplifications: a strategic merge patch is applied as a merge patch (lists are replaced, not
//! merged by key); server-side apply merges onto the live object, and field ownership is tracked
//! only as far as a non-forced apply's `409 Conflict` needs (see `ownership`); no admission,
//! defaulting, validation or authorization.
//!
//! ```no_run
//! # async fn demo() -> ripcord_fake_apiserver::Result<()> {
//! use ripcord_fake_apiserver::FakeApiServer;
//! let server = FakeApiServer::start().await?;
//! server.seed_yaml("apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop}\n")?;
//! let client = server.client()?;
//! # let _ = client; Ok(()) }
//! ```

mod discovery;
mod error;
mod kinds;
mod log;
mod ownership;
mod page;
mod patch;
mod path;
mod seed;
mod select;
mod server;
mod store;
mod tokens;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use error::{Error, Result};
pub use log::LoggedRequest;
pub use store::ObjectKey;
pub use tokens::TokenIdentity;

use server::{Failure, Interference, Shared, lock};
use store::{Origin, Store};

/// A running fake API server; it stops (and closes open watches) when dropped.
#[derive(Debug)]
pub struct FakeApiServer {
    shared: Arc<Shared>,
    url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Pause after a failed accept before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

impl FakeApiServer {
    /// Starts a server on `127.0.0.1` at a free port, with an empty store.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Bind)?;
        let address = listener.local_addr().map_err(Error::Bind)?;
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new()),
            log: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(Vec::new()),
            interferences: Mutex::new(Vec::new()),
            refuse_streaming_lists: AtomicBool::new(false),
            address,
            shutdown,
            answered: tokio::sync::Notify::new(),
        });
        let task = tokio::spawn(accept(listener, Arc::clone(&shared)));
        Ok(FakeApiServer {
            shared,
            url: format!("http://{address}"),
            stop,
            task,
        })
    }

    /// The server's base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A `kube::Client` talking to this server (default namespace `default`).
    pub fn client(&self) -> Result<kube::Client> {
        let uri: http::Uri = self.url.parse().map_err(|source| Error::Url {
            url: self.url.clone(),
            source,
        })?;
        kube::Client::try_from(kube::Config::new(uri)).map_err(|source| Error::Client {
            url: self.url.clone(),
            source,
        })
    }

    /// Stores every object of a YAML text (one or more documents, `List`s unpacked) as if
    /// created, keeping their uids, creation times and status; returns their keys.
    pub fn seed_yaml(&self, text: &str) -> Result<Vec<ObjectKey>> {
        seed::documents(text)?
            .into_iter()
            .map(|object| self.insert(object))
            .collect()
    }

    /// Stores the objects of a YAML file, as [`FakeApiServer::seed_yaml`].
    pub fn seed_file(&self, path: impl AsRef<Path>) -> Result<Vec<ObjectKey>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.seed_yaml(&text)
    }

    /// Stores the objects of every `*.yaml` and `*.yml` file in `directory` (not recursive), in
    /// file-name order, as [`FakeApiServer::seed_yaml`].
    pub fn seed_dir(&self, directory: impl AsRef<Path>) -> Result<Vec<ObjectKey>> {
        let directory = directory.as_ref();
        let read_error = |source| Error::Read {
            path: directory.display().to_string(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(directory).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
            {
                files.push(path);
            }
        }
        files.sort();
        let mut keys = Vec::new();
        for file in files {
            keys.extend(self.seed_file(file)?);
        }
        Ok(keys)
    }

    /// Stores one object (with `apiVersion`, `kind` and `metadata.name`) as if created.
    pub fn insert(&self, object: Value) -> Result<ObjectKey> {
        let key = seed::key_of(&object)?;
        lock(&self.shared.store)
            .create(
                &key.group_version,
                &key.resource,
                key.namespace.as_deref(),
                object,
                Origin::Seed,
            )
            .map_err(|e| Error::Seed(e.message))?;
        self.shared.answered.notify_waiters();
        Ok(key)
    }

    /// Waits until `check` finds what it looks for (re-checked after every request the server
    /// answers), at most `timeout`; `None` when it never did.
    ///
    /// ```no_run
    /// # async fn demo(server: &ripcord_fake_apiserver::FakeApiServer) {
    /// let patch = server
    ///     .wait_until(std::time::Duration::from_secs(5), |s| {
    ///         s.writes().into_iter().find(|r| r.method == http::Method::PATCH)
    ///     })
    ///     .await;
    /// # let _ = patch; }
    /// ```
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> Option<T>,
    ) -> Option<T> {
        let waiting = async {
            loop {
                let answered = self.shared.answered.notified();
                tokio::pin!(answered);
                answered.as_mut().enable();
                if let Some(found) = check(self) {
                    return found;
                }
                answered.await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.ok()
    }

    /// The stored object at `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Value> {
        lock(&self.shared.store).get(key).cloned()
    }

    /// The stored object `name` of `resource` in `group_version` (`v1`, `apps/v1`, ...), in
    /// `namespace` (`None` for a cluster-scoped object).
    pub fn object(
        &self,
        group_version: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        self.get(&ObjectKey::new(group_version, resource, namespace, name))
    }

    /// The stored objects of `resource` in `group_version`, in `namespace` or in all.
    pub fn list(&self, group_version: &str, resource: &str, namespace: Option<&str>) -> Vec<Value> {
        lock(&self.shared.store)
            .list(group_version, resource, namespace)
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// The latest resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        lock(&self.shared.store).revision()
    }

    /// With `refuse` set, answers every watch asking for `sendInitialEvents` (a streaming list)
    /// with `422 Invalid`, as an API server without the WatchList feature gate does (before
    /// Kubernetes 1.34), so clients list in pages (`limit` and `continue`) instead.
    pub fn refuse_streaming_lists(&self, refuse: bool) {
        self.shared
            .refuse_streaming_lists
            .store(refuse, Ordering::Relaxed);
    }

    /// Forgets the history of changes, as etcd's compaction does: a watch from an earlier
    /// resourceVersion, or a `continue` token of a list taken before, gets `410 Gone` (Expired).
    pub fn compact(&self) {
        lock(&self.shared.store).compact();
    }

    /// Makes TokenReviews of `token` authenticate as `identity`.
    pub fn add_token(&self, token: &str, identity: TokenIdentity) {
        lock(&self.shared.tokens).insert(token.to_string(), identity);
    }

    /// Every request answered so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The requests so far that asked to change state (see [`LoggedRequest::is_write`]).
    pub fn writes(&self) -> Vec<LoggedRequest> {
        self.requests()
            .into_iter()
            .filter(LoggedRequest::is_write)
            .collect()
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Answers the next `method` request to exactly `path` (no query) with `status` and a
    /// `Status` body, changing nothing; later requests are served normally.
    pub fn fail_next(&self, method: Method, path: &str, status: StatusCode) {
        self.fail_after(method, path, 0, status);
    }

    /// Lets `pass` more `method` requests to exactly `path` through, then answers the next one
    /// as [`FakeApiServer::fail_next`] does (the second write of a flow, say).
    pub fn fail_after(&self, method: Method, path: &str, pass: usize, status: StatusCode) {
        lock(&self.shared.failures).push(Failure {
            method,
            path: path.to_string(),
            pass,
            status,
        });
    }
}

impl FakeApiServer {
    /// Writes the object at `key` as another client would (a human, a GitOps tool, another
    /// replica): `change` gets the stored object (`None` when absent) and returns the new one,
    /// which is stored without preconditions (status included); an existing object keeps its
    /// identity and gets a new resourceVersion, and the fields changed belong to field manager
    /// `another-writer` (a later non-forced apply of them by another manager conflicts).
    /// Returns what was stored.
    pub fn write_as_other(
        &self,
        key: &ObjectKey,
        change: impl FnOnce(Option<&Value>) -> Value,
    ) -> Result<Value> {
        let mut store = lock(&self.shared.store);
        let next = change(store.get(key));
        let stored = store
            .overwrite(key, next)
            .map_err(|e| Error::Write(e.message))?;
        drop(store);
        self.shared.answered.notify_waiters();
        Ok(stored)
    }

    /// Just before the next `method` request to exactly `path` (no query) is served, writes the
    /// object at `key` as [`FakeApiServer::write_as_other`] does: another client's write landing
    /// between a client's read and its own write, so a precondition taken from that read fails
    /// for real. Later requests are not affected.
    pub fn write_as_other_before_next(
        &self,
        method: Method,
        path: &str,
        key: ObjectKey,
        change: impl FnOnce(Option<&Value>) -> Value + Send + 'static,
    ) {
        lock(&self.shared.interferences).push(Interference {
            method,
            path: path.to_string(),
            key,
            change: Box::new(change),
        });
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        // Watches and connections end when they see the flag (or the sender gone).
        let _ = self.stop.send(true);
        self.task.abort();
    }
}

/// Accepts connections until the server is dropped.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    tracing::debug!("fake API server: accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Serves one HTTP/1 connection.
async fn connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let service = hyper::service::service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(server::handle(shared, request).await) }
    });
    let serving =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = serving => if let Err(e) = result {
            tracing::debug!("fake API server: connection ended: {e}");
        },
        _ = shutdown.changed() => {}
    }
}
