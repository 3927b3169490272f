//! RB017: `zypper install` without `zypper clean`.

use super::pkg_clean::{Manager, check as check_manager};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB017",
    name: "zypper-cache-kept",
    severity: Severity::Info,
    aliases: &["DL3036"],
    summary: "`zypper install` without `zypper clean` in the same RUN",
    docs: r#"## What it does
Flags a RUN that installs or updates packages with zypper and neither runs
`zypper clean` nor deletes `/var/cache/zypp` before it ends.

## Why is this bad
zypper keeps repository metadata and packages under `/var/cache/zypp`; a clean
in a later RUN leaves them in this layer.

## Example
```dockerfile
RUN zypper install -y curl
```

## Use instead
```dockerfile
RUN zypper install -y curl && zypper clean --all
```
"#,
    check,
};

const ZYPPER: Manager = Manager {
    programs: &["zypper"],
    installs: &[
        "install",
        "in",
        "update",
        "up",
        "dist-upgrade",
        "dup",
        "patch",
        "source-install",
        "si",
    ],
    cleans: &["clean", "cc"],
    cache: "/var/cache/zypp",
    help: "end the same RUN with `zypper clean --all`",
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    check_manager(cx, out, &ZYPPER);
}
