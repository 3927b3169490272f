//! RB115: EXPOSE with an address or a host port.

use rbuild_syntax::{Arguments, Keyword};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB115",
    name: "expose-invalid-format",
    severity: Severity::Warning,
    aliases: &["ExposeInvalidFormat"],
    summary: "EXPOSE takes container ports only, not an IP or a host port",
    docs: r#"## What it does
Flags EXPOSE arguments with an IP address or a `host:container` mapping.

## Why is this bad
EXPOSE only documents container ports; the host side is chosen by
`docker run -p`. BuildKit drops the extra parts, so the instruction does not
do what it says.

## Example
```dockerfile
EXPOSE 0.0.0.0:8080:80
```

## Use instead
```dockerfile
EXPOSE 80
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::Expose) {
        let Arguments::Values(args) = &inst.args else { continue };
        for arg in args.iter().filter(|a| a.value.contains(':') && !a.value.contains('$')) {
            out.add(arg.span.range(), format!("`{}` maps a host address or port", arg.value))
                .help("expose the container port alone and publish it with `docker run -p`");
        }
    }
}
