//! The default format: a code frame per finding, as rustc and cargo print
//! them, then one line that counts what was found.

use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use super::FileReport;
use crate::rule::Severity;

pub(super) fn render(reports: &[FileReport], color: bool) -> String {
    let renderer = if color { Renderer::styled() } else { Renderer::plain() };
    let mut out = String::new();
    let mut counts = [0usize; 3];
    for report in reports {
        for d in &report.diagnostics {
            counts[d.severity as usize] += 1;
            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
                Severity::Info => Level::INFO,
            };
            let snippet = Snippet::source(report.source.as_str())
                .path(report.path.as_str())
                .annotation(AnnotationKind::Primary.span(d.range.clone()).label(d.name));
            let mut group = level.primary_title(d.message.as_str()).id(d.code).element(snippet);
            if let Some(help) = &d.help {
                group = group.element(Level::HELP.message(help.as_str()));
            }
            let groups: [Group<'_>; 1] = [group];
            let _ = writeln!(out, "{}\n", renderer.render(&groups));
        }
    }
    let [info, warning, error] = counts;
    let total = info + warning + error;
    let files = match reports.len() {
        1 => "1 file".to_owned(),
        n => format!("{n} files"),
    };
    if total == 0 {
        let _ = writeln!(out, "no problems in {files}");
    } else {
        let _ = writeln!(
            out,
            "{total} {} ({error} {}, {warning} {}, {info} info) in {files}",
            plural(total, "problem"),
            plural(error, "error"),
            plural(warning, "warning"),
        );
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { word.to_owned() } else { format!("{word}s") }
}
