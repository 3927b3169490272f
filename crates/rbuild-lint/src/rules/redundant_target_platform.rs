//! RB111: `FROM --platform=$TARGETPLATFORM`, which is the default.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB111",
    name: "redundant-target-platform",
    severity: Severity::Info,
    aliases: &["RedundantTargetPlatform", "DL3065"],
    summary: "`--platform=$TARGETPLATFORM` on FROM is the default",
    docs: r#"## What it does
Flags `FROM --platform=$TARGETPLATFORM` (or `${TARGETPLATFORM}`).

## Why is this bad
Stages are built for the target platform anyway; the flag adds noise and
suggests that something special happens.

## Example
```dockerfile
FROM --platform=$TARGETPLATFORM alpine:3.20
```

## Use instead
```dockerfile
FROM alpine:3.20
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::From) {
        let Some(flag) = inst.flag("platform") else { continue };
        if matches!(flag.value.as_deref(), Some("$TARGETPLATFORM" | "${TARGETPLATFORM}")) {
            out.add(flag.span.range(), "the target platform is the default").help("drop the flag");
        }
    }
}
