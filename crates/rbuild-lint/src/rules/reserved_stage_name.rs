//! RB105: stage names BuildKit reserves.

use crate::context::{Context, stage_name};
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB105",
    name: "reserved-stage-name",
    severity: Severity::Error,
    aliases: &["ReservedStageName"],
    summary: "`scratch` and `context` cannot be stage names",
    docs: r#"## What it does
Flags a stage named `scratch` or `context`.

## Why is this bad
`scratch` is the empty image and `context` the build context in `FROM` and
`COPY --from`; a stage with either name cannot be referred to.

## Example
```dockerfile
FROM alpine:3.20 AS scratch
```

## Use instead
```dockerfile
FROM alpine:3.20 AS base
```
"#,
    check,
};

const RESERVED: &[&str] = &["scratch", "context"];

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for stage in cx.stages() {
        let Some(name) = stage_name(&cx.instructions()[stage.from]) else { continue };
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&name.value)) {
            out.add(name.span.range(), format!("`{}` is a reserved name", name.value))
                .help("choose another stage name");
        }
    }
}
