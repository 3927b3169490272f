//! What every rule receives: the Dockerfile, its stages, the shell scripts
//! of its RUN, CMD and ENTRYPOINT instructions, and, once an image has been
//! built, facts about its layers.

use std::collections::HashMap;

use rbuild_syntax::{Arguments, Dockerfile, Instruction, Keyword, ShellLexer};

use crate::rules::vars::{PLATFORM_DEFAULTS, declared};

use crate::script::{Command, Script, Sep, Word, basename};

/// Facts about the layers of a built image, for rules that can only be
/// decided by looking at the result (sizes, files that shadow each other).
/// Image analysis fills it in; linting a Dockerfile alone leaves it absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerFacts {}

/// A build stage: a FROM and the instructions up to the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Index of the FROM instruction.
    pub from: usize,
    /// One past the index of the stage's last instruction.
    pub end: usize,
    /// The name after `AS`, as written.
    pub name: Option<String>,
    /// The image reference, as written.
    pub image: String,
    /// The earlier stage this one is built on, if its image names one
    /// (after expanding global ARG defaults, for the platform `linux/amd64`).
    pub base_stage: Option<usize>,
    /// Whether the stage's filesystem ends up in the final image: the last
    /// stage and every stage it is built `FROM`, not stages only copied from.
    pub shipped: bool,
}

/// The input of every rule.
pub struct Context<'a> {
    source: &'a str,
    dockerfile: &'a Dockerfile,
    stages: Vec<Stage>,
    scripts: Vec<Option<Script>>,
    layers: Option<&'a LayerFacts>,
}

impl<'a> Context<'a> {
    /// Prepares the facts rules share, once per file.
    pub fn new(
        source: &'a str,
        dockerfile: &'a Dockerfile,
        layers: Option<&'a LayerFacts>,
    ) -> Self {
        let stages = stages(dockerfile);
        let scripts = dockerfile
            .instructions
            .iter()
            .map(|inst| script(source, dockerfile.escape, inst))
            .collect();
        Self { source, dockerfile, stages, scripts, layers }
    }

    /// The Dockerfile text.
    pub fn source(&self) -> &'a str {
        self.source
    }

    /// The parsed Dockerfile.
    pub fn dockerfile(&self) -> &'a Dockerfile {
        self.dockerfile
    }

    /// The instructions in source order.
    pub fn instructions(&self) -> &'a [Instruction] {
        &self.dockerfile.instructions
    }

    /// The build stages in source order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The stage instruction `index` belongs to; `None` before the first FROM.
    pub fn stage_of(&self, index: usize) -> Option<&Stage> {
        self.stages.iter().find(|s| s.from <= index && index < s.end)
    }

    /// The shell script of a RUN, CMD or ENTRYPOINT instruction.
    pub fn script(&self, index: usize) -> Option<&Script> {
        self.scripts.get(index).and_then(Option::as_ref)
    }

    /// Layer facts of a built image, when the lint runs after a build.
    pub fn layers(&self) -> Option<&'a LayerFacts> {
        self.layers
    }

    /// Whether a RUN has a cache or tmpfs mount at `path` or above it, so
    /// what the command leaves there never reaches the layer.
    pub fn mounts_cache_at(&self, index: usize, path: &str) -> bool {
        let Some(inst) = self.instructions().get(index) else { return false };
        inst.flags.iter().filter(|f| f.name == "mount").filter_map(|f| f.value.as_deref()).any(
            |spec| {
                let mut kind = "bind";
                let mut target = None;
                for field in spec.split(',') {
                    let (key, value) = field.split_once('=').unwrap_or((field, ""));
                    match key.trim() {
                        "type" => kind = value,
                        "target" | "dst" | "destination" => target = Some(value),
                        _ => {}
                    }
                }
                matches!(kind, "cache" | "tmpfs")
                    && target.is_some_and(|t| path_within(path, t.trim_end_matches('/')))
            },
        )
    }
}

/// Whether `path` is `dir` or below it.
pub(crate) fn path_within(path: &str, dir: &str) -> bool {
    let path = path.trim_end_matches('/');
    path == dir || (path.starts_with(dir) && path[dir.len()..].starts_with('/')) || dir.is_empty()
}

/// The stage name and its position when a FROM reads `image AS name`.
pub(crate) fn stage_name(inst: &Instruction) -> Option<&rbuild_syntax::Arg> {
    match &inst.args {
        Arguments::Values(args) if args.len() == 3 && args[1].value.eq_ignore_ascii_case("as") => {
            Some(&args[2])
        }
        _ => None,
    }
}

