//! A real Prometheus server for tests: started as a child process scraping one target every
//! second, with its own config and storage, killed and cleaned up on drop. Skipped, with a
//! message, when no binary is installed (`apt-get install -y prometheus`; `RIPCORD_PROMETHEUS`
//! overrides the path); `RIPCORD_REQUIRE_PROMETHEUS=1` makes a missing binary fail instead.

use ripcord_sidecar::baseline::{ApiClient, response};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The current time in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local address").port()
}

/// A Prometheus child process with its own config and storage; killed and cleaned up on drop.
pub(crate) struct PrometheusServer {
    child: Child,
    dir: PathBuf,
    pub(crate) url: String,
}

impl PrometheusServer {
    pub(crate) fn start(binary: &Path, target: SocketAddr) -> PrometheusServer {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("ripcord-prometheus-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(dir.join("data")).expect("a temp dir");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n\
             scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: [\"{target}\"]\n"
        );
        std::fs::write(dir.join("prometheus.yml"), config).expect("write the config");
        let log = std::fs::File::create(dir.join("prometheus.log")).expect("a log file");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        PrometheusServer {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// Waits (at most 30 s) until the instant query `query` gives at least `at_least` (for
    /// example a `count_over_time` of the samples scraped so far).
    pub(crate) async fn wait_for(&mut self, query: &str, at_least: f64) {
        let client = ApiClient::new(&self.url, Duration::from_secs(1), 1 << 20).expect("a URL");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited with {status}:\n{}", self.log());
            }
            let samples = match client.query(query, now_ms()).await {
                Ok(answer) => response::parse_vector(query, answer.status, &answer.body)
                    .ok()
                    .and_then(|v| v.first().map(|e| e.value)),
                Err(_) => None,
            };
            if samples.is_some_and(|n| n >= at_least) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus at {} has {samples:?} samples after 30 s:\n{}",
                self.url,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        // Already exited is fine: there is nothing left to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Prometheus binary to run, or `None` (with a message) when it is not installed.
pub(crate) fn prometheus_binary() -> Option<PathBuf> {
    let path = std::env::var_os("RIPCORD_PROMETHEUS")
        .map_or_else(|| PathBuf::from("/usr/bin/prometheus"), PathBuf::from);
    if path.is_file() {
        Some(path)
    } else {
        assert!(
            std::env::var_os("RIPCORD_REQUIRE_PROMETHEUS").is_none(),
            "RIPCORD_REQUIRE_PROMETHEUS is set but there is no Prometheus at {}",
            path.display()
        );
        eprintln!(
            "SKIPPED: no Prometheus at {} (install it with `apt-get install -y prometheus`, \
             or set RIPCORD_PROMETHEUS)",
            path.display()
        );
        None
    }
}
