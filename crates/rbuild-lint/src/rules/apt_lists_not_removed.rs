//! RB010: apt lists left in the layer.

use super::{is_subcommand, removes, runs, shipped};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB010",
    name: "apt-lists-not-removed",
    severity: Severity::Info,
    aliases: &["DL3009"],
    summary: "`apt-get update` without removing /var/lib/apt/lists in the same RUN",
    docs: r#"## What it does
Flags a RUN that downloads the apt package lists (`apt-get update`, `apt
update`, `apt install --update`) and does not delete `/var/lib/apt/lists`
before it ends (`rm -rf /var/lib/apt/lists/*` or apt 2.7's `apt-get
dist-clean`), in a stage that ends up in the final image. A cache or tmpfs
mount on the lists directory counts as removing them.

## Why is this bad
The lists are tens of megabytes that the running container never needs.
Deleting them in a later RUN does not help: the bytes stay in this layer.

## Example
```dockerfile
RUN apt-get update && apt-get install -y --no-install-recommends curl
```

## Use instead
```dockerfile
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/*
```
"#,
    check,
};

const LISTS: &str = "/var/lib/apt/lists";

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (i, _, script) in runs(cx) {
        let with_value = ["-o", "-c", "-t"];
        // apt 2.7's `dist-clean` deletes the lists as well as the archives.
        let dist_clean = script
            .commands
            .iter()
            .any(|c| is_subcommand(c, &["apt-get", "apt"], &["dist-clean"], &with_value));
        if !shipped(cx, i) || cx.mounts_cache_at(i, LISTS) || removes(script, LISTS) || dist_clean {
            continue;
        }
        let updates = |c: &&crate::script::Command| {
            is_subcommand(c, &["apt-get", "apt"], &["update"], &with_value)
                || (is_subcommand(
                    c,
                    &["apt-get", "apt"],
                    &["install", "upgrade", "dist-upgrade"],
                    &with_value,
                ) && c.has_option("update", None))
        };
        if let Some(cmd) = script.commands.iter().find(updates) {
            out.add(cmd.range(), "the apt lists this downloads stay in the layer")
                .help("end the same RUN with `rm -rf /var/lib/apt/lists/*`");
        }
    }
}
