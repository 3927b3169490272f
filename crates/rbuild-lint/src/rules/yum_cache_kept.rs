//! RB015: `yum install` without `yum clean all`.

use super::pkg_clean::{Manager, check as check_manager};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB015",
    name: "yum-cache-kept",
    severity: Severity::Info,
    aliases: &["DL3032"],
    summary: "`yum install` without `yum clean all` in the same RUN",
    docs: r#"## What it does
Flags a RUN that installs or updates packages with yum and neither runs
`yum clean all` nor deletes `/var/cache/yum` before it ends.

## Why is this bad
yum keeps metadata and downloaded packages under `/var/cache/yum`; a clean
in a later RUN leaves them in this layer.

## Example
```dockerfile
RUN yum install -y httpd
```

## Use instead
```dockerfile
RUN yum install -y httpd && yum clean all
```
"#,
    check,
};

const YUM: Manager = Manager {
    programs: &["yum"],
    installs: &["install", "groupinstall", "localinstall", "update", "upgrade", "reinstall"],
    cleans: &["clean"],
    cache: "/var/cache/yum",
    help: "end the same RUN with `yum clean all`",
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    check_manager(cx, out, &YUM);
}
