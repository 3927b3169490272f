//! One module per subcommand.

mod build;
mod context;
mod images;
mod lint;
mod parse;
mod registry;
mod serve;

use std::process::ExitCode;

use crate::args::{
    Args, BuilderCommand, Command, ContextCommand, ImageCommand, StoreCommand, SystemCommand,
};

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Parse(args) => parse::run(&args),
        Command::Context(ContextCommand::Ls(args)) => context::ls(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => build::load(&args),
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => images::save(&args),
        Command::Export(args) => images::export(&args),
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => images::import(&args),
        Command::Prune(args) => build::prune(&args),
        Command::Pull(args) => registry::pull(&args),
        Command::Push(args) => registry::push(&args),
        Command::Login(args) => registry::login(&args),
        Command::Logout(args) => registry::logout(&args),
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => images::images(&args),
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => images::tag(&args),
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => images::rmi(&args),
        Command::Image(ImageCommand::Inspect(args)) => images::inspect(&args),
        Command::System(SystemCommand::Df(args)) => images::df(&args),
        Command::Image(ImageCommand::Prune(args)) => images::prune(&args),
        Command::Builder(BuilderCommand::Prune(args)) => images::builder_prune(&args),
        Command::Store(StoreCommand::Check(args)) => images::store_check(&args),
        Command::System(SystemCommand::Prune(args)) => images::system_prune(&args),
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            images::history(&args)
        }
        Command::Serve(args) => serve::run(&args),
        Command::Debug(args) => build::debug(&args),
    }
}
