//! RB020: ADD where COPY does the same.

use rbuild_syntax::{Arguments, Keyword};

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB020",
    name: "add-instead-of-copy",
    severity: Severity::Warning,
    aliases: &["DL3020"],
    summary: "ADD of local files or folders; COPY does the same, without surprises",
    docs: r#"## What it does
Flags an ADD whose sources are all local paths or heredocs that are not
archives, and that uses none of ADD's own flags (`--checksum`,
`--keep-git-dir`, `--unpack`). URLs, git repositories, archives and sources
built from variables are left alone.

## Why is this bad
ADD also downloads URLs and unpacks local tar archives, so a reader has to
check which of the three it does. With plain files it does what COPY does, and
COPY says so.

## Example
```dockerfile
ADD requirements.txt /app/
```

## Use instead
```dockerfile
COPY requirements.txt /app/
```
"#,
    check,
};

/// Names ADD may unpack: tar, possibly compressed.
pub(super) const ARCHIVE_SUFFIXES: &[&str] = &[
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tbz",
    ".tbz2",
    ".tar.xz",
    ".txz",
    ".tar.zst",
    ".tzst",
    ".tar.lz",
    ".tar.lzma",
    ".tlz",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".lz",
    ".lzma",
    ".z",
];

pub(super) fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    ARCHIVE_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

pub(super) fn is_remote(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    ["http://", "https://", "git@", "git://", "ssh://"].iter().any(|p| lower.starts_with(p))
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for inst in cx.instructions().iter().filter(|i| i.kind == Keyword::Add) {
        if ["checksum", "keep-git-dir", "unpack"].iter().any(|f| inst.flag(f).is_some()) {
            continue;
        }
        let Arguments::Values(args) = &inst.args else { continue };
        let Some((_, sources)) = args.split_last() else { continue };
        let needs_add = sources.iter().any(|s| {
            let v = s.value.as_str();
            is_remote(v) || is_archive(v) || v.contains('$')
        });
        if !needs_add && !sources.is_empty() {
            out.add(inst.keyword_span.range(), "ADD copies local files here, as COPY would")
                .help("use COPY; keep ADD for URLs, git sources and archives to unpack");
        }
    }
}
