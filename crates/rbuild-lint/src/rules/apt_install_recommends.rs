//! RB012: `apt-get install` that also installs recommended packages.

use super::{is_subcommand, runs};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB012",
    name: "apt-install-recommends",
    severity: Severity::Info,
    aliases: &["DL3015"],
    summary: "`apt-get install` without `--no-install-recommends`",
    docs: r#"## What it does
Flags `apt-get install` and `apt install` without `--no-install-recommends`
(or `-o APT::Install-Recommends=false`).

## Why is this bad
Recommended packages are not needed to run what you asked for, and often add
hundreds of megabytes of documentation, fonts and tools to the layer.

## Example
```dockerfile
RUN apt-get install -y curl
```

## Use instead
```dockerfile
RUN apt-get install -y --no-install-recommends curl
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (_, _, script) in runs(cx) {
        for cmd in &script.commands {
            if !is_subcommand(cmd, &["apt-get", "apt"], &["install"], &["-o", "-c", "-t"]) {
                continue;
            }
            let off = cmd.has_option("no-install-recommends", None)
                || cmd.args().iter().any(|w| {
                    let t = w.text.to_ascii_lowercase();
                    t.contains("apt::install-recommends=false")
                        || t.contains("apt::install-recommends=0")
                        || t.contains("apt::install-recommends \"false\"")
                });
            if !off {
                out.add(cmd.range(), "recommended packages are installed too")
                    .help("add `--no-install-recommends`");
            }
        }
    }
}
