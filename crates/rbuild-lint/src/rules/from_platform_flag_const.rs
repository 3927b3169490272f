//! RB113: `FROM --platform=` with a constant.

use rbuild_syntax::Keyword;

use crate::context::{Context, stage_name};
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB113",
    name: "from-platform-flag-const-disallowed",
    severity: Severity::Warning,
    aliases: &["FromPlatformFlagConstDisallowed"],
    summary: "`FROM --platform` set to a constant",
    docs: r#"## What it does
Flags `FROM --platform=linux/amd64` and other constant platforms, unless the
stage's name says which platform it is for (`AS build-amd64`).

## Why is this bad
A constant platform pins the stage whatever `--platform` the build asks for:
multi-platform builds then ship binaries for the wrong architecture or run
under emulation.

## Example
```dockerfile
FROM --platform=linux/amd64 golang:1.23 AS build
```

## Use instead
```dockerfile
FROM --platform=$BUILDPLATFORM golang:1.23 AS build
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::From) {
        let Some(flag) = inst.flag("platform") else { continue };
        let Some(value) = flag.value.as_deref().filter(|v| !v.is_empty() && !v.contains('$'))
        else {
            continue;
        };
        let name = stage_name(inst).map(|a| a.value.to_ascii_lowercase()).unwrap_or_default();
        if value
            .split(['/', ','])
            .any(|part| !part.is_empty() && name.contains(&part.to_ascii_lowercase()))
        {
            continue;
        }
        out.add(
            flag.span.range(),
            format!("the platform is always `{value}`, whatever the build targets"),
        )
        .help("use `$BUILDPLATFORM` or `$TARGETPLATFORM`, or drop the flag");
    }
}
