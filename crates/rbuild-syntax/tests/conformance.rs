//! The parser against BuildKit's golden files and the real-world corpus in
//! `../shared/conformance` (skipped with a message where it is absent).

use std::path::{Path, PathBuf};

use rbuild_syntax::{Arguments, Instruction, Keyword, dump, parse};
use serde_json::Value;

fn conformance() -> Option<PathBuf> {
    rbuild_test::conformance("")
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    cases
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[test]
fn buildkit_positive_cases_dump_byte_for_byte() {
    let Some(root) = conformance() else { return };
    let cases = cases(&root.join("buildkit-parser/positive"));
    assert_eq!(cases.len(), 33);
    let mut failures = Vec::new();
    for case in &cases {
        let source = read(&case.join("Dockerfile"));
        let expected = read(&case.join("result"));
        match parse(&source) {
            Ok(ast) => {
                let got = dump(&ast) + "\n";
                if got != expected {
                    failures.push(format!(
                        "{}:\n--- expected\n{expected}--- got\n{got}",
                        case.display()
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{} of 33 differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn buildkit_negative_cases_are_rejected_with_a_location() {
    let Some(root) = conformance() else { return };
    let cases = cases(&root.join("buildkit-parser/negative"));
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let source = read(&case.join("Dockerfile"));
        let err = parse(&source).expect_err(&case.display().to_string());
        let span = err.span();
        assert!(span.line >= 1 && span.column >= 1, "{}: {err}", case.display());
        let frame = err.render("Dockerfile", &source, false);
        assert!(frame.contains(&format!("Dockerfile:{}:{}", span.line, span.column)), "{frame}");
    }
}

#[test]
fn line_numbers_match_buildkit() {
    let Some(root) = conformance() else { return };
    let ast = parse(&read(&root.join("buildkit-parser/line-info/Dockerfile"))).unwrap();
    let lines: Vec<_> = ast.instructions.iter().map(|i| (i.start_line, i.end_line)).collect();
    assert_eq!(lines, [(5, 5), (11, 12), (17, 31)]);
}

/// Compares one instruction with the oracle's record (BuildKit v0.12.5, see
/// the conformance README for where that oracle differs from BuildKit HEAD).
fn compare(ins: &Instruction, want: &Value) -> Result<(), String> {
    let check = |what: &str, ok: bool, got: String| {
        if ok { Ok(()) } else { Err(format!("{what}: got {got}, want {}", want[what])) }
    };
    check("cmd", want["cmd"] == ins.keyword.as_str(), ins.keyword.clone())?;
    let nested = match &ins.args {
        Arguments::Nested(n) => n.as_deref(),
        _ => None,
    };
    let sub_cmd = nested.map(|n| n.keyword.clone());
    check("sub_cmd", want["sub_cmd"] == serde_json::json!(sub_cmd), format!("{sub_cmd:?}"))?;
    check("start_line", want["start_line"] == ins.start_line, ins.start_line.to_string())?;
    check("end_line", want["end_line"] == ins.end_line, ins.end_line.to_string())?;
    let flags: Vec<&str> = ins.flags.iter().map(|f| f.text.as_str()).collect();
    check("flags", want["flags"] == serde_json::json!(flags), format!("{flags:?}"))?;
    let target = nested.unwrap_or(ins);
    check("json", want["json"] == target.json, target.json.to_string())?;
    // The oracle has no separator node after ENV/LABEL pairs.
    let values: Vec<&str> = match &target.args {
        Arguments::Pairs(pairs) => {
            pairs.iter().flat_map(|p| [p.key.value.as_str(), p.value.value.as_str()]).collect()
        }
        _ => target.values(),
    };
    check("value", want["value"] == serde_json::json!(values), format!("{values:?}"))?;
    if ins.heredocs.is_empty() {
        check(
            "original",
            want["original"] == ins.original.as_str(),
            format!("{:?}", ins.original),
        )?;
    }
    let docs: Vec<Value> = ins
        .heredocs
        .iter()
        .map(|h| serde_json::json!({"name": h.name, "file_descriptor": h.fd, "content": h.content}))
        .collect();
    check("heredocs", want["heredocs"] == Value::Array(docs.clone()), format!("{docs:?}"))
}

#[test]
fn real_world_dockerfiles_match_the_official_parser() {
    let Some(root) = conformance() else { return };
    let cases = cases(&root.join("real-world"));
    assert_eq!(cases.len(), 66);
    let (mut instructions, mut failures) = (0, Vec::new());
    for case in &cases {
        let source = read(&case.join("Dockerfile"));
        let want: Vec<Value> = serde_json::from_str(&read(&case.join("expected.json"))).unwrap();
        let ast = match parse(&source) {
            Ok(ast) => ast,
            Err(e) => {
                failures.push(format!("{}: {e}", case.display()));
                continue;
            }
        };
        if ast.instructions.len() != want.len() {
            failures.push(format!(
                "{}: {} instructions, want {}",
                case.display(),
                ast.instructions.len(),
                want.len()
            ));
            continue;
        }
        for (ins, want) in ast.instructions.iter().zip(&want) {
            instructions += 1;
            if let Err(e) = compare(ins, want) {
                failures.push(format!("{} line {}: {e}", case.display(), ins.start_line));
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(instructions, 1920);
}

#[test]
fn heredocs_match_buildkit_head() {
    let Some(root) = conformance() else { return };
    let dir = root.join("buildkit-parser/heredoc");
    let ast = parse(&read(&dir.join("Dockerfile"))).unwrap();
    let want: Value = serde_json::from_str(&read(&dir.join("expected_heredocs.json"))).unwrap();
    let want = want["instructions"].as_array().unwrap();
    // The first instruction is FROM; the expectations start after it.
    let got = &ast.instructions[1..];
    assert_eq!(got.len(), want.len());
    for (ins, want) in got.iter().zip(want) {
        let where_ = format!("line {}: {}", ins.start_line, want["instruction"]);
        assert_eq!(want["start_line"], ins.start_line, "{where_}");
        assert_eq!(want["end_line"], ins.end_line, "{where_}");
        let docs: Vec<Value> = ins
            .heredocs
            .iter()
            .map(|h| {
                serde_json::json!({"name": h.name, "content": h.content, "expand": h.expand,
                    "chomp": h.chomp, "file_descriptor": h.fd})
            })
            .collect();
        assert_eq!(want["expected_heredocs"], Value::Array(docs), "{where_}");
    }
    let json_form = parse(&read(&dir.join("Dockerfile.json-no-heredoc"))).unwrap();
    assert!(json_form.instructions.iter().all(|i| i.heredocs.is_empty()));
    assert_eq!(json_form.instructions.len(), 4);
}

#[test]
fn heredoc_words_match_buildkit_head() {
    let Some(root) = conformance() else { return };
    let words: Value =
        serde_json::from_str(&read(&root.join("buildkit-parser/heredoc/heredoc_words.json")))
            .unwrap();
    for case in words["heredocs_from_line"].as_array().unwrap() {
        let line = case["line"].as_str().unwrap();
        let source = format!("FROM a\n{line}\n");
        let names: Vec<String> = case["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect();
        let bodies: String = names.iter().map(|n| format!("{n}\n")).collect();
        let ast = parse(&format!("{source}{bodies}")).unwrap_or_else(|e| panic!("{line}: {e}"));
        let run = &ast.instructions[1];
        assert_eq!(run.kind, Keyword::Run);
        let got: Vec<&str> = run.heredocs.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(got, names, "{line}");
    }
}
