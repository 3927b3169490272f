//! `--format json`: one flat object per finding, easy to filter with jq.

use serde::Serialize;

use super::FileReport;

#[derive(Serialize)]
struct Entry<'a> {
    code: &'a str,
    name: &'a str,
    severity: &'a str,
    file: &'a str,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: &'a str,
    help: Option<&'a str>,
}

pub(super) fn render(reports: &[FileReport]) -> String {
    let entries: Vec<Entry<'_>> = reports
        .iter()
        .flat_map(|r| {
            r.diagnostics.iter().map(|d| Entry {
                code: d.code,
                name: d.name,
                severity: d.severity.as_str(),
                file: &r.path,
                line: d.location.line,
                column: d.location.column,
                end_line: d.location.end_line,
                end_column: d.location.end_column,
                message: &d.message,
                help: d.help.as_deref(),
            })
        })
        .collect();
    let mut out = serde_json::to_string_pretty(&entries).expect("findings serialise");
    out.push('\n');
    out
}
