//! `rbuild lint`: formats, exit codes and rule listing through the binary.

use crate::util::{rbuild, tempdir};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn exit_code_follows_error_on() {
    let dir = tempdir();
    // One warning (run-cd), one info (apt-install-recommends), no error.
    let path = write(&dir, "Dockerfile", "FROM debian:12\nRUN cd /x && apt-get install -y curl\n");
    let code = |extra: &[&str]| {
        rbuild().arg("lint").args(extra).arg(&path).output().unwrap().status.code()
    };
    assert_eq!(code(&[]), Some(0));
    assert_eq!(code(&["--error-on", "warning"]), Some(1));
    assert_eq!(code(&["--error-on", "info"]), Some(1));
    assert_eq!(code(&["--error-on", "warning", "--ignore", "DL3003"]), Some(0));
    assert_eq!(code(&["--error-on", "bogus"]), Some(2));
    assert_eq!(code(&["--ignore", "no-such-rule"]), Some(2));
}

#[test]
fn json_lists_every_finding_of_every_file() {
    let dir = tempdir();
    let a = write(&dir, "a.Dockerfile", "FROM alpine:3.20\nMAINTAINER me\n");
    let b = write(&dir, "b.Dockerfile", "FROM alpine:3.20\nENV PATH\n");
    let out = rbuild().args(["lint", "--format", "json"]).arg(&a).arg(&b).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the parse error is an error");
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let summary: Vec<_> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
            (
                f["code"].as_str().unwrap().to_owned(),
                file,
                f["line"].as_u64(),
                f["severity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("RB032".into(), "a.Dockerfile".into(), Some(2), "warning".into()),
            ("RB000".into(), "b.Dockerfile".into(), Some(2), "error".into()),
        ]
    );
    let first = &findings[0];
    for key in ["name", "column", "end_line", "end_column", "message", "help"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    assert_eq!((first["column"].as_u64(), first["end_column"].as_u64()), (Some(1), Some(14)));
}

#[test]
fn human_output_frames_the_span_and_ends_with_a_summary() {
    let dir = tempdir();
    let path = write(&dir, "Dockerfile", "FROM alpine:3.20\nRUN cd /src && make\n");
    let out = rbuild().arg("lint").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("warning[RB001]: `cd /src` only lasts until the end of this RUN"),
        "{text}"
    );
    assert!(text.contains("RUN cd /src && make\n  |     ^^^^^^^ run-cd"), "{text}");
    assert!(
        text.trim_end().ends_with("1 problem (0 errors, 1 warning, 0 info) in 1 file"),
        "{text}"
    );
}

#[test]
fn list_rules_json_has_the_documented_keys() {
    let out = rbuild().args(["lint", "--list-rules", "--format", "json"]).output().unwrap();
    assert!(out.status.success());
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = rules.as_array().unwrap();
    assert!(rules.len() >= 30, "{}", rules.len());
    let run_cd = rules.iter().find(|r| r["name"] == "run-cd").unwrap();
    assert_eq!(run_cd["code"], "RB001");
    assert_eq!(run_cd["severity"], "warning");
    assert_eq!(run_cd["aliases"], serde_json::json!(["DL3003"]));
    assert!(run_cd["summary"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn default_path_is_the_dockerfile_of_the_current_directory() {
    let dir = tempdir();
    write(&dir, "Dockerfile", "FROM alpine:3.20\nCMD echo hi\n");
    let out = rbuild().args(["lint", "--format", "json"]).current_dir(dir.path()).output().unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings[0]["code"], "RB033");
    assert_eq!(findings[0]["file"], "Dockerfile");
    let missing = rbuild().args(["lint", "/nonexistent/Dockerfile"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn sarif_and_checkstyle_come_out_of_the_binary() {
    let dir = tempdir();
    let path = write(&dir, "Dockerfile", "FROM alpine:3.20\nRUN cd /src && make\n");
    let out = rbuild().args(["lint", "--format", "sarif"]).arg(&path).output().unwrap();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "RB001");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    let out = rbuild().args(["lint", "--format", "checkstyle"]).arg(&path).output().unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.contains(r#"<error line="2" column="5" severity="warning""#), "{xml}");
}

#[test]
fn github_format_is_one_workflow_command_per_finding() {
    let dir = tempdir();
    let path = write(&dir, "Lint.Dockerfile", "FROM busybox:1.36\nRUN cd /tmp\n");
    let out = rbuild()
        .current_dir(dir.path())
        .args(["lint", "--format", "github", "Lint.Dockerfile"])
        .output()
        .unwrap();
    assert!(path.is_file() && out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "::warning file=Lint.Dockerfile,line=2,col=5,endLine=2,endColumn=12,title=RB001 run-cd::\
         `cd /tmp` only lasts until the end of this RUN%0Aset `WORKDIR /tmp` before the RUN instead\n"
    );
}
