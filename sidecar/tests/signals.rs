//! The long-running commands stop on SIGTERM, which is how the kubelet stops a container. As a
//! container's process 1 a process that does not handle it is never stopped by it, so every pod
//! would wait out its whole grace period (30 s by default) on each rollout and rollback.

#![cfg(unix)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a stopped command may take to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn sidecar(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ripcord-sidecar"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ripcord-sidecar starts")
}

/// Waits until something accepts connections on `port`, so the command is past its start.
fn wait_listening(port: u16, child: &mut Child) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            child.try_wait().expect("status").is_none(),
            "exited before listening"
        );
        assert!(started.elapsed() < EXIT_WITHIN, "never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGTERM, asserts a clean exit within [`EXIT_WITHIN`] and returns what it logged.
fn terminate_and_expect_exit(mut child: Child, what: &str) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM");
    let sent = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("status") {
            println!("{what}: exited {:.0?} after SIGTERM", sent.elapsed());
            let mut logged = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                std::io::Read::read_to_string(&mut stderr, &mut logged).expect("stderr read");
            }
            assert!(status.success(), "{what} exited with {status}: {logged}");
            return logged;
        }
        if sent.elapsed() > EXIT_WITHIN {
            let _ = child.kill();
            panic!("{what} still running {EXIT_WITHIN:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_demo_app_stops_on_sigterm() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut app = sidecar(&["demo-app", "--version", "healthy", "--listen", &listen]);
    wait_listening(port, &mut app);
    terminate_and_expect_exit(app, "demo-app");
}

#[test]
fn the_sidecar_run_stops_on_sigterm() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut run = sidecar(&[
        "run",
        "--listen",
        &listen,
        "--target",
        "http://127.0.0.1:9/metrics",
        "--watch",
        "errors: http_requests_total{code=~\"5..\"} / http_requests_total max +50%",
        "--annotations-file",
        "/nonexistent/annotations",
        "--controller-url",
        "http://127.0.0.1:9",
        "--pod-name",
        "checkout-abc",
        "--pod-namespace",
        "shop",
    ]);
    wait_listening(port, &mut run);
    let logged = terminate_and_expect_exit(run, "ripcord-sidecar run");
    let lines: Vec<serde_json::Value> = logged
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "stopping on signal"),
        "one JSON object per line, the last saying why it stopped: {logged}"
    );
}
