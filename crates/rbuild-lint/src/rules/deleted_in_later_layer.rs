//! RB019: a path written by one instruction and deleted by a later RUN.

use rbuild_syntax::{Arguments, Keyword};

use super::rm_targets;
use crate::context::{Context, path_within};
use crate::rule::{Findings, Rule, Severity};
use crate::script::{Command, Script, basename};

pub(crate) static RULE: Rule = Rule {
    code: "RB019",
    name: "deleted-in-later-layer",
    severity: Severity::Warning,
    aliases: &[],
    summary: "A path written by one instruction is deleted by a later RUN; its bytes still ship",
    docs: r#"## What it does
Follows the paths that COPY and ADD write and that RUN downloads (`curl -o`,
`wget -O`, `git clone`) or makes in place (`dd of=`, `fallocate`,
`truncate`), and flags a later RUN of a shipped stage that deletes
one of them with `rm`.

## Why is this bad
Layers only add: deleting a file in a later layer hides it, but the earlier
layer still holds its bytes, and every pull still downloads them. The image is
as large as if the file were never deleted.

## Example
```dockerfile
COPY app.tar.gz /tmp/
RUN tar -xzf /tmp/app.tar.gz -C /opt && rm /tmp/app.tar.gz
```

## Use instead
```dockerfile
RUN --mount=type=bind,source=app.tar.gz,target=/tmp/app.tar.gz \
    tar -xzf /tmp/app.tar.gz -C /opt
```
"#,
    check,
};

#[derive(Clone)]
struct Written {
    path: String,
    by: &'static str,
    line: usize,
}

#[derive(Clone, Default)]
struct State {
    workdir: String,
    written: Vec<Written>,
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let mut finals: Vec<State> = Vec::with_capacity(cx.stages().len());
    for stage in cx.stages() {
        let mut state = stage
            .base_stage
            .and_then(|b| finals.get(b).cloned())
            .unwrap_or_else(|| State { workdir: "/".to_owned(), written: Vec::new() });
        for i in stage.from + 1..stage.end {
            let inst = &cx.instructions()[i];
            match inst.kind {
                Keyword::Workdir => {
                    if let Some(dir) = inst.values().first() {
                        if dir.contains('$') {
                            state.workdir = String::new();
                        } else {
                            state.workdir = resolve(&state.workdir, dir).unwrap_or_default();
                        }
                    }
                }
                Keyword::Copy | Keyword::Add => {
                    let Arguments::Values(args) = &inst.args else { continue };
                    let Some((dest, sources)) = args.split_last() else { continue };
                    let by = inst.kind.as_str();
                    for path in copied_paths(
                        &state.workdir,
                        &dest.value,
                        sources.iter().map(|s| s.value.as_str()),
                    ) {
                        state.written.push(Written { path, by, line: inst.start_line });
                    }
                }
                Keyword::Run => {
                    let Some(script) = cx.script(i) else { continue };
                    let mut removed_here = Vec::new();
                    let mut moved = false;
                    for cmd in script.top_level() {
                        if cmd.is("cd") || cmd.is("pushd") {
                            moved = true;
                        }
                        for target in rm_targets(cmd) {
                            let Some(target) = resolve_run_path(&state.workdir, target, moved)
                            else {
                                continue;
                            };
                            removed_here.push(target.clone());
                            let hit = state.written.iter().position(|w| matches(&w.path, &target));
                            if let Some(w) = hit.map(|k| state.written.remove(k))
                                && stage.shipped
                            {
                                out.add(
                                        cmd.range(),
                                        format!(
                                            "`{}` was written by the {} on line {}; deleting it here does not shrink the image",
                                            w.path, w.by, w.line
                                        ),
                                    )
                                    .help("write and delete it in the same RUN, or use a bind or cache mount");
                            }
                        }
                    }
                    for path in downloads(script, &state.workdir) {
                        if !removed_here.iter().any(|t| matches(&path, t)) {
                            state.written.push(Written { path, by: "RUN", line: inst.start_line });
                        }
                    }
                }
                _ => {}
            }
        }
        finals.push(state);
    }
}

