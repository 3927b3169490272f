//! `rbuild parse`: BuildKit's golden files through the binary, and errors.

use crate::util::{cases, conformance, rbuild, tempdir};

#[test]
fn golden_dumps_equal_buildkit_results() {
    let Some(root) = conformance() else { return };
    let cases = cases(&root.join("buildkit-parser/positive"));
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let out = rbuild()
            .args(["parse", "--format", "dump"])
            .arg(case.join("Dockerfile"))
            .output()
            .unwrap();
        let expected = std::fs::read(case.join("result")).unwrap();
        if !out.status.success() || out.stdout != expected {
            failures.push(format!(
                "{}: exit {:?}\n--- expected\n{}--- got\n{}{}",
                case.display(),
                out.status.code(),
                String::from_utf8_lossy(&expected),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of 33 differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn negative_cases_fail_with_file_line_and_column() {
    let Some(root) = conformance() else { return };
    for case in cases(&root.join("buildkit-parser/negative")) {
        let path = case.join("Dockerfile");
        let out = rbuild().arg("parse").arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", case.display());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        let located = format!("{}:", path.display());
        assert!(stderr.contains(&located), "{}: {stderr}", case.display());
    }
}

#[test]
fn an_error_names_the_place_shows_the_line_and_what_was_expected() {
    let dir = tempdir();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM alpine\nENV PATH\nRUN true\n").unwrap();
    let out = rbuild().arg("parse").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:5: ENV must have two arguments", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("ENV PATH"), "{stderr}");
    assert!(stderr.contains("^^^^"), "{stderr}");
    assert!(stderr.contains("expected a value"), "{stderr}");
}

#[test]
fn json_output_carries_spans() {
    let dir = tempdir();
    let path = dir.path().join("Dockerfile");
    std::fs::write(&path, "FROM alpine\nCOPY --chown=1:1 \\\n  a b /dst/\n").unwrap();
    let out = rbuild().args(["parse", "--format", "json"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ast: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let copy = &ast["instructions"][1];
    assert_eq!(copy["kind"], "copy");
    assert_eq!(copy["flags"][0]["name"], "chown");
    assert_eq!(copy["flags"][0]["span"]["column"], 6);
    let b = &copy["args"]["items"][1];
    assert_eq!(b["value"], "b");
    assert_eq!((b["span"]["line"].as_u64(), b["span"]["column"].as_u64()), (Some(3), Some(5)));
    assert_eq!((copy["start_line"].as_u64(), copy["end_line"].as_u64()), (Some(2), Some(3)));
}

#[test]
fn the_example_parses() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hello/Dockerfile");
    let out = rbuild().arg("parse").arg(example).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump = String::from_utf8(out.stdout).unwrap();
    assert!(dump.contains("(copy [\"--chmod=755\"] \"<<EOF\" \"/app/greet.sh\")"), "{dump}");
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let out = rbuild().args(["parse", "/nonexistent/Dockerfile"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/Dockerfile"));
}
