//! RB107: a relative WORKDIR before any absolute one.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB107",
    name: "workdir-relative-path",
    severity: Severity::Warning,
    aliases: &["WorkdirRelativePath", "DL3000"],
    summary: "Relative WORKDIR without an absolute WORKDIR before it in the stage",
    docs: r#"## What it does
Flags a relative WORKDIR when no absolute WORKDIR came before it in the stage
(or the stages it is built on).

## Why is this bad
A relative WORKDIR is joined to the base image's working directory, which the
Dockerfile does not show and which changes when the base image does.

## Example
```dockerfile
FROM node:22
WORKDIR app
```

## Use instead
```dockerfile
FROM node:22
WORKDIR /app
```
"#,
    check,
};

fn is_absolute(path: &str) -> bool {
    let b = path.as_bytes();
    path.starts_with(['/', '\\', '$'])
        || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let mut absolute_set: Vec<bool> = Vec::with_capacity(cx.stages().len());
    for stage in cx.stages() {
        let mut set = stage.base_stage.is_some_and(|b| absolute_set[b]);
        for inst in &cx.instructions()[stage.from..stage.end] {
            if inst.kind != Keyword::Workdir {
                continue;
            }
            let Some(path) = inst.values().first().copied() else { continue };
            if is_absolute(path) {
                set = true;
            } else if !set {
                out.add(
                    inst.span.range(),
                    format!("`WORKDIR {path}` is relative to the base image's directory"),
                )
                .help(format!("use an absolute path, e.g. `WORKDIR /{path}`"));
            }
        }
        absolute_set.push(set);
    }
}
