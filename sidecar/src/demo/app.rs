//! `ripcord-sidecar demo-app`: one version of the demo's built-in service as a standalone
//! process, for the cluster e2e suite and for trying Ripcord on kind. It serves `/metrics` and
//! `/checkout` on the given address and drives its own checkouts at a steady rate, so a pod
//! shows traffic without a load generator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::service::{self, HEALTHY, REGRESSED, Service};

/// Which version of the demo service to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Version {
    /// v1, healthy.
    Healthy,
    /// v2, regressed in errors, latency and conversion.
    Regressed,
}

/// Settings of `ripcord-sidecar demo-app`.
#[derive(Debug, Clone, clap::Args)]
pub struct AppArgs {
    /// Which version to serve.
    #[arg(long, env = "DEMO_VERSION", value_enum, default_value = "healthy")]
    pub version: Version,
    /// Address to serve `/metrics` and `/checkout` on.
    #[arg(long, env = "DEMO_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Checkouts per second the app drives through itself.
    #[arg(long, env = "DEMO_RATE", default_value_t = 50)]
    pub rate: u32,
    /// Seed of the service's random draws.
    #[arg(long, env = "DEMO_SEED", default_value_t = 1)]
    pub seed: u64,
}

/// Runs the app on its own runtime until the process is stopped.
pub fn run_blocking(args: &AppArgs) -> std::io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

/// Runs the app until SIGTERM or Ctrl-C.
pub async fn run(args: &AppArgs) -> std::io::Result<()> {
    let behaviour = match args.version {
        Version::Healthy => HEALTHY,
        Version::Regressed => REGRESSED,
    };
    let service = Arc::new(
        Service::new(behaviour, args.seed)
            .map_err(|err| std::io::Error::other(format!("demo service: {err}")))?,
    );
    let mut stop = crate::shutdown::signal();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    tokio::spawn(service::serve(listener, Arc::clone(&service)));
    let period = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                service.checkout();
            }
            () = &mut stop => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_app_serves_metrics_that_grow_with_its_own_traffic() {
        let args = AppArgs {
            version: Version::Regressed,
            listen: "127.0.0.1:0".parse().expect("address"),
            rate: 200,
            seed: 3,
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        drop(listener);
        let args = AppArgs {
            listen: addr,
            ..args
        };
        let app = tokio::spawn(async move { run(&args).await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let body = get_metrics(addr).await;
        let started: f64 = body
            .lines()
            .find_map(|l| l.strip_prefix("checkout_started_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the checkout counter is exported");
        assert!(
            started >= 20.0,
            "only {started} checkouts after 0.5 s at 200/s"
        );
        app.abort();
    }

    async fn get_metrics(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: app\r\n\r\n")
            .await
            .expect("request sent");
        let mut body = String::new();
        stream
            .read_to_string(&mut body)
            .await
            .expect("response read");
        body
    }
}
