//! RB106: FROM refers to an ARG that was never declared.

use std::collections::HashMap;

use rbuild_syntax::{Arguments, Keyword, ShellLexer};

use super::vars::global_args;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB106",
    name: "undefined-arg-in-from",
    severity: Severity::Warning,
    aliases: &["UndefinedArgInFrom"],
    summary: "FROM uses a variable that no ARG before the first FROM declares",
    docs: r#"## What it does
Flags a variable in a FROM line (the image or `--platform`) that is neither
declared by an ARG before the first FROM nor one of BuildKit's predefined
arguments.

## Why is this bad
Only global ARGs reach FROM lines. An undeclared variable expands to nothing,
so `FROM node:${NODE_VERSION}` quietly becomes `FROM node:` or pulls something
else than meant.

## Example
```dockerfile
FROM node:${NODE_VERSION}-alpine
```

## Use instead
```dockerfile
ARG NODE_VERSION=22
FROM node:${NODE_VERSION}-alpine
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let globals = global_args(cx);
    let predefined = rbuild_llb::predefined_args();
    let mut env: HashMap<&str, &str> = predefined.iter().map(|n| (n.as_str(), "x")).collect();
    env.extend(globals.iter().map(|(k, v)| (k.as_str(), v.as_deref().unwrap_or(""))));
    let lexer = ShellLexer::new(cx.dockerfile().escape);
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::From) {
        let Arguments::Values(args) = &inst.args else { continue };
        let mut words: Vec<(&str, std::ops::Range<usize>)> =
            args.first().map(|a| (a.value.as_str(), a.span.range())).into_iter().collect();
        for flag in inst.flags.iter().filter(|f| f.name == "platform") {
            words.push((flag.value.as_deref().unwrap_or_default(), flag.span.range()));
        }
        for (word, range) in words {
            let Ok(expansion) = lexer.process_word_with_matches(word, &env) else { continue };
            for name in &expansion.unmatched {
                out.add(
                    range.clone(),
                    format!("`{name}` is not declared by an ARG before the first FROM"),
                )
                .help(format!("add `ARG {name}=…` at the top of the Dockerfile"));
            }
        }
    }
}
