//! RB016: `dnf install` without `dnf clean all`.

use super::pkg_clean::{Manager, check as check_manager};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB016",
    name: "dnf-cache-kept",
    severity: Severity::Info,
    aliases: &["DL3040"],
    summary: "`dnf install` without `dnf clean all` in the same RUN",
    docs: r#"## What it does
Flags a RUN that installs or updates packages with dnf or microdnf and neither
runs `dnf clean all` nor deletes `/var/cache/dnf` before it ends.

## Why is this bad
dnf keeps repository metadata and packages under `/var/cache/dnf`; a clean in
a later RUN leaves them in this layer.

## Example
```dockerfile
RUN dnf install -y httpd
```

## Use instead
```dockerfile
RUN dnf install -y httpd && dnf clean all
```
"#,
    check,
};

const DNF: Manager = Manager {
    programs: &["dnf", "microdnf", "dnf5"],
    installs: &["install", "groupinstall", "update", "upgrade", "reinstall"],
    cleans: &["clean"],
    cache: "/var/cache/dnf",
    help: "end the same RUN with `dnf clean all`",
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    check_manager(cx, out, &DNF);
}
