//! RB108: a variable used in an instruction before anything defines it.

use std::collections::HashMap;

use rbuild_syntax::{Arguments, Instruction, Keyword, ShellLexer};

use super::vars::declared;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB108",
    name: "undefined-var",
    severity: Severity::Warning,
    aliases: &["UndefinedVar"],
    summary: "A variable is used before any ARG or ENV of the stage defines it",
    docs: r#"## What it does
Looks at the instructions the builder expands (ADD, COPY, ENV, EXPOSE, LABEL,
STOPSIGNAL, USER, VOLUME, WORKDIR) and flags a variable that no ARG or ENV of
the stage (or the stages it is built on) defines. Without the base image at
hand, a variable its config may set is only reported when it looks like a typo
of a defined one, or when the stage starts from `scratch`.

## Why is this bad
An undefined variable expands to an empty string without an error, so
`COPY app /opt/$APP_VERSON/` copies to `/opt//`.

## Example
```dockerfile
ARG APP_VERSION=1.2
COPY app /opt/$APP_VERSON/
```

## Use instead
```dockerfile
ARG APP_VERSION=1.2
COPY app /opt/$APP_VERSION/
```
"#,
    check,
};

fn expanded(kind: Keyword) -> bool {
    matches!(
        kind,
        Keyword::Add
            | Keyword::Copy
            | Keyword::Env
            | Keyword::Expose
            | Keyword::Label
            | Keyword::Stopsignal
            | Keyword::User
            | Keyword::Volume
            | Keyword::Workdir
    )
}

/// The words the builder expands, with where they are.
fn words(inst: &Instruction) -> Vec<(&str, std::ops::Range<usize>)> {
    let mut out: Vec<_> = inst
        .flags
        .iter()
        .filter(|f| matches!(f.name.as_str(), "chown" | "chmod"))
        .filter_map(|f| Some((f.value.as_deref()?, f.span.range())))
        .collect();
    match &inst.args {
        Arguments::Values(args) if !inst.json || inst.kind != Keyword::Volume => {
            out.extend(
                args.iter()
                    .filter(|a| !a.value.starts_with("<<"))
                    .map(|a| (a.value.as_str(), a.span.range())),
            );
        }
        Arguments::Pairs(pairs) => {
            out.extend(pairs.iter().map(|p| (p.value.value.as_str(), p.value.span.range())));
        }
        _ => {}
    }
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Variables base images commonly set: never taken for typos.
const COMMON_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "HOSTNAME",
    "LANG",
    "LC_ALL",
    "TERM",
    "PWD",
    "SHELL",
    "LD_LIBRARY_PATH",
    "TZ",
];

fn similar<'n>(name: &str, defined: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    if COMMON_ENV.contains(&name) {
        return None;
    }
    // One edit in a short name, two in a longer one.
    let allowed = if name.len() >= 6 { 2 } else { 1 };
    defined
        .filter(|d| *d != name)
        .map(|d| (d, if d.eq_ignore_ascii_case(name) { 0 } else { edit_distance(d, name) }))
        .filter(|(d, dist)| *dist == 0 || (*dist <= allowed && d.len() >= 4 && name.len() >= 4))
        .min_by_key(|(_, dist)| *dist)
        .map(|(d, _)| d)
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let lexer = ShellLexer::new(cx.dockerfile().escape);
    let mut finals: Vec<HashMap<String, String>> = Vec::with_capacity(cx.stages().len());
    for stage in cx.stages() {
        let mut defined: HashMap<String, String> = match stage.base_stage {
            Some(b) => finals[b].clone(),
            None => rbuild_llb::predefined_args().into_iter().map(|n| (n, String::new())).collect(),
        };
        let mut root = stage;
        while let Some(b) = root.base_stage {
            root = &cx.stages()[b];
        }
        let from_scratch = root.image.eq_ignore_ascii_case("scratch");
        for inst in &cx.instructions()[stage.from + 1..stage.end] {
            if expanded(inst.kind) {
                for (word, range) in words(inst) {
                    if !word.contains('$') {
                        continue;
                    }
                    let Ok(expansion) = lexer.process_word_with_matches(word, &defined) else {
                        continue;
                    };
                    for name in &expansion.unmatched {
                        let hint = similar(name, defined.keys().map(String::as_str));
                        if !from_scratch && hint.is_none() {
                            continue;
                        }
                        let d = out.add(range.clone(), format!("`{name}` is not defined here"));
                        if let Some(hint) = hint {
                            d.help(format!("did you mean `{hint}`?"));
                        } else {
                            d.help(format!("declare it with `ARG {name}` or `ENV {name}=…` first"));
                        }
                    }
                }
            }
            if matches!(inst.kind, Keyword::Arg | Keyword::Env) {
                for (name, value) in declared(inst) {
                    defined.insert(name.to_owned(), value.unwrap_or_default().to_owned());
                }
            }
        }
        finals.push(defined);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typos_are_near() {
        assert_eq!(super::edit_distance("APP_VERSON", "APP_VERSION"), 1);
        assert_eq!(
            super::similar("APP_VERSON", ["APP_VERSION", "HOME"].into_iter()),
            Some("APP_VERSION")
        );
        assert_eq!(super::similar("PATH", ["HOME"].into_iter()), None);
        assert_eq!(super::similar("PATH", ["GOPATH"].into_iter()), None);
        assert_eq!(super::similar("GOPAHT", ["GOPATH"].into_iter()), Some("GOPATH"));
    }
}
