//! RB033: CMD and ENTRYPOINT in shell form.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB033",
    name: "json-args-recommended",
    severity: Severity::Warning,
    aliases: &["DL3025", "JSONArgsRecommended"],
    summary: "CMD or ENTRYPOINT in shell form; use the JSON (exec) form",
    docs: r#"## What it does
Flags CMD and ENTRYPOINT written as a plain command line instead of a JSON
array, unless the stage set its own SHELL (then the shell form is a choice).

## Why is this bad
The shell form runs the command under `/bin/sh -c`, so the shell is PID 1:
`docker stop` sends SIGTERM to the shell, which does not pass it on, and the
container is killed after the timeout. A shell-form ENTRYPOINT also ignores
CMD and `docker run` arguments.

## Example
```dockerfile
CMD node server.js
```

## Use instead
```dockerfile
CMD ["node", "server.js"]
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (i, inst) in cx.instructions().iter().enumerate() {
        if !matches!(inst.kind, Keyword::Cmd | Keyword::Entrypoint) || inst.json {
            continue;
        }
        let from = cx.stage_of(i).map_or(0, |s| s.from);
        if cx.instructions()[from..i].iter().any(|p| p.kind == Keyword::Shell) {
            continue;
        }
        out.add(
            inst.span.range(),
            format!("{} in shell form runs under `/bin/sh -c`", inst.kind.as_str()),
        )
        .help("write the command as a JSON array, e.g. [\"executable\", \"arg\"]");
    }
}
