//! `--format github` (and a build's `--progress=github`): GitHub Actions
//! workflow commands, `::error file=…,line=…,title=…::message`, which the
//! runner turns into annotations on the lines they name.

use std::fmt::Write as _;

use super::FileReport;
use crate::Severity;

/// One workflow command: `kind` (`error`, `warning`, `notice`) with its
/// properties and message, escaped as GitHub's toolkit escapes them
/// (`%`, `\r`, `\n` everywhere; `:` and `,` too in properties).
pub fn workflow_command(kind: &str, properties: &[(&str, String)], message: &str) -> String {
    let data = |text: &str| text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |text: &str| data(text).replace(':', "%3A").replace(',', "%2C");
    let props: Vec<String> =
        properties.iter().map(|(key, value)| format!("{key}={}", property(value))).collect();
    let sep = if props.is_empty() { "" } else { " " };
    format!("::{kind}{sep}{}::{}", props.join(","), data(message))
}

/// The command kind GitHub has for `severity`.
pub(crate) fn kind(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

pub(super) fn render(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for report in reports {
        for d in &report.diagnostics {
            let mut message = d.message.clone();
            if let Some(help) = &d.help {
                let _ = write!(message, "\n{help}");
            }
            let properties = [
                ("file", report.path.clone()),
                ("line", d.location.line.to_string()),
                ("col", d.location.column.to_string()),
                ("endLine", d.location.end_line.to_string()),
                ("endColumn", d.location.end_column.to_string()),
                ("title", format!("{} {}", d.code, d.name)),
            ];
            out.push_str(&workflow_command(kind(d.severity), &properties, &message));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_escape_as_the_actions_toolkit_does() {
        assert_eq!(workflow_command("error", &[], "plain"), "::error::plain");
        assert_eq!(
            workflow_command(
                "error",
                &[
                    ("file", "dir,x/Dockerfile:1".into()),
                    ("line", "3".into()),
                    ("title", "RUN a, b: 100%".into())
                ],
                "50% done\r\nnext: a,b"
            ),
            "::error file=dir%2Cx/Dockerfile%3A1,line=3,title=RUN a%2C b%3A 100%25::50%25 done%0D%0Anext: a,b"
        );
        assert_eq!(
            workflow_command("notice", &[("file", "a\nb".into())], "%0A"),
            "::notice file=a%0Ab::%250A",
            "a message that looks escaped is escaped again"
        );
    }
}
