//! RB032: the deprecated MAINTAINER instruction.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB032",
    name: "maintainer-deprecated",
    severity: Severity::Warning,
    aliases: &["DL4000", "MaintainerDeprecated"],
    summary: "MAINTAINER is deprecated; use a LABEL",
    docs: r#"## What it does
Flags every MAINTAINER instruction.

## Why is this bad
MAINTAINER has been deprecated since Docker 1.13. It only sets the image's
`author` field, which few tools read; labels are where metadata is looked for.

## Example
```dockerfile
MAINTAINER Jane Doe <jane@example.com>
```

## Use instead
```dockerfile
LABEL org.opencontainers.image.authors="jane@example.com"
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::Maintainer) {
        out.add(inst.span.range(), "MAINTAINER is deprecated")
            .help("use `LABEL org.opencontainers.image.authors=\"…\"`");
    }
}
