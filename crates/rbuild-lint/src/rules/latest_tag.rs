//! RB031: FROM with the `latest` tag.

use super::image_ref;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB031",
    name: "latest-tag",
    severity: Severity::Warning,
    aliases: &["DL3007"],
    summary: "FROM with the `latest` tag",
    docs: r#"## What it does
Flags a FROM whose tag is `latest` and that has no digest.

## Why is this bad
`latest` moves: the same Dockerfile builds a different image next month, and a
new major version of the base can break the build or the application.

## Example
```dockerfile
FROM node:latest
```

## Use instead
```dockerfile
FROM node:22-bookworm-slim
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (image, arg) in image_ref::external_images(cx) {
        if image.tag == Some("latest") && image.digest.is_none() {
            out.add(arg.span.range(), format!("`{}` follows the `latest` tag", arg.value))
                .help("pin a version tag, or a digest");
        }
    }
}
