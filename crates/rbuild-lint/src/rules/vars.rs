//! Build arguments and variables: which names are defined where.

use std::collections::HashMap;

use rbuild_syntax::{Arguments, Instruction, Keyword, ShellLexer};

use crate::context::Context;

/// Values for the platform arguments when a FROM line is resolved without a
/// build: any real platform gives the same shape of reference.
pub(crate) const PLATFORM_DEFAULTS: &[(&str, &str)] = &[
    ("BUILDPLATFORM", "linux/amd64"),
    ("BUILDOS", "linux"),
    ("BUILDARCH", "amd64"),
    ("TARGETPLATFORM", "linux/amd64"),
    ("TARGETOS", "linux"),
    ("TARGETARCH", "amd64"),
];

/// The names and defaults an ARG or ENV declares; `None` for an ARG
/// without a default.
pub(crate) fn declared(inst: &Instruction) -> Vec<(&str, Option<&str>)> {
    match (&inst.kind, &inst.args) {
        (Keyword::Env | Keyword::Arg, Arguments::Pairs(pairs)) => {
            pairs.iter().map(|p| (p.key.value.as_str(), Some(p.value.value.as_str()))).collect()
        }
        (Keyword::Arg, Arguments::Values(args)) => args
            .iter()
            .map(|a| match a.value.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (a.value.as_str(), None),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The global ARGs (before the first FROM) with their defaults expanded as
/// BuildKit would without `--build-arg`; declared-without-default ones map to
/// `None`.
pub(super) fn global_args(cx: &Context<'_>) -> HashMap<String, Option<String>> {
    let lexer = ShellLexer::new(cx.dockerfile().escape);
    let mut args: HashMap<String, Option<String>> = HashMap::new();
    for inst in cx.instructions().iter().take_while(|i| i.kind != Keyword::From) {
        if inst.kind != Keyword::Arg {
            continue;
        }
        for (name, value) in declared(inst) {
            let value = value.map(|v| {
                let env: HashMap<&str, &str> =
                    args.iter().filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?))).collect();
                lexer.process_word(v, &env).unwrap_or_else(|_| v.to_owned())
            });
            args.insert(name.to_owned(), value);
        }
    }
    args
}
