//! rbuild against hadolint on the real-world corpus of the shared
//! conformance data: every file parses, and for the rules both tools have,
//! the instructions each flags are compared. The numbers below are the ones
//! measured and explained in AGREEMENT.md; the test fails when agreement
//! drops below them, so a regression cannot pass unnoticed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rbuild_lint::Linter;

/// Per hadolint code: instructions both flag, only hadolint flags, only
/// rbuild flags, over the files hadolint parses.
const MEASURED: &[(&str, usize, usize, usize)] = &[
    ("DL3003", 16, 2, 0),
    ("DL3009", 1, 3, 0),
    ("DL3015", 6, 0, 2),
    ("DL3020", 0, 0, 0),
    ("DL3025", 0, 1, 0),
    ("DL3059", 9, 2, 16),
    ("DL4000", 0, 0, 0),
];

struct Case {
    name: String,
    source: String,
    hadolint: Vec<(String, usize)>,
    hadolint_parsed: bool,
}

fn cases(root: &Path) -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .map(|dir| {
            let source = String::from_utf8_lossy(&std::fs::read(dir.join("Dockerfile")).unwrap())
                .into_owned();
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("hadolint.json")).unwrap()).unwrap();
            let hadolint: Vec<(String, usize)> = json
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (f["code"].as_str().unwrap().to_owned(), f["line"].as_u64().unwrap() as usize)
                })
                .collect();
            let hadolint_parsed = !hadolint.iter().any(|(code, _)| code == "DL1000");
            Case {
                name: dir.file_name().unwrap().to_string_lossy().into_owned(),
                source,
                hadolint,
                hadolint_parsed,
            }
        })
        .collect()
}

#[test]
fn rbuild_parses_and_lints_all_66_files_and_agrees_with_hadolint_as_measured() {
    let Some(root) = rbuild_test::conformance("real-world") else { return };
    let cases = cases(&root);
    assert_eq!(cases.len(), 66);
    assert_eq!(cases.iter().filter(|c| !c.hadolint_parsed).count(), 8, "hadolint fails on 8");

    let linter = Linter::new();
    let mut flagged: Vec<(String, &'static str, usize)> = Vec::new();
    for case in &cases {
        let dockerfile =
            rbuild_syntax::parse(&case.source).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let found = linter.lint(&case.source);
        assert!(found.iter().all(|d| d.code != "RB000"), "{}", case.name);
        for d in found {
            // hadolint reports the first line of the instruction.
            let line = dockerfile
                .instructions
                .iter()
                .find(|i| i.start_line <= d.location.line && d.location.line <= i.end_line)
                .map_or(d.location.line, |i| i.start_line);
            flagged.push((case.name.clone(), d.code, line));
        }
    }

    let mut report = String::new();
    let mut regressions = Vec::new();
    for &(alias, both_min, only_h_max, only_r_max) in MEASURED {
        let rule = rbuild_lint::find_rule(alias).unwrap_or_else(|| panic!("no rule for {alias}"));
        let hadolint: BTreeSet<(String, usize)> = cases
            .iter()
            .filter(|c| c.hadolint_parsed)
            .flat_map(|c| {
                c.hadolint
                    .iter()
                    .filter(|(code, _)| code == alias)
                    .map(|(_, l)| (c.name.clone(), *l))
            })
            .collect();
        let parsed: BTreeSet<&str> =
            cases.iter().filter(|c| c.hadolint_parsed).map(|c| c.name.as_str()).collect();
        let rbuild: BTreeSet<(String, usize)> = flagged
            .iter()
            .filter(|(name, code, _)| *code == rule.code && parsed.contains(name.as_str()))
            .map(|(name, _, line)| (name.clone(), *line))
            .collect();
        let both = hadolint.intersection(&rbuild).count();
        let only_h: Vec<_> = hadolint.difference(&rbuild).collect();
        let only_r: Vec<_> = rbuild.difference(&hadolint).collect();
        report += &format!(
            "{alias} ({}): both {both}, only hadolint {}, only rbuild {}\n  only hadolint: {only_h:?}\n  only rbuild: {only_r:?}\n",
            rule.name,
            only_h.len(),
            only_r.len()
        );
        if both < both_min || only_h.len() > only_h_max || only_r.len() > only_r_max {
            regressions.push(alias);
        }
    }
    assert!(regressions.is_empty(), "agreement fell for {regressions:?}:\n{report}");
}
