//! RB013: `apk add` that keeps the package index.

use super::{is_subcommand, removes, runs};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB013",
    name: "apk-cache-kept",
    severity: Severity::Info,
    aliases: &["DL3019"],
    summary: "`apk add` without `--no-cache`",
    docs: r#"## What it does
Flags `apk add` without `--no-cache`, unless the same RUN deletes
`/var/cache/apk` or mounts a cache there.

## Why is this bad
Without `--no-cache`, apk stores the package index under `/var/cache/apk`,
which then ships in the layer.

## Example
```dockerfile
RUN apk update && apk add curl
```

## Use instead
```dockerfile
RUN apk add --no-cache curl
```
"#,
    check,
};

const CACHE: &str = "/var/cache/apk";

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (i, _, script) in runs(cx) {
        if cx.mounts_cache_at(i, CACHE)
            || cx.mounts_cache_at(i, "/etc/apk/cache")
            || removes(script, CACHE)
        {
            continue;
        }
        for cmd in &script.commands {
            if is_subcommand(cmd, &["apk"], &["add"], &["-X", "--repository", "-t", "--virtual"])
                && !cmd.has_option("no-cache", None)
            {
                out.add(cmd.range(), "the apk index is kept in the layer").help("add `--no-cache`");
            }
        }
    }
}
