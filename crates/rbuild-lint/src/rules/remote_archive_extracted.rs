//! RB021: an archive ADDed from a URL and unpacked by a later RUN.

use rbuild_syntax::{Arguments, Keyword};

use super::add_instead_of_copy::{is_archive, is_remote};
use super::runs;
use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};
use crate::script::basename;

pub(crate) static RULE: Rule = Rule {
    code: "RB021",
    name: "remote-archive-extracted-later",
    severity: Severity::Warning,
    aliases: &[],
    summary: "An archive ADDed from a URL is unpacked by a later RUN; the archive stays in the image",
    docs: r#"## What it does
Flags `ADD https://…/x.tar.gz /dst/` when a later RUN of the same stage unpacks
the downloaded file (`tar -x`, `unzip`, `gunzip`, …).

## Why is this bad
ADD stores the archive in its own layer. Unpacking it in a later RUN adds the
unpacked files in another layer, and deleting the archive there does not take
its bytes out of the first: the image carries both.

## Example
```dockerfile
ADD https://example.com/tool-1.2.tar.gz /tmp/
RUN tar -xzf /tmp/tool-1.2.tar.gz -C /opt && rm /tmp/tool-1.2.tar.gz
```

## Use instead
```dockerfile
RUN curl -fsSL https://example.com/tool-1.2.tar.gz | tar -xz -C /opt
```
"#,
    check,
};

const UNPACKERS: &[&str] =
    &["tar", "unzip", "gunzip", "bunzip2", "unxz", "xz", "zstd", "bsdtar", "7z"];

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (i, inst) in cx.instructions().iter().enumerate() {
        if inst.kind != Keyword::Add {
            continue;
        }
        let Arguments::Values(args) = &inst.args else { continue };
        let Some((_, sources)) = args.split_last() else { continue };
        let end = cx.stage_of(i).map_or(cx.instructions().len(), |s| s.end);
        for source in sources.iter().filter(|s| is_remote(&s.value)) {
            let url = source.value.split(['?', '#']).next().unwrap_or_default();
            let file = basename(url);
            if file.is_empty() || !(is_archive(file) || file.to_ascii_lowercase().ends_with(".zip"))
            {
                continue;
            }
            let unpacked =
                runs(cx).filter(|(j, _, _)| (i + 1..end).contains(j)).find_map(|(_, _, script)| {
                    script.commands.iter().find(|c| {
                        c.program().is_some_and(|p| UNPACKERS.contains(&p))
                            && c.args().iter().any(|w| basename(&w.text) == file)
                    })
                });
            if let Some(cmd) = unpacked {
                let line = out_line(cx, cmd.range().start);
                out.add(
                    source.span.range(),
                    format!(
                        "`{file}` is unpacked on line {line}, but the archive stays in this layer"
                    ),
                )
                .help("download and unpack in one RUN (`curl … | tar -x`), or use `ADD --unpack`");
            }
        }
    }
}

fn out_line(cx: &Context<'_>, offset: usize) -> usize {
    cx.source()[..offset.min(cx.source().len())].bytes().filter(|&b| b == b'\n').count() + 1
}