/// The global ARG defaults and the platform arguments, to resolve stage
/// references such as `FROM base-${TARGETARCH}`.
fn from_env(dockerfile: &Dockerfile) -> HashMap<String, String> {
    let lexer = ShellLexer::new(dockerfile.escape);
    let mut env: HashMap<String, String> =
        PLATFORM_DEFAULTS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    for inst in dockerfile.instructions.iter().take_while(|i| i.kind != Keyword::From) {
        for (name, value) in declared(inst) {
            let value = value.map(|v| lexer.process_word(v, &env).unwrap_or_else(|_| v.to_owned()));
            env.insert(name.to_owned(), value.unwrap_or_default());
        }
    }
    env
}

fn stages(dockerfile: &Dockerfile) -> Vec<Stage> {
    let instructions = &dockerfile.instructions;
    let env = from_env(dockerfile);
    let lexer = ShellLexer::new(dockerfile.escape);
    let froms: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, inst)| inst.kind == Keyword::From)
        .map(|(i, _)| i)
        .collect();
    let mut stages: Vec<Stage> = Vec::with_capacity(froms.len());
    for (n, &from) in froms.iter().enumerate() {
        let inst = &instructions[from];
        let image = match &inst.args {
            Arguments::Values(args) => args.first().map(|a| a.value.clone()).unwrap_or_default(),
            _ => String::new(),
        };
        let resolved = if image.contains('$') {
            lexer.process_word(&image, &env).unwrap_or_else(|_| image.clone())
        } else {
            image.clone()
        };
        let base_stage = stages.iter().rposition(|s: &Stage| {
            s.name.as_deref().is_some_and(|name| name.eq_ignore_ascii_case(&resolved))
        });
        stages.push(Stage {
            from,
            end: froms.get(n + 1).copied().unwrap_or(instructions.len()),
            name: stage_name(inst).map(|a| a.value.clone()),
            image,
            base_stage,
            shipped: false,
        });
    }
    let mut next = stages.len().checked_sub(1);
    while let Some(i) = next {
        if stages[i].shipped {
            break;
        }
        stages[i].shipped = true;
        next = stages[i].base_stage;
    }
    stages
}

const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh"];

fn script(source: &str, escape: char, inst: &Instruction) -> Option<Script> {
    if !matches!(inst.kind, Keyword::Run | Keyword::Cmd | Keyword::Entrypoint) {
        return None;
    }
    let Arguments::Values(args) = &inst.args else { return None };
    if inst.json {
        let shell_c = args.len() == 3
            && SHELLS.contains(&basename(&args[0].value))
            && args[1].value.starts_with('-')
            && args[1].value.contains('c');
        if shell_c {
            // Offsets inside a JSON string are close enough: escapes only shrink.
            return Some(Script::from_body(&args[2].value, args[2].span.start + 1));
        }
        let words = args
            .iter()
            .map(|a| Word { text: a.value.clone(), range: a.span.range(), quoted: true })
            .collect::<Vec<_>>();
        let commands = if words.is_empty() {
            vec![]
        } else {
            vec![Command { words, sep: Sep::End, subshell: false }]
        };
        return Some(Script { commands });
    }
    let line = args.first()?;
    let mut script = Script::from_instruction(source, line.span.range(), escape);
    if !inst.heredocs.is_empty() && runs_heredocs_as_script(&script) {
        script = Script::default();
        for heredoc in &inst.heredocs {
            script.extend(Script::from_body(&heredoc.content, heredoc.body_span.start));
        }
    }
    add_shell_c_scripts(&mut script);
    Some(script)
}

/// The scripts of `sh -c '…'` commands, as commands of a subshell: what
/// they install counts, where they `cd` does not leak.
fn add_shell_c_scripts(script: &mut Script) {
    let mut nested = Vec::new();
    for cmd in &script.commands {
        let argv = cmd.effective();
        let is_shell = cmd.program().is_some_and(|p| SHELLS.contains(&p));
        let Some(c) = argv.iter().position(|w| w.text.starts_with('-') && w.text.contains('c'))
        else {
            continue;
        };
        if !is_shell || c == 0 {
            continue;
        }
        if let Some(body) = argv.get(c + 1) {
            // Offsets are close enough: quotes and escapes only shrink the text.
            let start = body.range.start + usize::from(body.quoted);
            let mut inner = Script::from_body(&body.text, start);
            for command in &mut inner.commands {
                command.subshell = true;
            }
            nested.extend(inner.commands);
        }
    }
    script.commands.extend(nested);
}

/// `RUN <<EOF` or `RUN <<EOF bash -e`: the heredoc is the script.
fn runs_heredocs_as_script(line: &Script) -> bool {
    match line.commands.as_slice() {
        [] => true,
        [only] => {
            only.program().is_some_and(|p| SHELLS.contains(&p))
                && only.args().iter().all(|w| w.text.starts_with('-'))
        }
        _ => false,
    }
}
