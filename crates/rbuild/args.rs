//! Command-line arguments, as clap reads them.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Build OCI images from Dockerfiles, fast, with a cache that explains itself.
#[derive(Debug, Parser)]
#[command(name = "rbuild", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse a Dockerfile and print its syntax tree.
    Parse(ParseArgs),
    /// Inspect a build context.
    #[command(subcommand)]
    Context(ContextCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum ContextCommand {
    /// List every file and symlink `COPY . /dst` would copy, after .dockerignore.
    Ls(ContextLsArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ContextLsArgs {
    /// Show each size in bytes, and the total.
    #[arg(long)]
    pub(crate) size: bool,
    /// The Dockerfile, whose `<name>.dockerignore` beside it wins over the context's.
    #[arg(short = 'f', long = "file")]
    pub(crate) file: Option<PathBuf>,
    /// The build context directory.
    #[arg(default_value = ".")]
    pub(crate) context: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ParseArgs {
    /// Output format: BuildKit's Node.Dump() text, or the AST with spans as JSON.
    #[arg(long, value_enum, default_value_t = ParseFormat::Dump)]
    pub(crate) format: ParseFormat,
    /// The Dockerfile to parse.
    #[arg(default_value = "Dockerfile")]
    pub(crate) path: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ParseFormat {
    /// One s-expression per instruction, as BuildKit's parser tests print.
    Dump,
    /// The full AST, with a span (byte range, line, column) on every part.
    Json,
}
