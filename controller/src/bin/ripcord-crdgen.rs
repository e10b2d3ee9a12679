//! `ripcord-crdgen`: writes the `ReleaseCheck` CRD generated from the Rust types to the files it
//! is committed to, or with `--check` fails when they have drifted.

use std::path::PathBuf;

use clap::Parser;

/// Generate the ReleaseCheck CRD YAML into manifests/crds and charts/ripcord/crds.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Repository root the CRD paths are relative to.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/.."))]
    root: PathBuf,
    /// Do not write; exit non-zero when a committed file differs from the generated YAML.
    #[arg(long)]
    check: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stale = ripcord_controller::crd::write_crds(&args.root, !args.check)?;
    for path in &stale {
        let verb = if args.check { "differs" } else { "written" };
        println!("{}: {verb}", path.display());
    }
    if args.check && !stale.is_empty() {
        anyhow::bail!(
            "the committed CRD differs from the types; run without --check to regenerate"
        );
    }
    Ok(())
}
