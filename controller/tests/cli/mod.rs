//! The controller's `run` command line as the integration tests parse it: from the arguments
//! alone, without the `RIPCORD_*` variables of the environment the tests run in.

use clap::{CommandFactory, FromArgMatches, Parser};
use ripcord_controller::run::RunArgs;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

/// `args` (program name first) parsed as the command line alone.
pub(crate) fn run_args<const N: usize>(args: [&str; N]) -> RunArgs {
    let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
    let matches = command.try_get_matches_from(args).expect("valid arguments");
    Cli::from_arg_matches(&matches)
        .expect("valid arguments")
        .run
}
