//! Conformance with Docker's .dockerignore semantics, driven by the shared
//! data in `shared/conformance/dockerignore` (see its README).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rbuild_context::{IgnoreFile, MatchInfo};
use serde_json::Value;

fn data_dir() -> Option<PathBuf> {
    rbuild_test::conformance("dockerignore")
}

fn read(name: &str) -> Option<String> {
    let dir = data_dir()?;
    Some(std::fs::read_to_string(dir.join(name)).expect("conformance file is readable"))
}

fn json(name: &str) -> Option<Vec<Value>> {
    let text = read(name)?;
    let value: Value = serde_json::from_str(&text).expect("valid JSON");
    Some(value.as_array().expect("a JSON list").clone())
}

fn verdict(excluded: bool) -> &'static str {
    if excluded { "match" } else { "nomatch" }
}

/// `matches` on one path, as the data files spell the outcome.
fn per_file(text: &str, path: &str) -> String {
    match IgnoreFile::parse(text).and_then(|file| file.matches(path)) {
        Ok(excluded) => verdict(excluded).to_owned(),
        Err(_) => "error".to_owned(),
    }
}

/// `matches_with_parent` down `path`'s ancestors, as a walk reaches it.
fn walked(file: &IgnoreFile, path: &str) -> bool {
    let mut info = MatchInfo::default();
    let parts: Vec<&str> = path.split('/').collect();
    for end in 1..parts.len() {
        info = file.matches_with_parent(&parts[..end].join("/"), &info).unwrap().1;
    }
    file.matches_with_parent(path, &info).unwrap().0
}

