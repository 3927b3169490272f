//! Findings to text: for people, for scripts, for code scanning, for CI.

mod checkstyle;
pub(crate) mod github;
mod human;
mod json;
mod sarif;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::rules::RULES;

/// The findings of one file, with the text they point into.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The path as the user gave it; every format prints it unchanged.
    pub path: String,
    /// The file's text, for code frames.
    pub source: String,
    /// The findings, sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// An output format of `rbuild lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Code frames with the span underlined, then a summary line.
    Human,
    /// A JSON array of findings.
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF consumers.
    Sarif,
    /// Checkstyle XML, for CI dashboards that read it.
    Checkstyle,
    /// GitHub Actions workflow commands: annotations on the lines.
    Github,
}

/// Renders the findings of several files in one document.
pub fn render(reports: &[FileReport], format: Format, color: bool) -> String {
    match format {
        Format::Human => human::render(reports, color),
        Format::Json => json::render(reports),
        Format::Sarif => sarif::render(reports),
        Format::Checkstyle => checkstyle::render(reports),
        Format::Github => github::render(reports),
    }
}

#[derive(Serialize)]
struct RuleEntry {
    code: &'static str,
    name: &'static str,
    severity: &'static str,
    aliases: &'static [&'static str],
    summary: &'static str,
}

/// Every rule as `{"code","name","severity","aliases","summary"}`, for
/// `rbuild lint --list-rules --format json`.
pub fn rules_json() -> String {
    let entries: Vec<RuleEntry> = RULES
        .iter()
        .map(|r| RuleEntry {
            code: r.code,
            name: r.name,
            severity: r.severity.as_str(),
            aliases: r.aliases,
            summary: r.summary,
        })
        .collect();
    serde_json::to_string_pretty(&entries).expect("rule entries serialise")
}
