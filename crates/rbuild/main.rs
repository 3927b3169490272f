//! rbuild: a Dockerfile build toolchain.

mod args;
mod commands;
mod format;
mod progress;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    // The RUN step helper: hidden, dispatched before anything else runs so
    // the process is still single-threaded when it unshares namespaces.
    let mut raw = std::env::args_os().skip(1);
    if let (Some(command), Some(spec), None) = (raw.next(), raw.next(), raw.next()) {
        let spec = std::path::Path::new(&spec);
        if command == rbuild_runtime::HELPER_COMMAND {
            let code = rbuild_runtime::helper_main(spec);
            return ExitCode::from(u8::try_from(code).unwrap_or(255));
        }
    }
    let args = args::Args::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let _ = writeln!(std::io::stderr(), "rbuild: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`rbuild parse | head`) is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}
