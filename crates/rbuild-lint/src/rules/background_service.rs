//! RB003: daemons started in the background, which the container does not keep.

use rbuild_syntax::Keyword;

use crate::context::Context;
use crate::rule::{Findings, Rule, Severity};
use crate::script::{Command, Sep};

pub(crate) static RULE: Rule = Rule {
    code: "RB003",
    name: "background-service",
    severity: Severity::Warning,
    aliases: &[],
    summary: "A service is started in the background; the main process must stay in the foreground",
    docs: r#"## What it does
Flags `service x start`, `systemctl start x`, `/etc/init.d/x start`,
`rc-service`/`invoke-rc.d` starts and a trailing `&` in CMD and ENTRYPOINT, and
a service start that ends a RUN.

## Why is this bad
A container lives as long as its main process. A daemon started in the
background is not supervised, gets no signals from `docker stop`, and its logs
miss stdout. In a RUN, a service started last is killed when the step ends;
nothing of it reaches the image but its pid and lock files.

## Example
```dockerfile
CMD service nginx start && tail -f /dev/null
```

## Use instead
```dockerfile
CMD ["nginx", "-g", "daemon off;"]
```
"#,
    check,
};

/// The service a command starts, if it starts one.
fn started_service(cmd: &Command) -> Option<String> {
    let argv = cmd.effective();
    let word = |i: usize| argv.get(i).map(|w| w.text.as_str());
    let program = cmd.program()?;
    let starts = |verb: Option<&str>| {
        matches!(verb, Some("start" | "restart" | "reload" | "try-restart" | "reload-or-restart"))
    };
    match program {
        "service" | "rc-service" | "invoke-rc.d" if starts(word(2)) => word(1).map(str::to_owned),
        "systemctl" => {
            let verb = cmd.subcommand(&[]).map(|w| w.text.as_str());
            let now = cmd.has_option("now", None) && verb == Some("enable");
            (starts(verb) || now).then(|| {
                argv.iter()
                    .skip(2)
                    .find(|w| !w.text.starts_with('-'))
                    .map_or_else(|| "a unit".to_owned(), |w| w.text.clone())
            })
        }
        _ if argv.first()?.text.starts_with("/etc/init.d/") && starts(word(1)) => {
            Some(program.to_owned())
        }
        _ => None,
    }
}

fn check(cx: &Context<'_>, out: &mut Findings<'_>) {
    for (i, inst) in cx.instructions().iter().enumerate() {
        let Some(script) = cx.script(i) else { continue };
        let top: Vec<&Command> = script.top_level().collect();
        match inst.kind {
            Keyword::Cmd | Keyword::Entrypoint => {
                for cmd in &top {
                    if let Some(service) = started_service(cmd) {
                        out.add(
                            cmd.range(),
                            format!(
                                "{} starts {service} as a background daemon",
                                inst.kind.as_str()
                            ),
                        )
                        .help("run the service's own foreground command as the main process");
                    }
                }
                if let Some(last) = top.last().filter(|c| c.sep == Sep::Background) {
                    out.add(
                        last.range(),
                        format!(
                            "the last command of {} runs in the background",
                            inst.kind.as_str()
                        ),
                    )
                    .help("drop the `&`: the container stops when its main process exits");
                }
            }
            Keyword::Run => {
                if let Some(last) = top.last()
                    && let Some(service) = started_service(last)
                {
                    out.add(
                        last.range(),
                        format!("{service} is started at the end of a RUN and stopped with it"),
                    )
                    .help("start services from CMD or ENTRYPOINT, in the foreground");
                }
            }
            _ => {}
        }
    }
}
