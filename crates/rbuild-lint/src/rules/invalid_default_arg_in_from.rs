//! RB112: a FROM that is no valid image reference with the ARG defaults.

use std::collections::HashMap;

use rbuild_syntax::{Arguments, Keyword, ShellLexer};

use super::vars::{PLATFORM_DEFAULTS, global_args};
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB112",
    name: "invalid-default-arg-in-from",
    severity: Severity::Error,
    aliases: &["InvalidDefaultArgInFrom"],
    summary: "With the ARG defaults, the FROM image is empty or not a valid reference",
    docs: r#"## What it does
Expands the image of each FROM with the defaults of the global ARGs, as a
build without `--build-arg` does, and flags results that are empty or not a
valid image reference.

## Why is this bad
The build fails unless every caller passes the right `--build-arg`; a default
that works documents the expected value and keeps plain `docker build`
working.

## Example
```dockerfile
ARG TAG
FROM alpine:${TAG}
```

## Use instead
```dockerfile
ARG TAG=3.20
FROM alpine:${TAG}
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let globals = global_args(cx);
    let mut env: HashMap<&str, &str> = PLATFORM_DEFAULTS.iter().copied().collect();
    env.extend(globals.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?))));
    let lexer = ShellLexer::new(cx.dockerfile().escape);
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::From) {
        let Arguments::Values(args) = &inst.args else { continue };
        let Some(image) = args.first().filter(|a| a.value.contains('$')) else { continue };
        let Ok(value) = lexer.process_word(&image.value, &env) else { continue };
        if !valid_reference(&value) {
            let shown =
                if value.is_empty() { "an empty name".to_owned() } else { format!("`{value}`") };
            out.add(image.span.range(), format!("with the ARG defaults, the image is {shown}"))
                .help("give the ARGs it uses defaults that make a valid image reference");
        }
    }
}

/// `[domain/]path[:tag][@algo:hex]`, as the distribution reference grammar
/// allows.
pub(super) fn valid_reference(reference: &str) -> bool {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let Some((algo, hex)) = digest.split_once(':') else { return false };
        if algo.is_empty() || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
    }
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last..].split_once(':') {
        Some((_, tag)) => (&rest[..last + rest[last..].find(':').unwrap_or(0)], Some(tag)),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !ok {
            return false;
        }
    }
    if name.is_empty() {
        return false;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let domain = parts.remove(0);
        if !domain.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':')) {
            return false;
        }
    }
    parts.iter().all(|p| {
        !p.is_empty()
            && p.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
            })
            && p.as_bytes()[0].is_ascii_alphanumeric()
            && p.as_bytes()[p.len() - 1].is_ascii_alphanumeric()
    })
}

#[cfg(test)]
mod tests {
    use super::valid_reference;

    #[test]
    fn references_follow_the_distribution_grammar() {
        for ok in [
            "alpine",
            "alpine:3.20",
            "docker.io/library/alpine:3",
            "localhost:5000/a/b:c",
            "a@sha256:0123456789abcdef0123456789abcdef",
        ] {
            assert!(valid_reference(ok), "{ok}");
        }
        for bad in ["", "alpine:", "Alpine", "a//b", "alpine:-x", "a@sha256:", "-a"] {
            assert!(!valid_reference(bad), "{bad}");
        }
    }
}
