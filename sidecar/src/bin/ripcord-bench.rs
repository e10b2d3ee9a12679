//! `ripcord-bench`: the detection benchmark. Simulates releases at 50+50 and 5+5 requests per second,
//! runs Ripcord's judge and the reference policies on the same streams, and prints one table with
//! false-alarm rates, detection times, Wald's bound and a check line per bar of issue 2, then what
//! the oracle SPRT (Wald's test knowing the true effect, a non-deployable reference) achieves on
//! errors 1%→5% at 50+50.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use ripcord_sidecar::sim::bench::{self, BenchConfig};
use ripcord_sidecar::sim::checks;
use ripcord_sidecar::sim::policy::PolicyKind;
use ripcord_sidecar::sim::table::Report;

/// Detection benchmark of Ripcord's judge against Flagger, Argo Rollouts, Kayenta and a naive z-test.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Releases per regression scenario and traffic level.
    #[arg(long, default_value_t = 200)]
    releases: usize,
    /// A/A releases (1 h each) per traffic level.
    #[arg(long, default_value_t = 2000)]
    aa_releases: usize,
    /// Seed of the whole run.
    #[arg(long, default_value_t = 20_260_101)]
    seed: u64,
    /// CI size: 40 releases per scenario, 200 A/A releases per traffic level.
    #[arg(long)]
    quick: bool,
    /// Leave Ripcord's judge out (references and Wald's bound only).
    #[arg(long)]
    without_ripcord: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (releases, aa_releases) = if args.quick {
        (40, 200)
    } else {
        (args.releases, args.aa_releases)
    };
    let policies = PolicyKind::ALL
        .into_iter()
        .filter(|&p| !(args.without_ripcord && p == PolicyKind::Ripcord))
        .collect();
    let config = BenchConfig {
        releases,
        aa_releases,
        seed: args.seed,
        horizon_s: 3600,
        policies,
    };
    let started = Instant::now();
    let results = match bench::run(&config) {
        Ok(results) => results,
        Err(e) => {
            eprintln!("ripcord-bench: {e}");
            return ExitCode::from(64);
        }
    };
    let report = Report::new(&results);
    println!(
        "ripcord-bench: {releases} releases per scenario, {aa_releases} A/A releases per traffic level, horizon 1h, seed {}, {:.0}s on {} threads",
        config.seed,
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    print!("{}", report.table());
    for line in report.early_lines() {
        println!("{line}");
    }
    for line in checks::all(&report) {
        println!("{line}");
    }
    if let Some(line) = checks::oracle_line(&report) {
        println!("{line}");
    }
    ExitCode::SUCCESS
}
