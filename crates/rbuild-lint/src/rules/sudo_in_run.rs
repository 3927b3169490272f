//! RB002: `sudo` in RUN.

use super::runs;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB002",
    name: "sudo-in-run",
    severity: Severity::Warning,
    aliases: &["DL3004"],
    summary: "`sudo` in RUN; switch users with USER instead",
    docs: r#"## What it does
Flags `sudo` (and `doas`) in a RUN script.

## Why is this bad
RUN already runs as the current USER, root by default. `sudo` needs a TTY and a
sudoers entry, behaves differently with signals, and keeps a privilege
escalation tool in the image.

## Example
```dockerfile
USER app
RUN sudo apt-get install -y curl
```

## Use instead
```dockerfile
USER root
RUN apt-get install -y curl
USER app
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (_, _, script) in runs(cx) {
        for cmd in &script.commands {
            if let Some(w) =
                cmd.argv().first().filter(|w| matches!(w.text.as_str(), "sudo" | "doas"))
            {
                out.add(w.range.clone(), format!("`{}` in RUN", w.text))
                    .help("use USER to change users between instructions");
            }
        }
    }
}
