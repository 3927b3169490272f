//! RB014: `pip install` that keeps its download cache.

use rbuild_syntax::{Arguments, Keyword};

use super::runs;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};
use crate::script::Command;

pub(crate) static RULE: Rule = Rule {
    code: "RB014",
    name: "pip-cache-kept",
    severity: Severity::Info,
    aliases: &["DL3042"],
    summary: "`pip install` without `--no-cache-dir`",
    docs: r#"## What it does
Flags `pip install` (also `pip3`, `python -m pip`) without `--no-cache-dir`,
unless `PIP_NO_CACHE_DIR` is set or a cache mount covers `~/.cache/pip`.

## Why is this bad
pip keeps every wheel it downloaded or built under `~/.cache/pip`; in an
image that cache is dead weight.

## Example
```dockerfile
RUN pip install requests
```

## Use instead
```dockerfile
RUN pip install --no-cache-dir requests
```
"#,
    check,
};

/// `pip`, `pip3`, `pip3.12`; not `pipx` or `pipenv`.
fn is_pip(name: &str) -> bool {
    name.strip_prefix("pip").is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

fn is_pip_install(cmd: &Command) -> bool {
    let argv = cmd.effective();
    let Some(program) = cmd.program() else { return false };
    let rest = if is_pip(program) {
        &argv[1..]
    } else if program.starts_with("python")
        && argv.get(1).is_some_and(|w| w.text == "-m")
        && argv.get(2).is_some_and(|w| is_pip(&w.text))
    {
        &argv[3..]
    } else {
        return false;
    };
    rest.iter().find(|w| !w.text.starts_with('-')).is_some_and(|w| w.text == "install")
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    let env_off = cx.instructions().iter().any(|inst| {
        matches!(inst.kind, Keyword::Env | Keyword::Arg)
            && match &inst.args {
                Arguments::Pairs(pairs) => pairs.iter().any(|p| p.key.value == "PIP_NO_CACHE_DIR"),
                Arguments::Values(args) => {
                    args.iter().any(|a| a.value.starts_with("PIP_NO_CACHE_DIR"))
                }
                Arguments::Nested(_) => false,
            }
    });
    if env_off {
        return;
    }
    for (i, _, script) in runs(cx) {
        if cx.mounts_cache_at(i, "/root/.cache/pip") {
            continue;
        }
        for cmd in &script.commands {
            let inline_off = cmd.words.iter().any(|w| w.text.starts_with("PIP_NO_CACHE_DIR="));
            if is_pip_install(cmd) && !inline_off && !cmd.has_option("no-cache-dir", None) {
                out.add(cmd.range(), "pip keeps its download cache in the layer")
                    .help("add `--no-cache-dir`");
            }
        }
    }
}
