//! RB100: stage names that are not lower case.

use crate::context::{Context, stage_name};
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB100",
    name: "stage-name-casing",
    severity: Severity::Warning,
    aliases: &["StageNameCasing"],
    summary: "Stage names should be lower case",
    docs: r#"## What it does
Flags a stage name (`FROM … AS Name`) with upper-case letters.

## Why is this bad
Stage names are matched without regard to case, but image references must be lower case; a mixed-case name reads like one and is easy to mistype in `COPY --from`.

## Example
```dockerfile
FROM golang:1.23 AS Builder
```

## Use instead
```dockerfile
FROM golang:1.23 AS builder
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for stage in cx.stages() {
        let Some(name) = stage_name(&cx.instructions()[stage.from]) else { continue };
        if name.value != name.value.to_lowercase() {
            out.add(name.span.range(), format!("stage name `{}` should be lower case", name.value))
                .help(format!("name it `{}`", name.value.to_lowercase()));
        }
    }
}
