//! RB110: `ENV key value` and `LABEL key value`.

use rbuild_syntax::{Arguments, Keyword, Separator};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB110",
    name: "legacy-key-value-format",
    severity: Severity::Warning,
    aliases: &["LegacyKeyValueFormat"],
    summary: "`ENV key value` is the legacy form; write `ENV key=value`",
    docs: r#"## What it does
Flags ENV and LABEL instructions written as `KEY value` without `=`.

## Why is this bad
The legacy form sets only one variable and takes the rest of the line as its
value, spaces included, so `ENV A 1 B 2` sets `A` to `1 B 2`. It is also
deprecated.

## Example
```dockerfile
ENV PYTHON_VERSION 3.13.1
```

## Use instead
```dockerfile
ENV PYTHON_VERSION=3.13.1
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions() {
        if !matches!(inst.kind, Keyword::Env | Keyword::Label) {
            continue;
        }
        let Arguments::Pairs(pairs) = &inst.args else { continue };
        for pair in pairs.iter().filter(|p| p.separator == Separator::Space) {
            out.add(
                inst.span.range(),
                format!(
                    "`{} {} …` uses the legacy whitespace form",
                    inst.kind.as_str(),
                    pair.key.value
                ),
            )
            .help(format!("write `{} {}=…`", inst.kind.as_str(), pair.key.value));
        }
    }
}
