//! RB001: `cd` in RUN to move later commands or instructions.

use super::runs;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB001",
    name: "run-cd",
    severity: Severity::Warning,
    aliases: &["DL3003"],
    summary: "`cd` in RUN changes directory for this RUN only; use WORKDIR",
    docs: r#"## What it does
Flags the first `cd` of a RUN script outside a subshell: one that moves the
commands after it, or that stands alone and moves nothing at all. A `cd`
inside `( … )` or `$( … )` is left alone, since it cannot leak.

## Why is this bad
Every RUN starts in the WORKDIR again, so `RUN cd /src` does nothing for the
next instruction, and `cd dir && make` hides the directory the build depends
on inside a script, where a failed `cd` is easy to miss.

## Example
```dockerfile
RUN cd /usr/src/app && make install
```

## Use instead
```dockerfile
WORKDIR /usr/src/app
RUN make install
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (_, _, script) in runs(cx) {
        // The first `cd` of a RUN is the one to replace; later ones (often
        // `cd /` to go back) follow from it.
        if let Some(cmd) = script.top_level().find(|c| c.is("cd")) {
            let dir = cmd.args().first().map_or("~", |w| w.text.as_str());
            out.add(cmd.range(), format!("`cd {dir}` only lasts until the end of this RUN"))
                .help(format!("set `WORKDIR {dir}` before the RUN instead"));
        }
    }
}
