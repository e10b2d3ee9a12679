//! `kubectl-ripcord`: the kubectl plugin; not yet implemented.

use clap::Parser;

/// kubectl plugin for Ripcord (`why`, `release`); not implemented yet.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {}

fn main() -> anyhow::Result<()> {
    let _args = Args::parse();
    anyhow::bail!("kubectl-ripcord: not implemented yet (see issue 4)")
}
