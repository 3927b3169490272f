//! RB018: `apt-get upgrade` / `dist-upgrade` in a Dockerfile.

use super::{is_subcommand, runs};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB018",
    name: "apt-get-upgrade",
    severity: Severity::Info,
    aliases: &["DL3005"],
    summary: "`apt-get upgrade` or `dist-upgrade` makes the image depend on the day it was built",
    docs: r#"## What it does
Flags `apt-get upgrade`, `dist-upgrade` and `full-upgrade` (and the same with
`apt`).

## Why is this bad
The upgrade rewrites a large part of the base image into a new layer, so the
image carries both copies, and what it contains depends on the day of the
build. A newer base image gives the same fixes without the duplicate bytes.

## Example
```dockerfile
FROM debian:12
RUN apt-get update && apt-get dist-upgrade -y
```

## Use instead
```dockerfile
FROM debian:12.8
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (_, _, script) in runs(cx) {
        for cmd in &script.commands {
            if is_subcommand(
                cmd,
                &["apt-get", "apt"],
                &["upgrade", "dist-upgrade", "full-upgrade"],
                &["-o", "-c", "-t"],
            ) {
                out.add(cmd.range(), "upgrading every package duplicates much of the base image")
                    .help("use a newer base image, or upgrade only the packages that need it");
            }
        }
    }
}
