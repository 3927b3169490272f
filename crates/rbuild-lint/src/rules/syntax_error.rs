//! RB000: a file that does not parse is a finding, not a crash.

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB000",
    name: "syntax-error",
    severity: Severity::Error,
    aliases: &[],
    summary: "The Dockerfile does not parse",
    docs: r#"## What it does
Reports where a Dockerfile stops being valid syntax, with what the parser
expected there.

## Why is this bad
BuildKit rejects the file before building anything; no other rule can look at it.

## Example
```dockerfile
FROM alpine
ENV PATH
```

## Use instead
```dockerfile
FROM alpine
ENV PATH=/usr/local/bin:/usr/bin:/bin
```
"#,
    check,
};

/// The linter reports parse errors itself; there is nothing to check on an AST.
fn check(_: &Context<'_>, _: &mut Findings<'_>) {}
