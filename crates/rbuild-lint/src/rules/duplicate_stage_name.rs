//! RB104: two stages with the same name.

use crate::context::{Context, stage_name};
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB104",
    name: "duplicate-stage-name",
    severity: Severity::Error,
    aliases: &["DuplicateStageName", "DL3024"],
    summary: "Stage names must be unique",
    docs: r#"## What it does
Flags a stage whose name (compared without regard to case) an earlier stage
already has.

## Why is this bad
`COPY --from=name` and `FROM name` then refer to one of the two stages, and
which one is not what a reader expects; `--target name` is ambiguous.

## Example
```dockerfile
FROM golang:1.23 AS build
FROM node:22 AS build
```

## Use instead
```dockerfile
FROM golang:1.23 AS build-go
FROM node:22 AS build-web
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for stage in cx.stages() {
        let inst = &cx.instructions()[stage.from];
        let Some(name) = stage_name(inst) else { continue };
        let key = name.value.to_lowercase();
        if let Some((_, line)) = seen.iter().find(|(n, _)| *n == key) {
            out.add(
                name.span.range(),
                format!("stage `{}` is already defined on line {line}", name.value),
            )
            .help("give every stage its own name");
        } else {
            seen.push((key, inst.start_line));
        }
    }
}
