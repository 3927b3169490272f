//! The machine-readable formats are what their consumers accept: SARIF
//! validates against the SARIF 2.1.0 schema, checkstyle is well-formed XML
//! with one `<error>` per finding.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use rbuild_lint::{FileReport, Format, Linter, RULES};

/// Every rule fixture, linted with every rule: findings of all codes,
/// severities and many positions, plus one file that does not parse.
fn reports() -> Vec<FileReport> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    RULES
        .iter()
        .map(|rule| {
            let path = format!("fixtures/{} dir/{}.Dockerfile", rule.code, rule.name);
            let source =
                std::fs::read_to_string(dir.join(format!("{}.Dockerfile", rule.name))).unwrap();
            let diagnostics = Linter::new().lint(&source);
            FileReport { path, source, diagnostics }
        })
        .collect()
}

/// A Python that can import `module`: the one on PATH, else Debian's.
fn python_with(module: &str) -> String {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return python.to_owned();
        }
    }
    panic!("no python3 with `{module}`: run `bash .ci/setup` (it installs python3-jsonschema)");
}

/// Runs a Python snippet with `input` on stdin; panics with its output on failure.
fn python(module: &str, script: &str, args: &[&str], input: &str) {
    let mut child = Command::new(python_with(module))
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let reports = reports();
    let count: usize = reports.iter().map(|r| r.diagnostics.len()).sum();
    assert!(count > 50, "{count}");
    let sarif = rbuild_lint::render(&reports, Format::Sarif, false);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    let script = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
log = json.load(sys.stdin)
errors = list(jsonschema.Draft7Validator(schema).iter_errors(log))
for e in errors[:20]:
    print(list(e.absolute_path), e.message)
results = log["runs"][0]["results"]
rules = log["runs"][0]["tool"]["driver"]["rules"]
assert len(results) == int(sys.argv[2]), (len(results), sys.argv[2])
assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
sys.exit(1 if errors else 0)
"#;
    python("jsonschema", script, &[schema.to_str().unwrap(), &count.to_string()], &sarif);
}

#[test]
fn checkstyle_is_well_formed_xml_with_one_error_per_finding() {
    let reports = reports();
    let count: usize = reports.iter().map(|r| r.diagnostics.len()).sum();
    let xml = rbuild_lint::render(&reports, Format::Checkstyle, false);
    let script = r#"
import sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == "checkstyle"
errors = root.findall("./file/error")
assert len(errors) == int(sys.argv[1]), (len(errors), sys.argv[1])
assert all(e.get("source").startswith("rbuild.RB") and int(e.get("line")) > 0 for e in errors)
"#;
    python("xml.etree.ElementTree", script, &[&count.to_string()], &xml);
}
