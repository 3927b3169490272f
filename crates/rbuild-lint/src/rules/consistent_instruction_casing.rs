//! RB103: instruction keywords in mixed case.

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB103",
    name: "consistent-instruction-casing",
    severity: Severity::Warning,
    aliases: &["ConsistentInstructionCasing"],
    summary: "Instruction keywords should all be upper case or all lower case",
    docs: r#"## What it does
Finds whether most instruction keywords of the file are upper or lower case,
and flags the keywords written otherwise (mixed-case keywords always).

## Why is this bad
Keywords are case-insensitive, but a file that mixes `RUN` and `run` is harder
to read and to search.

## Example
```dockerfile
FROM alpine:3.20
run apk add --no-cache curl
```

## Use instead
```dockerfile
FROM alpine:3.20
RUN apk add --no-cache curl
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let keywords: Vec<_> = cx.instructions().iter().map(|i| (&i.keyword, i.keyword_span)).collect();
    let upper = keywords.iter().filter(|(k, _)| **k == k.to_ascii_uppercase()).count();
    let lower = keywords.iter().filter(|(k, _)| **k == k.to_ascii_lowercase()).count();
    let majority_upper = upper >= lower;
    for (keyword, span) in keywords {
        let fits = if majority_upper {
            *keyword == keyword.to_ascii_uppercase()
        } else {
            *keyword == keyword.to_ascii_lowercase()
        };
        if !fits {
            let (case, fixed) = if majority_upper {
                ("upper", keyword.to_ascii_uppercase())
            } else {
                ("lower", keyword.to_ascii_lowercase())
            };
            out.add(
                span.range(),
                format!("`{keyword}` does not match the {case}-case keywords of this file"),
            )
            .help(format!("write `{fixed}`"));
        }
    }
}
