//! One module per subcommand.

mod parse;

use std::process::ExitCode;

use crate::args::{Args, Command};

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Parse(args) => parse::run(&args),
    }
}
