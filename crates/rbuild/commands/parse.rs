//! `rbuild parse`: the parser's view of a Dockerfile.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::{ParseArgs, ParseFormat};

pub(crate) fn run(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.path)
        .with_context(|| format!("cannot read {}", args.path.display()))?;
    // Invalid UTF-8 is read as U+FFFD, so spans stay meaningful for the rest.
    let source = String::from_utf8_lossy(&bytes);
    let dockerfile = match rbuild_syntax::parse(&source) {
        Ok(dockerfile) => dockerfile,
        Err(err) => {
            let color = std::io::stderr().is_terminal();
            let path = args.path.display().to_string();
            let mut stderr = std::io::stderr().lock();
            writeln!(stderr, "{}", err.render(&path, &source, color))?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        ParseFormat::Dump => writeln!(stdout, "{}", rbuild_syntax::dump(&dockerfile))?,
        ParseFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &dockerfile)?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
