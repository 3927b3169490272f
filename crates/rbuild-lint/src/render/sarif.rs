//! `--format sarif`: SARIF 2.1.0, as GitHub code scanning uploads it.
//! A handful of serde structs cover the part of the format rbuild fills.

use serde::Serialize;

use super::FileReport;
use crate::rule::Severity;
use crate::rules::RULES;

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run<'a> {
    tool: Tool,
    results: Vec<SarifResult<'a>>,
    column_kind: &'static str,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    semantic_version: &'static str,
    rules: Vec<ReportingDescriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportingDescriptor {
    id: &'static str,
    name: &'static str,
    short_description: Text<&'static str>,
    help: Help,
    default_configuration: Configuration,
    properties: Properties,
}

#[derive(Serialize)]
struct Text<T> {
    text: T,
}

#[derive(Serialize)]
struct Help {
    text: &'static str,
    markdown: &'static str,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct Properties {
    tags: &'static [&'static str],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    rule_index: usize,
    level: &'static str,
    message: Text<String>,
    locations: [SarifLocation; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

pub(super) fn render(reports: &[FileReport]) -> String {
    let rules = RULES
        .iter()
        .map(|r| ReportingDescriptor {
            id: r.code,
            name: r.name,
            short_description: Text { text: r.summary },
            help: Help { text: r.docs, markdown: r.docs },
            default_configuration: Configuration { level: level(r.severity) },
            properties: Properties { tags: r.aliases },
        })
        .collect();
    let results = reports
        .iter()
        .flat_map(|report| {
            let uri = uri(&report.path);
            report.diagnostics.iter().map(move |d| SarifResult {
                rule_id: d.code,
                rule_index: RULES.iter().position(|r| r.code == d.code).unwrap_or(0),
                level: level(d.severity),
                message: Text {
                    text: match &d.help {
                        Some(help) => format!("{} ({help})", d.message),
                        None => d.message.clone(),
                    },
                },
                locations: [SarifLocation {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri.clone() },
                        region: Region {
                            start_line: d.location.line,
                            start_column: d.location.column,
                            end_line: d.location.end_line,
                            end_column: d.location.end_column,
                        },
                    },
                }],
            })
        })
        .collect();
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "rbuild",
                    semantic_version: env!("CARGO_PKG_VERSION"),
                    rules,
                },
            },
            results,
            column_kind: "unicodeCodePoints",
        }],
    };
    let mut out = serde_json::to_string_pretty(&log).expect("SARIF serialises");
    out.push('\n');
    out
}

/// A path as a relative URI reference: `/` separators, reserved bytes
/// percent-encoded.
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut out = String::with_capacity(path.len() + 7);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~+=,@!$&()*;:".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_become_uri_references() {
        assert_eq!(super::uri("./a b/Dockerfile#1"), "a%20b/Dockerfile%231");
        assert_eq!(super::uri("dir\\Dockerfile"), "dir/Dockerfile");
        assert_eq!(super::uri("é"), "%C3%A9");
        assert_eq!(super::uri("/abs/Dockerfile"), "file:///abs/Dockerfile");
    }
}
