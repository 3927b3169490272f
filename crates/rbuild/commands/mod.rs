//! One module per subcommand.

mod build;
mod context;
mod lint;
mod parse;

use std::process::ExitCode;

use crate::args::{Args, Command, ContextCommand};

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Parse(args) => parse::run(&args),
        Command::Context(ContextCommand::Ls(args)) => context::ls(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Load(args) => build::load(&args),
        Command::Prune(args) => build::prune(&args),
    }
}
