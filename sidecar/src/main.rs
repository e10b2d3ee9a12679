//! `ripcord-sidecar`: the sidecar binary. Parses arguments and calls the library.
//!
//! Exit codes follow `sysexits`: 0 pass, 1 regression, 2 inconclusive, 64 bad input (usage errors
//! included), 74 when the output cannot be written.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ripcord_sidecar::demo;
use ripcord_sidecar::replay::{self, ReplayArgs, ReplayError};
use ripcord_sidecar::run::{self, RunArgs};
use ripcord_sidecar::watch::{self, WatchArgs};

/// Exit code for bad input and usage errors (`EX_USAGE`).
const EXIT_BAD_INPUT: u8 = 64;
/// Exit code when the output cannot be written (`EX_IOERR`).
const EXIT_OUTPUT: u8 = 74;

/// Ripcord's sidecar: judges a release against its baseline.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge a recorded release offline: JSON verdict lines on stdout, a summary on stderr.
    ///
    /// Exit code: 0 pass, 1 regression, 2 inconclusive, 64 bad input.
    Replay(ReplayArgs),
    /// Watch a canary against a baseline over HTTP and act locally on a regression: turn a
    /// flagd flag off, call a webhook, run a command; then print the evidence.
    ///
    /// Exit code: 0 pass (at the first pass), 1 regression, 2 inconclusive at the end of
    /// `--for`, 64 bad input.
    Watch(WatchArgs),
    /// Run two built-in services (v1 healthy, v2 regressed) on loopback, watch them, catch the
    /// regression and turn the flag off in a flagd file, in a few seconds.
    ///
    /// Exit code: 0 only when the regression was caught and the flag is off.
    Demo,
    /// Run in a watched pod: scrape the app, serve windows, take a role from the controller and,
    /// as a canary, judge against the baseline and report verdicts. Runs until stopped.
    ///
    /// Exit code: 64 when the settings are unusable, 74 when it cannot listen or start.
    Run(RunArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Replay(args) => run_replay(&args),
        Command::Watch(args) => run_watch(&args),
        Command::Demo => run_demo(),
        Command::Run(args) => run_in_cluster(&args),
    }
}

fn run_replay(args: &ReplayArgs) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let result = replay::run(args, &mut stdout).and_then(|decision| {
        stdout.flush().map_err(ReplayError::Output)?;
        Ok(decision)
    });
    match result {
        Ok(decision) => ExitCode::from(decision.exit_code()),
        Err(err) => {
            eprintln!("ripcord-sidecar replay: {err}");
            ExitCode::from(if err.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OUTPUT
            })
        }
    }
}

fn run_watch(args: &WatchArgs) -> ExitCode {
    match watch::run(args) {
        Ok(decision) => ExitCode::from(decision.exit_code()),
        Err(err) => {
            eprintln!("ripcord-sidecar watch: {err}");
            ExitCode::from(if err.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OUTPUT
            })
        }
    }
}

fn run_demo() -> ExitCode {
    match demo::run(&mut std::io::stdout(), &mut std::io::stderr()) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("ripcord-sidecar demo: {err}");
            ExitCode::from(1)
        }
    }
}

fn run_in_cluster(args: &RunArgs) -> ExitCode {
    match run::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ripcord-sidecar run: {err}");
            ExitCode::from(if err.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_OUTPUT
            })
        }
    }
}
