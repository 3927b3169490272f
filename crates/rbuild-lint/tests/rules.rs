//! One fixture and one snapshot per rule: `fixtures/<rule-name>.Dockerfile`
//! linted with that rule alone, rendered as the human format prints it.

use std::path::Path;

use rbuild_lint::{FileReport, Format, Linter, RULES};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.Dockerfile"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_rule_flags_its_fixture_as_the_snapshot_shows() {
    for rule in RULES {
        let source = fixture(rule.name);
        let diagnostics = Linter::new().select([rule.code]).lint(&source);
        assert!(!diagnostics.is_empty(), "{}: the fixture has no finding", rule.name);
        assert!(
            diagnostics.iter().all(|d| d.code == rule.code),
            "{}: other codes in {diagnostics:#?}",
            rule.name
        );
        let report = FileReport { path: format!("{}.Dockerfile", rule.name), source, diagnostics };
        let rendered = rbuild_lint::render(&[report], Format::Human, false);
        insta::assert_snapshot!(rule.name, rendered);
    }
}

#[test]
fn every_fixture_belongs_to_a_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let stem = name.strip_suffix(".Dockerfile").unwrap_or(&name);
        assert!(RULES.iter().any(|r| r.name == stem), "{name} names no rule");
    }
}