/// Whether deleting `target` (maybe a glob) deletes `path`.
fn matches(path: &str, target: &str) -> bool {
    if target == "/" {
        return false;
    }
    if target.contains(['*', '?', '[']) {
        return glob(target.as_bytes(), path.as_bytes());
    }
    path_within(path, target)
}

/// `*` and `?` within one path component; `[` is taken literally.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (None, Some(_)) => false,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text)
                || (text.first().is_some_and(|&c| c != b'/') && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(&c)) if c != b'/' => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// An absolute, normalised path; `None` when it cannot be known.
fn resolve(workdir: &str, path: &str) -> Option<String> {
    if path.contains('$') || (!path.starts_with('/') && workdir.is_empty()) {
        return None;
    }
    let joined = if path.starts_with('/') { path.to_owned() } else { format!("{workdir}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// A path in a RUN: relative ones only mean something before any `cd`.
fn resolve_run_path(workdir: &str, path: &str, moved: bool) -> Option<String> {
    if moved && !path.starts_with('/') {
        return None;
    }
    resolve(workdir, path)
}

fn copied_paths<'a>(
    workdir: &str,
    dest: &str,
    sources: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let sources: Vec<&str> = sources.filter(|s| !s.starts_with("<<")).collect();
    let into_dir = dest.ends_with('/') || sources.len() > 1;
    let Some(dest) = resolve(workdir, dest) else { return Vec::new() };
    if !into_dir {
        return vec![dest];
    }
    sources
        .iter()
        .filter(|s| !s.contains(['*', '?', '[', '$']))
        .map(|s| {
            let s = s.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
            format!("{}/{}", dest.trim_end_matches('/'), basename(s))
        })
        .filter(|p| !p.ends_with('/'))
        .collect()
}

/// Paths a script downloads into.
fn downloads(script: &Script, workdir: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut moved = false;
    for cmd in script.top_level() {
        if cmd.is("cd") || cmd.is("pushd") {
            moved = true;
        }
        if let Some(path) = download_target(cmd)
            && let Some(path) = resolve_run_path(workdir, &path, moved)
        {
            out.push(path);
        }
    }
    out
}

fn download_target(cmd: &Command) -> Option<String> {
    let args = cmd.args();
    let value_after = |names: &[&str], long: &str| -> Option<String> {
        args.iter().enumerate().find_map(|(k, w)| {
            if names.contains(&w.text.as_str()) {
                return args.get(k + 1).map(|v| v.text.clone());
            }
            w.text.strip_prefix(long).map(str::to_owned)
        })
    };
    match cmd.program()? {
        "curl" => value_after(&["-o", "--output"], "--output=").filter(|p| p != "-"),
        "wget" => {
            value_after(&["-O", "--output-document"], "--output-document=").filter(|p| p != "-")
        }
        // `dd of=/big.bin`: a file of any size, made in place.
        "dd" => args.iter().find_map(|w| w.text.strip_prefix("of=")).map(str::to_owned),
        // `fallocate -l 50M /big.bin`, `truncate -s 1G /sparse`: the last word.
        "fallocate" | "truncate" => {
            args.last().map(|w| w.text.clone()).filter(|p| !p.starts_with('-'))
        }
        "git" => {
            let mut positional =
                args.iter().filter(|w| !w.text.starts_with('-')).map(|w| w.text.as_str());
            if positional.next()? != "clone" {
                return None;
            }
            let url = positional.next()?;
            Some(positional.next().map_or_else(
                || basename(url.trim_end_matches('/')).trim_end_matches(".git").to_owned(),
                str::to_owned,
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_workdir() {
        assert_eq!(resolve("/app", "x/../y/./z").as_deref(), Some("/app/y/z"));
        assert_eq!(resolve("/app", "/tmp//a/").as_deref(), Some("/tmp/a"));
        assert_eq!(resolve("", "rel"), None);
        assert_eq!(resolve("/", "$HOME/x"), None);
    }

    #[test]
    fn globs_stay_within_a_component() {
        assert!(matches("/tmp/app.tar.gz", "/tmp/*.tar.gz"));
        assert!(!matches("/tmp/a/app.tar.gz", "/tmp/*.tar.gz"));
        assert!(matches("/tmp/a/app.tar.gz", "/tmp"));
        assert!(!matches("/tmp", "/"));
    }
}
