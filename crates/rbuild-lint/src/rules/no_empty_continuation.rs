//! RB102: empty lines inside a continued instruction.

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB102",
    name: "no-empty-continuation",
    severity: Severity::Warning,
    aliases: &["NoEmptyContinuation"],
    summary: "Empty continuation lines will become errors",
    docs: r#"## What it does
Flags blank lines inside an instruction continued with the escape character.

## Why is this bad
BuildKit ignores them today with a warning and has announced that they will become errors. They also hide where an instruction ends.

## Example
```dockerfile
RUN apt-get update && \

    apt-get install -y curl
```

## Use instead
```dockerfile
RUN apt-get update && \
    apt-get install -y curl
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for warning in &cx.dockerfile().warnings {
        if warning.message.contains("empty continuation") {
            out.add(warning.span.range(), "empty continuation line").help("delete the blank line");
        }
    }
}
