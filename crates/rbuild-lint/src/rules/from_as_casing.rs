//! RB101: `as` written in another case than `FROM`.

use rbuild_syntax::{Arguments, Keyword};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB101",
    name: "from-as-casing",
    severity: Severity::Warning,
    aliases: &["FromAsCasing"],
    summary: "The `AS` keyword should match the case of `FROM`",
    docs: r#"## What it does
Flags `FROM image as name` and `from image AS name`: the `AS` keyword in another case than the FROM keyword.

## Why is this bad
Both work, but mixed casing on one line makes the Dockerfile harder to scan and to search.

## Example
```dockerfile
FROM alpine:3.20 as base
```

## Use instead
```dockerfile
FROM alpine:3.20 AS base
```
"#,
    check,
};

fn is_upper(word: &str) -> bool {
    word == word.to_ascii_uppercase()
}

fn is_lower(word: &str) -> bool {
    word == word.to_ascii_lowercase()
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::From) {
        let Arguments::Values(args) = &inst.args else { continue };
        let Some(as_word) =
            args.get(1).filter(|a| args.len() == 3 && a.value.eq_ignore_ascii_case("as"))
        else {
            continue;
        };
        let (from, word) = (inst.keyword.as_str(), as_word.value.as_str());
        if (is_upper(from) && !is_upper(word)) || (is_lower(from) && !is_lower(word)) {
            out.add(as_word.span.range(), format!("`{word}` does not match the case of `{from}`"))
                .help(if is_upper(from) { "write `AS`" } else { "write `as`" });
        }
    }
}
