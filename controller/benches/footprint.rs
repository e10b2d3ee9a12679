//! The controller's memory with many watched Deployments in its caches: a child process serves
//! N Deployments (each with two revisions and a pod) from the stateful fake API server; this
//! process runs the controller's caches and reconciler against it until every release has its
//! ReleaseCheck, then prints the time taken and its resident memory: once the caches have synced
//! (with the peak so far, that of the initial lists), and at the end with the peak (which covers
//! the reconciles too).
//! The caches list with streaming lists, as against Kubernetes 1.34+; with `--paged` the fake API
//! server refuses them, as an older one does, and the caches list in pages of 500 (`limit` and
//! `continue`) instead. The server reports at the end how many requests of each kind it served.
//!
//! `cargo bench -p ripcord-controller --bench footprint [-- --deployments N] [--paged]`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ripcord_controller::ops::leader::Leadership;
use ripcord_controller::ops::metrics::Metrics;
use ripcord_controller::reconcile::assign::AssignSettings;
use ripcord_controller::reconcile::cache::{Caches, Scope};
use ripcord_controller::reconcile::{self, Context};
use ripcord_fake_apiserver::{FakeApiServer, LoggedRequest};
use serde_json::{Value, json};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn has(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn deployments() -> usize {
    arg("--deployments")
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

/// Resident and peak resident memory of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn template(app: &str, version: &str) -> Value {
    json!({
        "metadata": {
            "labels": {"app": app, "ripcord.dev/enabled": "true"},
            "annotations": {
                "ripcord.dev/watch": "errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%",
                "ripcord.dev/on-regression": "rollback"
            }
        },
        "spec": {"containers": [{
            "name": "app",
            "image": format!("ghcr.io/example/{app}:{version}"),
            "ports": [{"containerPort": 8080, "name": "http"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}
        }]}
    })
}

fn objects(i: usize) -> Vec<Value> {
    let app = format!("app-{i:05}");
    let uid = format!("00000000-0000-4000-8000-{i:012}");
    let labels = json!({"app": app, "ripcord.dev/enabled": "true"});
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": "shop", "uid": uid, "generation": 2,
            "labels": labels, "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}}, "template": template(&app, "v2")},
        "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    });
    let replica_set = |revision: u32, hash: String, version: &str| {
        let mut tpl = template(&app, version);
        tpl["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
        json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": format!("{app}-{hash}"), "namespace": "shop",
                "uid": format!("{uid}-{revision}"),
                "labels": {"app": app, "ripcord.dev/enabled": "true", "pod-template-hash": hash},
                "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                    "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": revision - 1, "selector": {"matchLabels": {"app": app, "pod-template-hash": hash}},
                "template": tpl}
        })
    };
    let old = format!("a{i:09}");
    let new = format!("b{i:09}");
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("{app}-{new}-x"), "namespace": "shop",
            "labels": {"app": app, "ripcord.dev/enabled": "true", "pod-template-hash": new},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-{new}"), "uid": format!("{uid}-2"), "controller": true}]},
        "spec": {"containers": [{"name": "app", "image": format!("ghcr.io/example/{app}:v2")}]},
        "status": {"phase": "Running", "podIP": "10.1.0.1"}
    });
    vec![
        deployment,
        replica_set(1, old, "v1"),
        replica_set(2, new, "v2"),
        pod,
    ]
}

async fn serve(count: usize, paged: bool) {
    let server = FakeApiServer::start()
        .await
        .expect("fake API server starts");
    server.refuse_streaming_lists(paged);
    for i in 0..count {
        for object in objects(i) {
            server.insert(object).expect("object stored");
        }
    }
    println!("{}", server.url());
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)
    })
    .await;
    let requests = server.requests();
    let query = |r: &LoggedRequest| r.query.clone().unwrap_or_default();
    let count = |wanted: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .filter(|r| r.method == http::Method::GET && wanted(&query(r)))
            .count()
    };
    println!(
        "{} streaming watches, {} list pages ({} continued), {} other watches",
        count(&|q| q.contains("sendInitialEvents=true")),
        count(&|q| q.contains("limit=") && !q.contains("watch=true")),
        count(&|q| q.contains("continue=")),
        count(&|q| q.contains("watch=true") && !q.contains("sendInitialEvents=true")),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let count = deployments();
    let paged = has("--paged");
    if arg("--serve").is_some() {
        serve(count, paged).await;
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    let mut serve_args = vec!["--serve", "1", "--deployments"];
    let count_text = count.to_string();
    serve_args.push(&count_text);
    if paged {
        serve_args.push("--paged");
    }
    let mut child = Command::new(exe)
        .args(serve_args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server process starts");
    let mut server_out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut url = String::new();
    server_out.read_line(&mut url).expect("server URL");
    let (before, _) = rss_mib();
    let config = kube::Config::new(url.trim().parse().expect("a URL"));
    let client = kube::Client::try_from(config).expect("client");
    let started = Instant::now();
    let (caches, streams) = Caches::watch(&client, &Scope::Cluster);
    let context = Arc::new(Context {
        client,
        caches: caches.clone(),
        leadership: Leadership::always(),
        metrics: Arc::new(Metrics::new()),
        assign: AssignSettings::default(),
        snapshots: None,
        earlier: Default::default(),
        warned: Default::default(),
    });
    tokio::spawn(reconcile::run(
        context,
        streams,
        std::future::pending::<()>(),
    ));
    tokio::time::timeout(Duration::from_secs(120), caches.wait_until_ready())
        .await
        .unwrap_or_else(|_| panic!("caches did not sync: {:?}", caches.sizes()))
        .expect("caches sync");
    let synced = started.elapsed();
    let (rss_synced, peak_synced) = rss_mib();
    while caches.sizes().get("releasechecks").copied().unwrap_or(0) < count {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "reconcile too slow"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let reconciled = started.elapsed();
    let (rss, peak) = rss_mib();
    let initial_list = if paged {
        "paged lists (streaming refused)"
    } else {
        "streaming lists"
    };
    println!("controller caches and reconciler with {count} watched Deployments, {initial_list}:");
    println!("  cache sizes: {:?}", caches.sizes());
    println!(
        "  synced in {:.1} s; every release has its ReleaseCheck after {:.1} s",
        synced.as_secs_f64(),
        reconciled.as_secs_f64()
    );
    println!(
        "  RSS {rss:.1} MiB (peak {peak:.1} MiB; {rss_synced:.1} MiB once synced, peak \
         {peak_synced:.1} MiB until then; {before:.1} MiB before watching)   (goal: <= 100 MiB)"
    );
    drop(child.stdin.take());
    let mut served = String::new();
    let _ = server_out.read_line(&mut served);
    println!("  API server: {}", served.trim());
    let _ = child.wait();
}
