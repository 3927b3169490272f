//! `rbuild context ls`: what a build sees of its context, for debugging a .dockerignore.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::ContextLsArgs;

pub(crate) fn ls(args: &ContextLsArgs) -> anyhow::Result<ExitCode> {
    let context = &args.context;
    anyhow::ensure!(context.is_dir(), "build context {} is not a directory", context.display());
    let ignore = rbuild_context::load_ignore(context, args.file.as_deref())?;
    let listing = rbuild_context::list(context, &ignore)
        .with_context(|| format!("cannot list build context {}", context.display()))?;
    let mut stdout = std::io::stdout().lock();
    let mut total = 0u64;
    for entry in &listing.entries {
        if args.size {
            total += entry.size;
            writeln!(stdout, "{}\t{}", entry.size, entry.path)?;
        } else {
            writeln!(stdout, "{}", entry.path)?;
        }
    }
    if args.size {
        writeln!(stdout, "{total}\ttotal")?;
    }
    stdout.flush()?;
    let mut stderr = std::io::stderr().lock();
    for skipped in &listing.skipped {
        writeln!(stderr, "note: skipped {skipped}")?;
    }
    Ok(ExitCode::SUCCESS)
}
