//! RB114: `EXPOSE 80/TCP`.

use rbuild_syntax::{Arguments, Keyword};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB114",
    name: "expose-proto-casing",
    severity: Severity::Warning,
    aliases: &["ExposeProtoCasing"],
    summary: "The protocol of EXPOSE should be lower case",
    docs: r#"## What it does
Flags EXPOSE ports whose protocol is not lower case (`80/TCP`).

## Why is this bad
Tools that read the image config compare protocols as written; `TCP` is not
`tcp` to all of them.

## Example
```dockerfile
EXPOSE 80/TCP
```

## Use instead
```dockerfile
EXPOSE 80/tcp
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::Expose) {
        let Arguments::Values(args) = &inst.args else { continue };
        for arg in args {
            let Some((_, proto)) = arg.value.split_once('/') else { continue };
            if proto != proto.to_ascii_lowercase() && !proto.contains('$') {
                out.add(arg.span.range(), format!("protocol `{proto}` should be lower case"))
                    .help(format!("write `{}`", arg.value.to_ascii_lowercase()));
            }
        }
    }
}
