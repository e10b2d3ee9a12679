//! `ripcord-controller`: parses the command line and runs the controller library.

use clap::{Parser, Subcommand};
use ripcord_controller::run::{RunArgs, run};

/// Ripcord's Kubernetes controller: detects releases of watched Deployments, injects the
/// sidecar, takes in verdicts, and turns flags off or rolls back on a regression.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller in a cluster (in-cluster service account or KUBECONFIG).
    Run(Box<RunArgs>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match Cli::parse().command {
        Command::Run(args) => run(*args).await?,
    }
    Ok(())
}
