//! RB034: the image runs as root because the last USER is root.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB034",
    name: "root-user-last",
    severity: Severity::Warning,
    aliases: &["DL3002"],
    summary: "The last USER of the final stage is root",
    docs: r#"## What it does
Flags the last USER instruction of the final stage when it switches to root
(`root`, `0`, with or without a group).

## Why is this bad
The container's main process then runs as root. Switching to root for the
build steps is fine; switching back to an unprivileged user at the end limits
what a compromised process can do.

## Example
```dockerfile
USER root
RUN apt-get update && apt-get install -y curl
```

## Use instead
```dockerfile
USER root
RUN apt-get update && apt-get install -y curl
USER app
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let Some(last) = cx.stages().last() else { return };
    let Some(user) =
        cx.instructions()[last.from..last.end].iter().rev().find(|i| i.kind == Keyword::User)
    else {
        return;
    };
    let name = user.values().first().copied().unwrap_or_default();
    let who = name.split(':').next().unwrap_or_default();
    if who == "root" || who == "0" {
        out.add(user.span.range(), "the image's processes run as root")
            .help("switch to an unprivileged USER at the end of the final stage");
    }
}
