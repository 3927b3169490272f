//! `--format checkstyle`: the XML many CI dashboards read.

use std::fmt::Write as _;

use super::FileReport;

pub(super) fn render(reports: &[FileReport]) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"4.3\">\n");
    for report in reports {
        let _ = writeln!(out, "  <file name=\"{}\">", escape(&report.path));
        for d in &report.diagnostics {
            let _ = writeln!(
                out,
                "    <error line=\"{}\" column=\"{}\" severity=\"{}\" message=\"{}\" source=\"rbuild.{}.{}\"/>",
                d.location.line,
                d.location.column,
                d.severity.as_str(),
                escape(&d.message),
                d.code,
                d.name,
            );
        }
        out.push_str("  </file>\n");
    }
    out.push_str("</checkstyle>\n");
    out
}

/// Escapes text for an XML attribute; characters XML 1.0 forbids are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn attributes_are_escaped() {
        assert_eq!(
            super::escape("a<\"b\"> & 'c'\n\u{1}"),
            "a&lt;&quot;b&quot;&gt; &amp; &apos;c&apos;&#10;"
        );
    }
}
