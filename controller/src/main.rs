//! `ripcord-controller`: not yet implemented beyond its library's verdict decoding.

use clap::Parser;

/// Ripcord's Kubernetes controller (release detection and actions are not implemented yet).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {}

fn main() -> anyhow::Result<()> {
    let _args = Args::parse();
    anyhow::bail!("ripcord-controller: the controller is not implemented yet (see issue 4)")
}
