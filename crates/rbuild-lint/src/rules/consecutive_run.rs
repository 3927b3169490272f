//! RB011: consecutive short RUNs that could be one layer.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB011",
    name: "consecutive-run",
    severity: Severity::Info,
    aliases: &["DL3059"],
    summary: "Consecutive short RUN instructions with the same flags could be one",
    docs: r#"## What it does
Flags a RUN that directly follows another RUN with the same flags when both
run at most two commands. Longer scripts are left alone: they are often split
on purpose, so that a change to one does not rebuild the other.

## Why is this bad
Each RUN adds a layer and a cache entry. Two tiny steps in a row cost an extra
layer and, when the second deletes what the first wrote, the bytes stay in the
first layer.

## Example
```dockerfile
RUN mkdir -p /app
RUN chown app /app
```

## Use instead
```dockerfile
RUN mkdir -p /app && chown app /app
```
"#,
    check,
};

/// Longer scripts are split on purpose often enough to leave them alone.
const MAX_COMMANDS: usize = 2;

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let instructions = cx.instructions();
    let short = |i: usize| cx.script(i).is_some_and(|s| s.sequence_len() <= MAX_COMMANDS);
    for i in 1..instructions.len() {
        let (prev, inst) = (&instructions[i - 1], &instructions[i]);
        if prev.kind != Keyword::Run || inst.kind != Keyword::Run {
            continue;
        }
        let flags =
            |f: &[rbuild_syntax::Flag]| f.iter().map(|f| f.text.clone()).collect::<Vec<_>>();
        if flags(&prev.flags) != flags(&inst.flags) || !short(i - 1) || !short(i) {
            continue;
        }
        out.add(
            inst.span.range(),
            format!("this RUN could join the RUN on line {}", prev.start_line),
        )
        .help("chain both scripts with `&&` in one RUN");
    }
}
