//! RB030: FROM without a tag or digest.

use super::image_ref;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB030",
    name: "untagged-image",
    severity: Severity::Warning,
    aliases: &["DL3006"],
    summary: "FROM without a tag or digest",
    docs: r#"## What it does
Flags a FROM whose image has neither a tag nor a digest. `scratch`, earlier
stages and references built from variables are left alone.

## Why is this bad
An untagged image means `latest`: whatever was pushed last. Builds stop being
reproducible and break when the image's next major version lands.

## Example
```dockerfile
FROM python
```

## Use instead
```dockerfile
FROM python:3.13-slim
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (image, arg) in image_ref::external_images(cx) {
        if image.tag.is_none() && image.digest.is_none() {
            out.add(
                arg.span.range(),
                format!("`{}` has no tag; it means whatever `latest` is today", arg.value),
            )
            .help("pin a tag, or a digest");
        }
    }
}