#[test]
fn single_pattern_cases() {
    let Some(text) = read("cases.tsv") else { return };
    let mut rows = 0;
    let mut failures = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (pattern, path, expected) = (cols[0], cols[1], cols[2]);
        rows += 1;
        let got = per_file(pattern, path);
        if got != expected {
            failures.push(format!(
                "cases.tsv:{}: pattern {pattern:?} path {path:?}: want {expected}, got {got}",
                index + 1
            ));
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(rows, 213, "cases.tsv row count");
}

#[test]
fn multi_pattern_cases() {
    let Some(cases) = json("multi_pattern_cases.json") else { return };
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for case in &cases {
        let patterns: Vec<&str> =
            case["patterns"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        let text = patterns.join("\n");
        let path = case["path"].as_str().unwrap();
        let expected = case["expected"].as_str().unwrap();
        let got = per_file(&text, path);
        if got != expected {
            failures.push(format!("{patterns:?} {path:?}: want {expected}, got {got}"));
        }
        if let Some(want_walk) = case.get("expected_walk").and_then(Value::as_str) {
            let file = IgnoreFile::parse(&text).unwrap();
            let got_walk = verdict(walked(&file, path));
            if got_walk != want_walk {
                failures
                    .push(format!("{patterns:?} {path:?}: walk want {want_walk}, got {got_walk}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// What a context walk sends: (files, directories).
struct Sent {
    files: Vec<String>,
    dirs: Vec<String>,
}

/// Walks the tree implied by `files` in directory order, skipping excluded
/// directories that no exception can reach into, as fsutil does.
fn walk(file: &IgnoreFile, files: &[String]) -> Sent {
    let mut dirs = BTreeSet::new();
    for path in files {
        let mut parts: Vec<&str> = path.split('/').collect();
        parts.pop();
        for end in 1..=parts.len() {
            dirs.insert(parts[..end].join("/"));
        }
    }
    let mut entries: Vec<(Vec<&str>, bool)> = dirs
        .iter()
        .map(|d| (d.split('/').collect(), true))
        .chain(files.iter().map(|f| (f.split('/').collect(), false)))
        .collect();
    entries.sort();

    let mut infos: BTreeMap<String, MatchInfo> = BTreeMap::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut sent = BTreeSet::new();
    for (parts, is_dir) in entries {
        let path = parts.join("/");
        if skipped.iter().any(|s| path.starts_with(&format!("{s}/"))) {
            continue;
        }
        let parent = parts[..parts.len() - 1].join("/");
        let parent_info = infos.get(&parent).cloned().unwrap_or_default();
        let (excluded, info) = file.matches_with_parent(&path, &parent_info).unwrap();
        if is_dir {
            infos.insert(path.clone(), info);
            if excluded && !file.could_match_below(&path) {
                skipped.push(path.clone());
            }
        }
        if !excluded {
            for end in 1..parts.len() {
                sent.insert(parts[..end].join("/"));
            }
            sent.insert(path);
        }
    }
    Sent {
        files: files
            .iter()
            .filter(|f| sent.contains(*f))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        dirs: dirs.into_iter().filter(|d| sent.contains(d)).collect(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    let mut list: Vec<String> =
        value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    list.sort();
    list
}

/// Cases measured on the current reference (docker 26.1 with buildx 0.13),
/// kept with the tests.
fn reference() -> Value {
    let text = include_str!("reference_walks.json");
    serde_json::from_str(text).unwrap()
}

/// A context holding `files` (each with its own path as content) and
/// `dockerignore` as its `.dockerignore`.
fn context_on_disk(files: &[String], dockerignore: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in files {
        let path = dir.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, file.as_bytes()).unwrap();
    }
    std::fs::write(dir.path().join(".dockerignore"), dockerignore).unwrap();
    dir
}

/// The paths a listing sends, the ignore file itself left out (the cases'
/// file lists do not hold it).
fn listed(listing: &rbuild_context::Listing) -> Vec<String> {
    listing.entries.iter().map(|e| e.path.clone()).filter(|p| p != ".dockerignore").collect()
}

#[test]
fn walks_match_the_current_reference() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 14);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = case["dockerignore"].as_str().unwrap();
        let files = strings(&case["files"]);
        let want = strings(&case["expected_included"]);
        let file = IgnoreFile::parse(text).unwrap();
        assert_eq!(walk(&file, &files).files, want, "{name}: the walk model");
        let dir = context_on_disk(&files, text);
        let ignore = rbuild_context::load_ignore(dir.path(), None).unwrap();
        let listing = rbuild_context::list(dir.path(), &ignore).unwrap();
        assert_eq!(listed(&listing), want, "{name}: the real walk");
    }
}

#[test]
fn scenarios() {
    let Some(scenarios) = json("scenarios.json") else { return };
    assert!(!scenarios.is_empty());
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let name = scenario["name"].as_str().unwrap();
        let text = scenario["dockerignore"].as_str().unwrap();
        let files = strings(&scenario["files"]);
        let parsed = IgnoreFile::parse(text);
        if scenario["expected_included"].as_str() == Some("error") {
            // The error may surface at parse time or on first use.
            let failed = match &parsed {
                Err(_) => true,
                Ok(file) => files.iter().any(|f| file.matches(f).is_err()),
            };
            if !failed {
                failures.push(format!("{name}: expected the ignore file to be rejected"));
            }
            continue;
        }
        let file = match parsed {
            Ok(file) => file,
            Err(err) => {
                failures.push(format!("{name}: unexpected error {err}"));
                continue;
            }
        };
        let sent = walk(&file, &files);
        let want = strings(&scenario["expected_included"]);
        if sent.files != want {
            failures.push(format!("{name}: files want {want:?}, got {:?}", sent.files));
        }
        if let Some(want_dirs) = scenario.get("expected_included_dirs") {
            let want_dirs = strings(want_dirs);
            if sent.dirs != want_dirs {
                failures.push(format!("{name}: dirs want {want_dirs:?}, got {:?}", sent.dirs));
            }
        }
        if let Some(want_per_file) = scenario.get("expected_included_per_file") {
            let want_per_file = strings(want_per_file);
            let got: Vec<String> =
                files.iter().filter(|f| !file.matches(f).unwrap()).cloned().collect();
            if got != want_per_file {
                failures.push(format!("{name}: per-file want {want_per_file:?}, got {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(scenarios.len(), 18, "scenario count");
}

/// The scenarios again, on real directories: each context is written to
/// disk with its `.dockerignore` and listed by the real walk.
#[test]
fn scenarios_on_disk() {
    let Some(scenarios) = json("scenarios.json") else { return };
    for scenario in &scenarios {
        let name = scenario["name"].as_str().unwrap();
        let dockerignore = scenario["dockerignore"].as_str().unwrap();
        let dir = context_on_disk(&strings(&scenario["files"]), dockerignore);
        let root = dir.path();
        let ignore = rbuild_context::load_ignore(root, None);
        if scenario["expected_included"] == "error" {
            assert!(ignore.is_err(), "{name}: the ignore file must be rejected");
            continue;
        }
        let listing = rbuild_context::list(root, &ignore.unwrap()).unwrap();
        assert_eq!(listed(&listing), strings(&scenario["expected_included"]), "{name}");
        for entry in &listing.entries {
            assert_eq!(entry.size, std::fs::metadata(root.join(&entry.path)).unwrap().len());
        }
    }
}

#[cfg(unix)]
#[test]
fn symlinks_are_listed_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "outside").unwrap();
    let root = dir.path();
    std::fs::write(root.join("a"), "a").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("escape-dir")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.join("escape-file")).unwrap();
    std::os::unix::fs::symlink("../../etc/passwd", root.join("relative")).unwrap();
    let listing = rbuild_context::list(root, &IgnoreFile::default()).unwrap();
    let got: Vec<(&str, rbuild_context::EntryKind)> =
        listing.entries.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    use rbuild_context::EntryKind::{File, Symlink};
    assert_eq!(
        got,
        [("a", File), ("escape-dir", Symlink), ("escape-file", Symlink), ("relative", Symlink)]
    );
    assert!(listing.entries.iter().all(|e| !e.path.contains("secret")));
}

#[test]
fn the_dockerfile_ignore_file_wins_over_the_context_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for f in ["a.txt", "b.txt", "Dockerfile.dev"] {
        std::fs::write(root.join(f), f).unwrap();
    }
    std::fs::write(root.join(".dockerignore"), "a.txt\n").unwrap();
    std::fs::write(root.join("Dockerfile.dev.dockerignore"), "b.txt\n*.dockerignore\n").unwrap();
    let list = |dockerfile: Option<&std::path::Path>| {
        let ignore = rbuild_context::load_ignore(root, dockerfile).unwrap();
        let listing = rbuild_context::list(root, &ignore).unwrap();
        listing.entries.into_iter().map(|e| e.path).collect::<Vec<_>>()
    };
    assert_eq!(
        list(None),
        [".dockerignore", "Dockerfile.dev", "Dockerfile.dev.dockerignore", "b.txt"]
    );
    assert_eq!(
        // `*.dockerignore` hides both ignore files from the build.
        list(Some(&root.join("Dockerfile.dev"))),
        ["Dockerfile.dev", "a.txt"]
    );
}

#[test]
fn an_invalid_ignore_file_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "ok\n\n[\n").unwrap();
    let err = rbuild_context::load_ignore(dir.path(), None).unwrap_err().to_string();
    assert!(err.contains(".dockerignore") && err.contains("line 3"), "{err}");
}
