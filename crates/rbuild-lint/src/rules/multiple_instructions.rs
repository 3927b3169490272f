//! RB109: several CMD, ENTRYPOINT or HEALTHCHECK in one stage.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};

pub(crate) static RULE: Rule = Rule {
    code: "RB109",
    name: "multiple-instructions-disallowed",
    severity: Severity::Warning,
    aliases: &["MultipleInstructionsDisallowed", "DL4003", "DL4004"],
    summary: "More than one CMD, ENTRYPOINT or HEALTHCHECK in a stage; only the last counts",
    docs: r#"## What it does
Flags every CMD, ENTRYPOINT and HEALTHCHECK of a stage that a later one of the
same kind overrides.

## Why is this bad
Only the last one takes effect. The earlier ones are dead code that suggests
the image does something it does not.

## Example
```dockerfile
CMD ["nginx"]
CMD ["nginx", "-g", "daemon off;"]
```

## Use instead
```dockerfile
CMD ["nginx", "-g", "daemon off;"]
```
"#,
    check,
};

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for stage in cx.stages() {
        let instructions = &cx.instructions()[stage.from..stage.end];
        for kind in [Keyword::Cmd, Keyword::Entrypoint, Keyword::Healthcheck] {
            let all: Vec<_> = instructions.iter().filter(|i| i.kind == kind).collect();
            let Some((last, earlier)) = all.split_last() else { continue };
            for inst in earlier {
                out.add(
                    inst.span.range(),
                    format!(
                        "this {} is overridden by the one on line {}",
                        kind.as_str(),
                        last.start_line
                    ),
                )
                .help(format!("keep one {} per stage", kind.as_str()));
            }
        }
    }
}
