//! `rbuild lint`: rules over Dockerfiles, without building them.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use rbuild_lint::{FileReport, Format, Linter, RULES, Severity};

use crate::args::{LintArgs, LintFormat, LintSeverity};

pub(crate) fn run(args: &LintArgs) -> anyhow::Result<ExitCode> {
    if args.list_rules {
        return list_rules(args.format);
    }
    let mut linter = Linter::new();
    for id in &args.ignore {
        anyhow::ensure!(
            rbuild_lint::find_rule(id).is_some(),
            "unknown rule {id:?} for --ignore (see `rbuild lint --list-rules`)"
        );
        linter = linter.ignore(id.as_str());
    }
    let mut reports = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        // Invalid UTF-8 is read as U+FFFD, so spans stay meaningful for the rest.
        let source = String::from_utf8_lossy(&bytes).into_owned();
        let diagnostics = linter.lint(&source);
        reports.push(FileReport { path: path.display().to_string(), source, diagnostics });
    }
    let format = match args.format {
        LintFormat::Human => Format::Human,
        LintFormat::Json => Format::Json,
        LintFormat::Sarif => Format::Sarif,
        LintFormat::Checkstyle => Format::Checkstyle,
        LintFormat::Github => Format::Github,
    };
    let color = format == Format::Human && std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(rbuild_lint::render(&reports, format, color).as_bytes())?;
    stdout.flush()?;
    let threshold = match args.error_on {
        LintSeverity::Error => Severity::Error,
        LintSeverity::Warning => Severity::Warning,
        LintSeverity::Info => Severity::Info,
    };
    let failed = reports.iter().flat_map(|r| &r.diagnostics).any(|d| d.severity >= threshold);
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn list_rules(format: LintFormat) -> anyhow::Result<ExitCode> {
    let text = match format {
        LintFormat::Json => rbuild_lint::rules_json() + "\n",
        LintFormat::Human => {
            let mut text = String::new();
            for rule in RULES {
                let aliases = rule.aliases.join(",");
                let _ = writeln!(
                    text,
                    "{}  {:<36} {:<8} {:<42} {}",
                    rule.code,
                    rule.name,
                    rule.severity.as_str(),
                    aliases,
                    rule.summary
                );
            }
            text
        }
        LintFormat::Sarif | LintFormat::Checkstyle | LintFormat::Github => {
            anyhow::bail!("--list-rules prints human or json only")
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
