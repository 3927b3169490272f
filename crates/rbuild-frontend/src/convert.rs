//! AST → plan, after BuildKit's `dockerfile2llb`: meta args, stages and
//! their dependencies, the stages the target needs, then each needed stage
//! dispatched instruction by instruction over a state of env, args,
//! workdir, user and image config.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use rbuild_llb::{
    Chmod, ContainerConfig, Empty, Healthcheck, InlineFile, Mount, NetworkMode, Op, PLATFORM_ARGS,
    Platform, RunMount, SecurityMode, StageRef, Step, StepEnv, csv_fields, is_git, is_http,
    is_predefined_arg, is_proxy_arg, normalize_reference, redact_credentials,
};
use rbuild_syntax::{Arguments, Dockerfile, Heredoc, Instruction, Keyword, ShellLexer, Span};

use crate::error::{FrontendError, Warning};
use crate::flags::Flags;
use crate::options::{BaseImages, BuildOptions};
use crate::plan::{Base, Plan, Stage};

/// The PATH BuildKit puts in the env of a Linux image that has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Args BuildKit reads itself and never puts in a RUN env.
const NON_ENV_ARGS: [&str; 2] = ["BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"];

/// Plans the build of `df` for `opts`, looking base images up in `images`.
///
/// `source` is the text `df` was parsed from; errors carry spans into it,
/// for [`FrontendError::render`].
///
/// Only stages the target needs are dispatched, so an error in a stage
/// nobody needs is not reported (as in BuildKit), except for what BuildKit
/// checks in every stage: instruction names, flags and argument counts.
pub fn plan(
    df: &Dockerfile,
    source: &str,
    opts: &BuildOptions,
    images: &dyn BaseImages,
) -> Result<Plan, FrontendError> {
    let _ = source;
    let mut plan = Planner::new(df, opts, images).run()?;
    let parser =
        df.warnings.iter().map(|w| Warning { message: w.message.clone(), span: Some(w.span) });
    plan.warnings.splice(0..0, parser);
    Ok(plan)
}

/// A FROM and its instructions, before dispatch.
struct RawStage<'a> {
    from: &'a Instruction,
    name: Option<String>,
    base: Base,
    platform: Platform,
    commands: Vec<&'a Instruction>,
    /// Stages and images its COPY --from / RUN --mount from= read, and where.
    deps: Vec<(StageRef, Span)>,
}

struct Planner<'a> {
    df: &'a Dockerfile,
    opts: &'a BuildOptions,
    images: &'a dyn BaseImages,
    lexer: ShellLexer,
    build_args: BTreeMap<String, String>,
    /// Platform args and meta ARGs (before the first FROM), in order.
    global: Vec<(String, String)>,
    /// Build args something consumed.
    used: BTreeSet<String>,
    warnings: Vec<Warning>,
    /// Variables the current instruction used but nobody set (BuildKit's
    /// `UndefinedVar` check), reported once the instruction is done.
    undefined: RefCell<BTreeSet<String>>,
}

/// What a stage knows while its instructions are dispatched (BuildKit's
/// `dispatchState`).
#[derive(Clone, Debug, Default)]
struct State {
    config: ContainerConfig,
    /// The LLB state env: image env plus ARG values, for expansion and RUN.
    env: Vec<(String, String)>,
    /// ARGs declared in scope (inherited from a base stage), with values.
    args: Vec<(String, Option<String>)>,
    workdir: String,
    cmd_set: bool,
    author: Option<String>,
}

impl State {
    fn set_env(&mut self, key: &str, value: &str) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.env.push((key.to_owned(), value.to_owned())),
        }
    }

    fn env_list(&self) -> Vec<String> {
        self.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
    }

    fn shell(&self) -> Vec<String> {
        if self.config.shell.is_empty() {
            vec!["/bin/sh".to_owned(), "-c".to_owned()]
        } else {
            self.config.shell.clone()
        }
    }
}

impl<'a> Planner<'a> {
    fn new(df: &'a Dockerfile, opts: &'a BuildOptions, images: &'a dyn BaseImages) -> Self {
        let build_args = opts
            .build_args
            .iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some((k.clone(), v.clone())),
                None => opts.host_env.get(k).map(|v| (k.clone(), v.clone())),
            })
            .collect();
        Self {
            df,
            opts,
            images,
            lexer: ShellLexer::new(df.escape),
            build_args,
            global: Vec::new(),
            used: BTreeSet::new(),
            warnings: Vec::new(),
            undefined: RefCell::new(BTreeSet::new()),
        }
    }

    fn run(mut self) -> Result<Plan, FrontendError> {
        let (meta, mut stages) = self.split()?;
        let target_name = match &self.opts.target {
            Some(t) => t.clone(),
            None => match arg_values(stages[stages.len() - 1].from).as_slice() {
                [_, (as_word, _), (name, _)] if as_word.eq_ignore_ascii_case("as") => {
                    name.to_ascii_lowercase()
                }
                _ => String::new(),
            },
        };
        self.global = self.platform_args(&target_name);
        self.meta_args(&meta)?;
        self.resolve_froms(&mut stages)?;
        let target = match &self.opts.target {
            None => stages.len() - 1,
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                stages.iter().rposition(|s| s.name.as_deref() == Some(lower.as_str())).ok_or_else(
                    || {
                        let names: Vec<&str> =
                            stages.iter().filter_map(|s| s.name.as_deref()).collect();
                        let known = if names.is_empty() {
                            "the Dockerfile has no named stages".to_owned()
                        } else {
                            format!("stages: {}", names.join(", "))
                        };
                        FrontendError::new(
                            format!("target stage {t:?} could not be found ({known})"),
                            stages.last().map_or(Span::default(), |s| s.from.span),
                        )
                    },
                )?
            }
        };
        for i in 0..stages.len() {
            stages[i].deps = self.deps(&stages, &stages[i].commands)?;
        }
        // The base configs of needed stages, fetched once; their ONBUILD
        // triggers may add dependencies, so reachability is computed again
        // until nothing new appears (BuildKit's resolveStages loop).
        let mut base_configs: BTreeMap<usize, ContainerConfig> = BTreeMap::new();
        let mut trigger_cmds: BTreeMap<usize, Vec<(String, Instruction)>> = BTreeMap::new();
        let needed = loop {
            let needed = reachable(&stages, target);
            let mut grew = false;
            for &i in &needed {
                if trigger_cmds.contains_key(&i) {
                    continue;
                }
                let triggers = match &stages[i].base {
                    Base::Image(reference) => {
                        let config = self.images.config(reference).ok_or_else(|| {
                            FrontendError::new(
                                missing_image(self.images, reference),
                                stages[i].from.span,
                            )
                        })?;
                        let t = config.on_build.clone();
                        base_configs.insert(i, config);
                        t
                    }
                    Base::Stage(j) => onbuild_expressions(&stages[*j].commands),
                    Base::Scratch => Vec::new(),
                };
                let mut parsed = Vec::new();
                for expression in triggers {
                    let inst = parse_trigger(&expression, stages[i].from.span)?;
                    check_instruction(&inst)
                        .map_err(|e| FrontendError::new(e.message(), stages[i].from.span))?;
                    parsed.push((expression, inst));
                }
                let refs: Vec<&Instruction> = parsed.iter().map(|(_, inst)| inst).collect();
                let from_span = stages[i].from.span;
                let mut extra: Vec<(StageRef, Span)> = self
                    .deps(&stages, &refs)
                    .map_err(|e| FrontendError::new(e.message(), from_span))?
                    .into_iter()
                    .map(|(r, _)| (r, from_span))
                    .collect();
                if !extra.is_empty() {
                    grew = true;
                    stages[i].deps.append(&mut extra);
                }
                trigger_cmds.insert(i, parsed);
            }
            if !grew {
                break needed;
            }
        };
        for (i, stage) in stages.iter().enumerate() {
            if !needed.contains(&i) {
                continue;
            }
            for (dep, span) in &stage.deps {
                if let StageRef::Image(reference) = dep
                    && self.images.config(reference).is_none()
                {
                    return Err(FrontendError::new(missing_image(self.images, reference), *span));
                }
            }
        }
        let mut out: Vec<Stage> = Vec::with_capacity(stages.len());
        let mut finals: Vec<Option<State>> = vec![None; stages.len()];
        for (i, raw) in stages.iter().enumerate() {
            let mut stage = Stage {
                index: i,
                name: raw.name.clone(),
                base: raw.base.clone(),
                platform: raw.platform.clone(),
                needed: needed.contains(&i),
                steps: Vec::new(),
                config: ContainerConfig::default(),
                author: None,
                line: raw.from.start_line,
            };
            if stage.needed {
                let mut state = match &raw.base {
                    Base::Stage(j) => {
                        let mut s = finals[*j].clone().ok_or_else(|| {
                            FrontendError::new("base stage was not planned", raw.from.span)
                        })?;
                        s.config.on_build.clear();
                        s.cmd_set = false;
                        s
                    }
                    Base::Image(_) => {
                        let mut config = base_configs.remove(&i).unwrap_or_default();
                        config.on_build.clear();
                        self.base_state(config, raw.from)?
                    }
                    // BuildKit gives an image from scratch the workdir `/`.
                    Base::Scratch => self.base_state(
                        ContainerConfig { working_dir: "/".into(), ..ContainerConfig::default() },
                        raw.from,
                    )?,
                };
                let triggers = trigger_cmds.remove(&i).unwrap_or_default();
                for (_, inst) in &triggers {
                    let step = self
                        .dispatch(&mut state, inst, &stages, i, &finals, Some(raw.from))
                        .map_err(|e| FrontendError::new(e.message(), raw.from.span))?;
                    stage.steps.push(step);
                }
                for inst in &raw.commands {
                    let step = self.dispatch(&mut state, inst, &stages, i, &finals, None)?;
                    stage.steps.push(step);
                }
                stage.config = state.config.clone();
                stage.author = state.author.clone();
                finals[i] = Some(state);
            }
            out.push(stage);
        }
        self.warn_unused();
        for (k, v) in &self.opts.labels {
            out[target].config.labels.insert(k.clone(), v.clone());
        }
        Ok(Plan { stages: out, target, warnings: self.warnings })
    }

    /// Meta ARGs before the first FROM, then the stages; every instruction
    /// checked for a known keyword and its flags.
    fn split(&self) -> Result<(Vec<&'a Instruction>, Vec<RawStage<'a>>), FrontendError> {
        let mut meta = Vec::new();
        let mut stages: Vec<RawStage<'a>> = Vec::new();
        for inst in &self.df.instructions {
            check_instruction(inst)?;
            if inst.kind == Keyword::From {
                stages.push(RawStage {
                    from: inst,
                    name: None,
                    base: Base::Scratch,
                    platform: self.opts.platform.clone(),
                    commands: Vec::new(),
                    deps: Vec::new(),
                });
                continue;
            }
            match stages.last_mut() {
                Some(stage) => stage.commands.push(inst),
                None if inst.kind == Keyword::Arg => meta.push(inst),
                None => {
                    return Err(FrontendError::new(
                        "no build stage in current context",
                        inst.keyword_span,
                    ));
                }
            }
        }
        if stages.is_empty() {
            let span = self.df.instructions.first().map_or(Span::default(), |i| i.span);
            return Err(FrontendError::new("dockerfile contains no stages to build", span));
        }
        Ok((meta, stages))
    }

    /// BuildKit's `defaultArgs`: the platform args and TARGETSTAGE, each
    /// overridable by `--build-arg`.
    fn platform_args(&self, target: &str) -> Vec<(String, String)> {
        let p = &self.opts.platform;
        // In PLATFORM_ARGS's order: the build platform, the target platform
        // (the same: rbuild builds natively), the stage.
        let values = [
            p.to_string(),
            p.os.clone(),
            String::new(),
            p.arch.clone(),
            p.variant.clone(),
            p.to_string(),
            p.os.clone(),
            String::new(),
            p.arch.clone(),
            p.variant.clone(),
            target.to_owned(),
        ];
        PLATFORM_ARGS
            .into_iter()
            .zip(values)
            .map(|(k, v)| {
                let v = self.build_args.get(k).cloned().unwrap_or(v);
                (k.to_owned(), v)
            })
            .collect()
    }

    /// BuildKit's `buildMetaArgs`: a `--build-arg` wins, else the default
    /// expanded with the global args so far; no value leaves it unset.
    fn meta_args(&mut self, meta: &[&Instruction]) -> Result<(), FrontendError> {
        for inst in meta {
            for (key, value, span) in arg_pairs(inst) {
                let value = match self.build_args.get(&key) {
                    Some(v) => Some(v.clone()),
                    None => match value {
                        Some(raw) => {
                            let expansion = self
                                .lexer
                                .process_word_with_matches(&raw, &self.global)
                                .map_err(|e| shell_error(&raw, &e, span))?;
                            self.used.extend(expansion.matched);
                            Some(expansion.value)
                        }
                        None => None,
                    },
                };
                if let Some(value) = value {
                    set_pair(&mut self.global, &key, &value);
                }
            }
        }
        Ok(())
    }

    /// FROM lines: base name and platform expanded with the global args,
    /// `AS name` checked, the base resolved to a stage, scratch or an image.
    fn resolve_froms(&mut self, stages: &mut [RawStage<'a>]) -> Result<(), FrontendError> {
        for i in 0..stages.len() {
            let from = stages[i].from;
            let flags = Flags::parse(from)?;
            let values = arg_values(from);
            let (base_word, base_span) = match values.as_slice() {
                [(w, s)] => (w.clone(), *s),
                [(w, s), (as_word, _), (written, name_span)]
                    if as_word.eq_ignore_ascii_case("as") =>
                {
                    let name = written.to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(FrontendError::new(
                            format!(
                                "invalid name for build stage: {written:?}, name can't start with \
                                 a number or contain symbols"
                            ),
                            *name_span,
                        ));
                    }
                    if stages[..i].iter().any(|s| s.name.as_deref() == Some(name.as_str())) {
                        // BuildKit only lints this; the later stage wins lookups.
                        self.warnings.push(Warning {
                            message: format!(
                                "duplicate stage name {name:?}, stage names should be unique"
                            ),
                            span: Some(*name_span),
                        });
                    }
                    stages[i].name = Some(name);
                    (w.clone(), *s)
                }
                _ => {
                    return Err(FrontendError::new(
                        "FROM requires either one or three arguments",
                        from.span,
                    ));
                }
            };
            let expansion = self
                .lexer
                .process_word_with_matches(&base_word, &self.global)
                .map_err(|e| shell_error(&base_word, &e, base_span))?;
            self.used.extend(expansion.matched);
            let base = expansion.value;
            if base.is_empty() {
                return Err(FrontendError::new(
                    format!("base name ({base_word}) should not be blank"),
                    base_span,
                ));
            }
            if let Some((platform, span)) = flags.string("platform") {
                let expansion = self
                    .lexer
                    .process_word_with_matches(platform, &self.global)
                    .map_err(|e| shell_error(platform, &e, span))?;
                self.used.extend(expansion.matched);
                if expansion.value.is_empty() {
                    return Err(FrontendError::new(
                        format!("empty platform value from expression {platform}"),
                        span,
                    ));
                }
                stages[i].platform = Platform::parse(&expansion.value).ok_or_else(|| {
                    FrontendError::new(format!("failed to parse platform {platform}"), span)
                })?;
            }
            let lower = base.to_ascii_lowercase();
            stages[i].base = if let Some(j) =
                stages[..i].iter().rposition(|s| s.name.as_deref() == Some(&lower))
            {
                Base::Stage(j)
            } else if lower == "scratch" {
                Base::Scratch
            } else {
                Base::Image(normalize_reference(&base).map_err(|e| {
                    FrontendError::new(
                        format!("failed to parse stage name {base:?}: {e}"),
                        base_span,
                    )
                })?)
            };
            // A stage built on a stage has its platform; `--platform` on
            // such a FROM is ignored, as in BuildKit.
            if let Base::Stage(j) = stages[i].base {
                stages[i].platform = stages[j].platform.clone();
            }
        }
        Ok(())
    }

    /// What the instructions of stage `i` read from other stages or images.
    fn deps(
        &self,
        stages: &[RawStage<'a>],
        commands: &[&Instruction],
    ) -> Result<Vec<(StageRef, Span)>, FrontendError> {
        let mut deps = Vec::new();
        for inst in commands {
            match inst.kind {
                Keyword::Copy => {
                    if let Some(flag) = inst.flag("from")
                        && let Some(value) = &flag.value
                    {
                        deps.push((copy_from(stages, value, flag.span)?, flag.span));
                    }
                }
                Keyword::Run => {
                    for flag in inst.flags.iter().filter(|f| f.name == "mount") {
                        let Some(value) = &flag.value else { continue };
                        if let Some(from) = raw_mount_from(value) {
                            if has_variable(&from) {
                                return Err(FrontendError::new(
                                    "'from' doesn't support variable expansion, define alias \
                                     stage instead",
                                    flag.span,
                                ));
                            }
                            deps.push((lookup(stages, &from), flag.span));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(deps)
    }

    /// The state a stage starts with from an image config (or scratch's
    /// empty one): PATH made sure of, workdir normalized.
    fn base_state(
        &self,
        mut config: ContainerConfig,
        from: &Instruction,
    ) -> Result<State, FrontendError> {
        if config.env_value("PATH").is_none() {
            config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        let env = config
            .env
            .iter()
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap_or((e, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let workdir = if config.working_dir.is_empty() {
            "/".to_owned()
        } else {
            normalize_workdir("/", &config.working_dir)
                .map_err(|e| FrontendError::new(e, from.span))?
        };
        if !config.working_dir.is_empty() {
            config.working_dir = workdir.clone();
        }
        Ok(State { config, env, args: Vec::new(), workdir, cmd_set: false, author: None })
    }

    fn expand(&self, state: &State, word: &str, span: Span) -> Result<String, FrontendError> {
        let expansion = self
            .lexer
            .process_word_with_matches(word, &state.env)
            .map_err(|e| shell_error(word, &e, span))?;
        // A declared ARG without a value is not undefined, as in BuildKit;
        // nor are `$1`, `$@` and the like.
        let mut undefined = self.undefined.borrow_mut();
        for name in expansion.unmatched {
            let identifier = name.starts_with(|c: char| c.is_alphabetic() || c == '_');
            if identifier
                && !state.args.iter().any(|(k, _)| *k == name)
                && !NON_ENV_ARGS.contains(&name.as_str())
            {
                undefined.insert(name);
            }
        }
        Ok(expansion.value)
    }

    /// One instruction of a stage (or one ONBUILD trigger when `trigger`
    /// holds the FROM that runs it).
    fn dispatch(
        &mut self,
        state: &mut State,
        inst: &Instruction,
        stages: &[RawStage<'a>],
        index: usize,
        finals: &[Option<State>],
        trigger: Option<&Instruction>,
    ) -> Result<Step, FrontendError> {
        let flags = if inst.kind == Keyword::Healthcheck {
            Flags::parse(inst).unwrap_or_default()
        } else {
            Flags::parse(inst)?
        };
        let (line, end_line, text) = match trigger {
            Some(from) => (from.start_line, from.end_line, format!("ONBUILD {}", inst.original)),
            None => (inst.start_line, inst.end_line, inst.original.clone()),
        };
        let mut history = None;
        let op = match inst.kind {
            Keyword::Env => {
                let Arguments::Pairs(pairs) = &inst.args else { return Err(bad_shape(inst)) };
                if pairs.is_empty() {
                    return Err(FrontendError::new(
                        "ENV requires at least one argument",
                        inst.span,
                    ));
                }
                // Every pair sees the state before the instruction: expand
                // them all first, then set (no copy of the state: a long
                // Dockerfile would pay for it quadratically).
                let mut expanded = Vec::with_capacity(pairs.len());
                for pair in pairs {
                    let key = self.expand(state, &pair.key.value, pair.key.span)?;
                    let value = self.expand(state, &pair.value.value, pair.value.span)?;
                    expanded.push((key, value));
                }
                let mut parts = Vec::new();
                for (key, value) in expanded {
                    state.set_env(&key, &value);
                    state.config.set_env(&key, &value);
                    parts.push(format!("{key}={value}"));
                }
                history = Some(format!("ENV {}", parts.join(" ")));
                Op::Config
            }
            Keyword::Label => {
                let Arguments::Pairs(pairs) = &inst.args else { return Err(bad_shape(inst)) };
                if pairs.is_empty() {
                    return Err(FrontendError::new(
                        "LABEL requires at least one argument",
                        inst.span,
                    ));
                }
                let mut parts = Vec::new();
                for pair in pairs {
                    let key = self.expand(state, &pair.key.value, pair.key.span)?;
                    let value = self.expand(state, &pair.value.value, pair.value.span)?;
                    parts.push(format!("{key}={value}"));
                    state.config.labels.insert(key, value);
                }
                history = Some(format!("LABEL {}", parts.join(" ")));
                Op::Config
            }
            Keyword::Arg => {
                let mut parts = Vec::new();
                let pairs = arg_pairs(inst);
                if pairs.is_empty() {
                    return Err(FrontendError::new(
                        "ARG requires at least one argument",
                        inst.span,
                    ));
                }
                for (key, default, span) in pairs {
                    let given = self.build_args.get(&key).cloned();
                    let mut value = None;
                    if given.is_none() && default.is_none() {
                        value = self
                            .global
                            .iter()
                            .rev()
                            .find(|(k, _)| *k == key)
                            .map(|(_, v)| v.clone());
                    }
                    if let Some(v) = given {
                        value = Some(v);
                    } else if let Some(raw) = default {
                        value = Some(self.expand(state, &raw, span)?);
                    }
                    if let Some(v) = &value
                        && !NON_ENV_ARGS.contains(&key.as_str())
                    {
                        state.set_env(&key, v);
                    }
                    self.used.insert(key.clone());
                    parts.push(match &value {
                        Some(v) => format!("{key}={v}"),
                        None => key.clone(),
                    });
                    state.args.push((key, value));
                }
                history = Some(format!("ARG {}", parts.join(" ")));
                Op::Config
            }
            Keyword::Maintainer => {
                let value = single(inst, "MAINTAINER")?.0;
                state.author = Some(value.clone());
                history = Some(format!("MAINTAINER {value}"));
                Op::Config
            }
            Keyword::User => {
                let (word, span) = single(inst, "USER")?;
                let user = self.expand(state, &word, span)?;
                state.config.user = user.clone();
                history = Some(format!("USER {user}"));
                Op::Config
            }
            Keyword::Workdir => {
                let (word, span) = single(inst, "WORKDIR")?;
                let path = self.expand(state, &word, span)?;
                let wd = normalize_workdir(&state.workdir, &path)
                    .map_err(|e| FrontendError::new(format!("normalizing workdir: {e}"), span))?;
                state.workdir = wd.clone();
                state.config.working_dir = wd.clone();
                history = Some(format!("WORKDIR {wd}"));
                // The directory is made at the clean path; the config keeps
                // an absolute one as written (`/tmp/`), as BuildKit does.
                let dir = clean(&wd);
                if dir == "/" {
                    Op::Config
                } else {
                    Op::Workdir { path: dir, user: state.config.user.clone() }
                }
            }
            Keyword::Expose => {
                let mut values = arg_values(inst);
                values.sort_by(|a, b| a.0.cmp(&b.0));
                if values.is_empty() {
                    return Err(FrontendError::new(
                        "EXPOSE requires at least one argument",
                        inst.span,
                    ));
                }
                let mut ports = Vec::new();
                for (word, span) in values {
                    let words = self
                        .lexer
                        .process_words(&word, &state.env)
                        .map_err(|e| shell_error(&word, &e, span))?;
                    for w in words {
                        ports.extend(port_spec(&w).map_err(|e| FrontendError::new(e, span))?);
                    }
                }
                for p in &ports {
                    state.config.exposed_ports.insert(p.clone(), Empty {});
                }
                history = Some(format!("EXPOSE [{}]", ports.join(" ")));
                Op::Config
            }
            Keyword::Volume => {
                let values = arg_values(inst);
                if values.is_empty() {
                    return Err(FrontendError::new(
                        "VOLUME requires at least one argument",
                        inst.span,
                    ));
                }
                let mut volumes = Vec::new();
                for (word, span) in values {
                    let v = self.expand(state, &word, span)?;
                    if v.is_empty() {
                        return Err(FrontendError::new(
                            "VOLUME specified can not be an empty string",
                            span,
                        ));
                    }
                    state.config.volumes.insert(v.clone(), Empty {});
                    volumes.push(v);
                }
                history = Some(format!("VOLUME [{}]", volumes.join(" ")));
                Op::Config
            }
            Keyword::Stopsignal => {
                let (word, span) = single(inst, "STOPSIGNAL")?;
                let signal = self.expand(state, &word, span)?;
                if !valid_signal(&signal) {
                    return Err(FrontendError::new(format!("Invalid signal: {signal}"), span));
                }
                state.config.stop_signal = signal.clone();
                history = Some(format!("STOPSIGNAL {signal}"));
                Op::Config
            }
            Keyword::Shell => {
                if !inst.json {
                    return Err(FrontendError::new(
                        "SHELL requires the arguments to be in JSON form",
                        inst.span,
                    ));
                }
                let shell: Vec<String> = arg_values(inst).into_iter().map(|(v, _)| v).collect();
                if shell.is_empty() {
                    return Err(FrontendError::new(
                        "SHELL requires at least one argument",
                        inst.span,
                    ));
                }
                history = Some(format!("SHELL [{}]", shell.join(" ")));
                state.config.shell = shell;
                Op::Config
            }
            Keyword::Cmd | Keyword::Entrypoint => {
                let mut args: Vec<String> = arg_values(inst).into_iter().map(|(v, _)| v).collect();
                if !inst.json {
                    let mut shell = state.shell();
                    shell.push(args.join(" "));
                    args = shell;
                }
                let quoted: Vec<String> = args.iter().map(|a| rbuild_syntax::go_quote(a)).collect();
                state.config.args_escaped = true;
                if inst.kind == Keyword::Cmd {
                    history = Some(format!("CMD [{}]", quoted.join(" ")));
                    state.config.cmd = args;
                    state.cmd_set = true;
                } else {
                    history = Some(format!("ENTRYPOINT [{}]", quoted.join(" ")));
                    state.config.entrypoint = args;
                    if !state.cmd_set {
                        state.config.cmd.clear();
                    }
                }
                Op::Config
            }
            Keyword::Healthcheck => {
                let check = healthcheck(inst, &flags)?;
                history = Some(format!("HEALTHCHECK {}", healthcheck_history(&check)));
                state.config.healthcheck = Some(check);
                Op::Config
            }
            Keyword::Onbuild => {
                state.config.on_build.push(onbuild_expression(inst));
                Op::Config
            }
            Keyword::Run => {
                let step = self.exec(state, inst, &flags, stages, index, finals)?;
                history = Some(step.1);
                step.0
            }
            Keyword::Copy | Keyword::Add => {
                let (op, message) = self.copy(state, inst, &flags, stages, index, finals)?;
                history = Some(message);
                op
            }
            Keyword::From | Keyword::Unknown => {
                return Err(FrontendError::new(
                    format!("unknown instruction: {}", inst.keyword),
                    inst.keyword_span,
                ));
            }
        };
        let at = trigger.map_or(inst.span, |from| from.span);
        for name in std::mem::take(self.undefined.get_mut()) {
            self.warnings.push(Warning {
                message: format!("Usage of undefined variable '${name}'"),
                span: Some(at),
            });
        }
        // Credentials in ADD URLs stay out of reports, history and errors.
        let text = redact_credentials(&text).into_owned();
        let history = history.map(|h| redact_credentials(&h).into_owned());
        let after = (!matches!(op, Op::Config)).then(|| StepEnv {
            env: state.env_list(),
            cwd: state.workdir.clone(),
            user: state.config.user.clone(),
            shell: state.shell(),
        });
        Ok(Step { line, end_line, text, history, op, after })
    }

    fn exec(
        &mut self,
        state: &State,
        inst: &Instruction,
        flags: &Flags,
        stages: &[RawStage<'a>],
        index: usize,
        finals: &[Option<State>],
    ) -> Result<(Op, String), FrontendError> {
        let mut args: Vec<String> = arg_values(inst).into_iter().map(|(v, _)| v).collect();
        let mut files = Vec::new();
        let prepend_shell = !inst.json;
        if !inst.heredocs.is_empty() {
            if args.len() != 1 || !prepend_shell {
                return Err(FrontendError::new(
                    format!("parsing produced an invalid run command: {args:?}"),
                    inst.span,
                ));
            }
            let first = &inst.heredocs[0];
            if is_sole_heredoc(&args[0]) {
                let data = if first.chomp { chomp(&first.content) } else { first.content.clone() };
                if data.starts_with("#!") {
                    let path = format!("/dev/pipes/{}", first.name);
                    files.push(InlineFile { path: path.clone(), content: data, mode: 0o755 });
                    args = vec![path];
                } else {
                    args = vec![data];
                }
            } else {
                let mut line = args[0].clone();
                for doc in &inst.heredocs {
                    line.push('\n');
                    line.push_str(&doc.content);
                    line.push_str(&doc.name);
                }
                args = vec![line];
            }
        }
        if prepend_shell {
            let mut shell = state.shell();
            shell.push(args.join(" "));
            args = shell;
        }
        let mut mounts = Vec::new();
        for (value, span) in flags.list("mount") {
            let fields = self.expand_mount(state, value, span)?;
            let spec = RunMount::from_fields(&fields).map_err(|why| {
                FrontendError::new(format!("invalid --mount {value:?}: {why}"), span)
            })?;
            let from = match mount_from(&spec) {
                Some(name) => {
                    let r = lookup(stages, name);
                    check_dispatched(&r, stages, index, finals, name, span)?;
                    Some(r)
                }
                None => None,
            };
            mounts.push(Mount { spec, from });
        }
        let network = match flags.string("network") {
            Some((v, span)) => v.parse::<NetworkMode>().map_err(|e| FrontendError::new(e, span))?,
            None => self.opts.network,
        };
        let security = match flags.string("security") {
            Some((v, span)) => {
                v.parse::<SecurityMode>().map_err(|e| FrontendError::new(e, span))?
            }
            None => SecurityMode::Sandbox,
        };
        let mut proxy_env: Vec<String> = self
            .build_args
            .iter()
            .filter(|(k, _)| is_proxy_arg(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        proxy_env.sort();
        for k in self.build_args.keys() {
            if is_proxy_arg(k) {
                self.used.insert(k.clone());
            }
        }
        let history = format!("RUN {} # buildkit", run_history(&args, state));
        Ok((
            Op::Run {
                args,
                env: state.env_list(),
                proxy_env,
                cwd: state.workdir.clone(),
                user: state.config.user.clone(),
                mounts,
                network,
                security,
                files,
            },
            history,
        ))
    }

    /// Splits a `--mount` into its fields and expands each value except
    /// `from` (which may hold no variable), and resolves the target against
    /// WORKDIR as BuildKit does: a relative or missing target is under the
    /// workdir.
    fn expand_mount(
        &self,
        state: &State,
        value: &str,
        span: Span,
    ) -> Result<Vec<(String, Option<String>)>, FrontendError> {
        let fields = csv_fields(value)
            .map_err(|e| FrontendError::new(format!("invalid --mount {value:?}: {e}"), span))?;
        let mut out = Vec::with_capacity(fields.len());
        let mut kind = "bind".to_owned();
        let mut target = None;
        for field in fields {
            let Some((k, v)) = field.split_once('=') else {
                out.push((field, None));
                continue;
            };
            let key = k.trim().to_ascii_lowercase();
            let v = if key == "from" {
                if has_variable(v) {
                    return Err(FrontendError::new(
                        "'from' doesn't support variable expansion, define alias stage instead",
                        span,
                    ));
                }
                v.to_owned()
            } else {
                self.expand(state, v, span)?
            };
            match key.as_str() {
                "type" => kind = v.to_ascii_lowercase(),
                "target" | "dst" | "destination" => {
                    target = Some(v);
                    continue;
                }
                _ => {}
            }
            out.push((k.to_owned(), Some(v)));
        }
        let target = match (kind.as_str(), target) {
            ("secret" | "ssh", t) => t,
            (_, t) => {
                let t = t.unwrap_or_default();
                let resolved = if t.starts_with('/') {
                    clean(&t)
                } else {
                    clean(&format!("{}/{t}", state.workdir))
                };
                if resolved == "/" {
                    return Err(FrontendError::new(
                        format!("invalid mount target {resolved:?}"),
                        span,
                    ));
                }
                Some(resolved)
            }
        };
        if let Some(t) = target {
            out.push(("target".to_owned(), Some(t)));
        }
        Ok(out)
    }

    fn copy(
        &mut self,
        state: &State,
        inst: &Instruction,
        flags: &Flags,
        stages: &[RawStage<'a>],
        index: usize,
        finals: &[Option<State>],
    ) -> Result<(Op, String), FrontendError> {
        let add = inst.kind == Keyword::Add;
        let name = inst.kind.as_str();
        let values = arg_values(inst);
        let Some(((dest_word, dest_span), srcs)) = values.split_last() else {
            return Err(no_destination(name, inst.span));
        };
        if srcs.is_empty() {
            return Err(no_destination(name, inst.span));
        }
        let mut sources: Vec<(String, Span)> = Vec::new();
        let mut heredocs = Vec::new();
        for (word, span) in srcs {
            if let Some(doc) = heredoc_source(word, &inst.heredocs) {
                let mut content = if doc.chomp { chomp(&doc.content) } else { doc.content.clone() };
                if doc.expand {
                    content = ShellLexer::new('\\')
                        .skip_process_quotes(true)
                        .process_word(&content, &state.env)
                        .map_err(|e| shell_error(&content, &e, doc.body_span))?;
                }
                heredocs.push((doc.name.clone(), content));
            } else {
                let source = self.expand(state, word, *span)?;
                if !add && (is_http(&source) || is_git(&source)) {
                    let what = if is_git(&source) { "a git ref" } else { "a URL" };
                    return Err(FrontendError::new(
                        format!("source can't be {what} for COPY"),
                        *span,
                    ));
                }
                sources.push((source, *span));
            }
        }
        let dest_written = self.expand(state, dest_word, *dest_span)?;
        let dest = resolve_dest(&state.workdir, &dest_written);
        let opt = |key: &str| -> Result<Option<String>, FrontendError> {
            flags.string(key).map(|(v, span)| self.expand(state, v, span)).transpose()
        };
        let chown = opt("chown")?.filter(|v| !v.is_empty());
        let chmod_text = opt("chmod")?.filter(|v| !v.is_empty());
        let chmod = match &chmod_text {
            Some(mode) => Some(Chmod::parse(mode).map_err(|_| {
                let span = flags.string("chmod").map_or(inst.span, |(_, s)| s);
                FrontendError::new(
                    format!(
                        "invalid chmod parameter: '{mode}'. it should be octal string and \
                         between 0 and 07777"
                    ),
                    span,
                )
            })?),
            None => None,
        };
        let checksum = opt("checksum")?.filter(|v| !v.is_empty());
        if checksum.is_some() {
            let span = flags.string("checksum").map_or(inst.span, |(_, s)| s);
            match sources.as_slice() {
                [(one, _)] if is_http(one) || is_git(one) => {}
                [_] => {
                    return Err(FrontendError::new(
                        "checksum requires HTTP(S) or Git sources",
                        span,
                    ));
                }
                _ => {
                    return Err(FrontendError::new(
                        "checksum can't be specified for multiple sources",
                        span,
                    ));
                }
            }
        }
        let mut exclude = Vec::new();
        for (v, span) in flags.list("exclude") {
            exclude.push(self.expand(state, v, span)?);
        }
        let from = match flags.string("from") {
            Some((value, span)) => {
                let r = copy_from(stages, value, span)?;
                check_dispatched(&r, stages, index, finals, value, span)?;
                Some(r)
            }
            None => None,
        };
        let parents = flags.boolean("parents").unwrap_or(false);
        // BuildKit's history entry: flags, expanded sources, heredoc names,
        // the destination as written (expanded).
        let mut message = name.to_owned();
        if parents {
            message.push_str(" --parents");
        }
        if let Some(c) = &chown {
            message.push_str(&format!(" --chown={c}"));
        }
        if let Some(c) = &chmod_text {
            message.push_str(&format!(" --chmod={c}"));
        }
        for (source, _) in &sources {
            message.push_str(&format!(" {source}"));
        }
        for (doc, _) in &heredocs {
            message.push_str(&format!(" <<{doc}"));
        }
        message.push_str(&format!(" {dest_written} # buildkit"));
        // BuildKit links (a layer merged on top) only when no --chmod is given.
        let link = flags.boolean("link").unwrap_or(false) && chmod.is_none();
        if link
            && let Some(owner) = &chown
            && !owner.split(':').all(|id| id == "root" || id.parse::<u32>().is_ok())
        {
            let span = flags.string("chown").map_or(inst.span, |(_, s)| s);
            return Err(FrontendError::new(
                format!(
                    "--chown={owner} with --link needs numeric ids (UID[:GID]): a linked layer \
                     is made apart from the stage below, so names cannot be looked up"
                ),
                span,
            ));
        }
        let op = Op::Copy {
            add,
            sources: sources.into_iter().map(|(s, _)| s).collect(),
            dest,
            from,
            chown,
            chmod,
            link,
            parents,
            exclude,
            heredocs,
            checksum,
            keep_git_dir: flags.boolean("keep-git-dir").unwrap_or(false),
            unpack: flags.boolean("unpack"),
            user: state.config.user.clone(),
        };
        Ok((op, message))
    }

    /// A `--build-arg` that no ARG, FROM line or predefined arg consumed.
    fn warn_unused(&mut self) {
        let unused: Vec<&str> = self
            .build_args
            .keys()
            .filter(|k| !self.used.contains(*k) && !is_predefined_arg(k))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            self.warnings.push(Warning {
                message: format!("one or more build-args [{}] were not consumed", unused.join(" ")),
                span: None,
            });
        }
    }
}

/// What BuildKit refuses of a Dockerfile before it looks at any image: an
/// unknown instruction, a bad flag, a malformed ARG or ONBUILD, anywhere in
/// the file (a server answers these with 400 before it streams).
pub fn check(df: &Dockerfile) -> Result<(), FrontendError> {
    df.instructions.iter().try_for_each(check_instruction)
}

/// Checks what BuildKit checks of every instruction, needed or not: the
/// keyword, the flags, ONBUILD's trigger.
fn check_instruction(inst: &Instruction) -> Result<(), FrontendError> {
    if inst.kind == Keyword::Unknown {
        return Err(FrontendError::new(
            format!("unknown instruction: {}", inst.keyword),
            inst.keyword_span,
        ));
    }
    if inst.kind == Keyword::Arg {
        check_arg(inst)?;
    }
    check_arity(inst)?;
    let none_check = inst.kind == Keyword::Healthcheck
        && arg_values(inst).first().is_some_and(|(v, _)| v.eq_ignore_ascii_case("none"));
    if !none_check {
        Flags::parse(inst)?;
    }
    if inst.kind == Keyword::Onbuild {
        let Arguments::Nested(inner) = &inst.args else { return Ok(()) };
        let Some(inner) = inner else {
            return Err(FrontendError::new("ONBUILD requires at least one argument", inst.span));
        };
        match inner.kind {
            Keyword::Onbuild => {
                return Err(FrontendError::new(
                    "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    inner.keyword_span,
                ));
            }
            Keyword::From | Keyword::Maintainer => {
                return Err(FrontendError::new(
                    format!("{} isn't allowed as an ONBUILD trigger", inner.kind.as_str()),
                    inner.keyword_span,
                ));
            }
            _ => check_instruction(inner)?,
        }
    }
    Ok(())
}

fn bad_shape(inst: &Instruction) -> FrontendError {
    FrontendError::new(
        format!("{} has arguments of an unexpected shape", inst.kind.as_str()),
        inst.span,
    )
}

fn no_destination(name: &str, span: Span) -> FrontendError {
    FrontendError::new(
        format!(
            "{name} requires at least two arguments, but only one was provided. Destination \
             could not be determined"
        ),
        span,
    )
}

/// The argument values with their spans.
fn arg_values(inst: &Instruction) -> Vec<(String, Span)> {
    match &inst.args {
        Arguments::Values(values) => values.iter().map(|a| (a.value.clone(), a.span)).collect(),
        _ => Vec::new(),
    }
}

/// The one whole-line value of USER, WORKDIR, STOPSIGNAL, MAINTAINER.
fn single(inst: &Instruction, name: &str) -> Result<(String, Span), FrontendError> {
    match arg_values(inst).as_slice() {
        [(v, s)] => Ok((v.clone(), *s)),
        _ => Err(FrontendError::new(format!("{name} requires exactly one argument"), inst.span)),
    }
}

/// ARG words: `NAME` or `NAME=default` (default still unexpanded).
fn arg_pairs(inst: &Instruction) -> Vec<(String, Option<String>, Span)> {
    arg_values(inst)
        .into_iter()
        .map(|(word, span)| match word.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned()), span),
            None => (word, None, span),
        })
        .collect()
}

/// The argument counts BuildKit checks when it parses an instruction.
fn check_arity(inst: &Instruction) -> Result<(), FrontendError> {
    let name = inst.kind.as_str();
    let count = match &inst.args {
        Arguments::Values(v) => v.len(),
        Arguments::Pairs(p) => p.len(),
        Arguments::Nested(n) => usize::from(n.is_some()),
    };
    let message = match inst.kind {
        Keyword::Copy | Keyword::Add if count < 2 => Some(no_destination(name, inst.span)),
        Keyword::User | Keyword::Workdir | Keyword::Stopsignal | Keyword::Maintainer
            if count != 1 =>
        {
            Some(FrontendError::new(format!("{name} requires exactly one argument"), inst.span))
        }
        Keyword::Expose
        | Keyword::Volume
        | Keyword::Env
        | Keyword::Label
        | Keyword::Arg
        | Keyword::Onbuild
        | Keyword::Healthcheck
        | Keyword::Shell
            if count == 0 =>
        {
            Some(FrontendError::new(format!("{name} requires at least one argument"), inst.span))
        }
        Keyword::Shell if !inst.json => {
            Some(FrontendError::new("SHELL requires the arguments to be in JSON form", inst.span))
        }
        _ => None,
    };
    if let Some(message) = message {
        return Err(message);
    }
    if let Arguments::Pairs(pairs) = &inst.args
        && let Some(pair) = pairs.iter().find(|p| p.key.value.is_empty())
    {
        return Err(FrontendError::new(format!("{name} names can not be blank"), pair.key.span));
    }
    Ok(())
}

/// `ARG =x` has no name.
fn check_arg(inst: &Instruction) -> Result<(), FrontendError> {
    match arg_pairs(inst).into_iter().find(|(k, _, _)| k.is_empty()) {
        Some((_, _, span)) => Err(FrontendError::new("ARG names can not be blank", span)),
        None => Ok(()),
    }
}

fn set_pair(list: &mut Vec<(String, String)>, key: &str, value: &str) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => list.push((key.to_owned(), value.to_owned())),
    }
}

fn shell_error(word: &str, e: &rbuild_syntax::ShellError, span: Span) -> FrontendError {
    FrontendError::new(format!("failed to process {word:?}: {e}"), span)
}

/// `^[a-z][a-z0-9-_.]*$`, as BuildKit checks stage names.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// A stage by (lower-cased) name, or an image.
fn lookup(stages: &[RawStage<'_>], name: &str) -> StageRef {
    let lower = name.to_ascii_lowercase();
    match stages.iter().rposition(|s| s.name.as_deref() == Some(lower.as_str())) {
        Some(i) => StageRef::Stage(i),
        None if lower == "scratch" => StageRef::Scratch,
        None => StageRef::Image(normalize_reference(name).unwrap_or_else(|_| name.to_owned())),
    }
}

/// `COPY --from`: a stage name, a stage index, or an image; no variables.
fn copy_from(stages: &[RawStage<'_>], value: &str, span: Span) -> Result<StageRef, FrontendError> {
    if has_variable(value) {
        return Err(FrontendError::new(
            "variable expansion is not supported for --from, define a new stage with FROM using \
             ARG from global scope as a workaround",
            span,
        ));
    }
    if let Ok(index) = value.parse::<i64>() {
        return match usize::try_from(index) {
            Ok(i) if i < stages.len() => Ok(StageRef::Stage(i)),
            _ => Err(FrontendError::new(format!("invalid stage index {index}"), span)),
        };
    }
    let r = lookup(stages, value);
    if let StageRef::Image(_) = &r {
        normalize_reference(value).map_err(|e| {
            FrontendError::new(format!("failed to parse --from image {value:?}: {e}"), span)
        })?;
    }
    Ok(r)
}

/// Whether expansion would change a word (BuildKit's test for `--from`).
fn has_variable(word: &str) -> bool {
    ShellLexer::default().process_word(word, &[] as &[(&str, &str)]).as_deref() != Ok(word)
}

/// A stage read by another must come before it.
fn check_dispatched(
    r: &StageRef,
    stages: &[RawStage<'_>],
    index: usize,
    finals: &[Option<State>],
    name: &str,
    span: Span,
) -> Result<(), FrontendError> {
    if let StageRef::Stage(j) = r
        && (*j >= index || finals[*j].is_none())
    {
        let current = stages[index].name.clone().unwrap_or_else(|| format!("stage-{index}"));
        return Err(FrontendError::new(
            format!(
                "cannot copy from stage {name:?}, it needs to be defined before current stage \
                 {current:?}"
            ),
            span,
        ));
    }
    Ok(())
}

/// The `from=` of a bind or cache `--mount` value, before expansion.
fn raw_mount_from(value: &str) -> Option<String> {
    let fields = csv_fields(value).ok()?;
    let get = |key: &str| {
        fields.iter().find_map(|f| {
            let (k, v) = f.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.to_owned())
        })
    };
    let kind = get("type").unwrap_or_else(|| "bind".to_owned()).to_ascii_lowercase();
    if kind != "bind" && kind != "cache" {
        return None;
    }
    get("from").filter(|f| !f.is_empty())
}

fn mount_from(mount: &RunMount) -> Option<&str> {
    match mount {
        RunMount::Bind { from, .. } | RunMount::Cache { from, .. } => from.as_deref(),
        _ => None,
    }
}

/// Stages reachable from `target` through bases and dependencies.
fn reachable(stages: &[RawStage<'_>], target: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !seen.insert(i) {
            continue;
        }
        if let Base::Stage(j) = stages[i].base {
            todo.push(j);
        }
        for (dep, _) in &stages[i].deps {
            if let StageRef::Stage(j) = dep {
                todo.push(*j);
            }
        }
    }
    seen
}

/// The ONBUILD expressions of a stage's own instructions.
fn onbuild_expressions(commands: &[&Instruction]) -> Vec<String> {
    commands.iter().filter(|i| i.kind == Keyword::Onbuild).map(|i| onbuild_expression(i)).collect()
}

/// The trigger as the image config keeps it: the text after `ONBUILD`,
/// heredoc bodies appended.
fn onbuild_expression(inst: &Instruction) -> String {
    let original = inst.original.trim_start();
    let rest = original.get(inst.keyword.len()..).unwrap_or("").trim_start();
    let mut out = rest.to_owned();
    for doc in &inst.heredocs {
        out.push('\n');
        out.push_str(&doc.content);
        out.push_str(&doc.name);
    }
    out
}

/// Parses one ONBUILD trigger; errors point at the FROM that runs it.
fn parse_trigger(expression: &str, from: Span) -> Result<Instruction, FrontendError> {
    let df = rbuild_syntax::parse(expression).map_err(|e| {
        FrontendError::new(format!("ONBUILD trigger {expression:?}: {}", e.message()), from)
    })?;
    match <[Instruction; 1]>::try_from(df.instructions) {
        Ok([inst]) => Ok(inst),
        Err(_) => Err(FrontendError::new("onbuild trigger should be a single expression", from)),
    }
}

/// `path.Clean` of an absolute path.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// BuildKit's `NormalizeWorkdir`: relative paths join the current one.
fn normalize_workdir(current: &str, wd: &str) -> Result<String, String> {
    if wd.is_empty() {
        return Err("cannot normalize nothing".to_owned());
    }
    // BuildKit's NormalizeWorkdir: an absolute path as written, a relative
    // one joined to the current workdir and cleaned.
    if wd.starts_with('/') { Ok(wd.to_owned()) } else { Ok(clean(&format!("/{current}/{wd}"))) }
}

/// A COPY destination against the workdir; a trailing `/` (or `/.`) stays.
fn resolve_dest(workdir: &str, dest: &str) -> String {
    let dest = if dest.is_empty() || dest == "." { "./" } else { dest };
    let joined = if dest.starts_with('/') { dest.to_owned() } else { format!("{workdir}/{dest}") };
    let mut out = clean(&joined);
    if (dest.ends_with('/') || dest.ends_with("/.")) && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// Whether a RUN line is one heredoc word and nothing else (`<<EOF`).
fn is_sole_heredoc(line: &str) -> bool {
    let rest = line.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else { return false };
    let rest = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    if rest.is_empty() || rest.contains('<') {
        return false;
    }
    ShellLexer::new('\\')
        .skip_unset_env(true)
        .process_words(rest, &[] as &[(&str, &str)])
        .is_ok_and(|w| w.len() == 1)
}

/// The heredoc a COPY source word opens, if it is one.
fn heredoc_source<'h>(word: &str, docs: &'h [Heredoc]) -> Option<&'h Heredoc> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name: String = rest.chars().filter(|c| *c != '\'' && *c != '"').collect();
    docs.iter().find(|d| d.name == name)
}

/// `<<-`: leading tabs off every line.
fn chomp(content: &str) -> String {
    content.split_inclusive('\n').map(|l| l.trim_start_matches('\t')).collect()
}

/// `RUN` history as BuildKit writes it: `|N K=V … cmd` when build args
/// are in scope.
fn run_history(args: &[String], state: &State) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (key, value) in &state.args {
        let v = state
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| value.clone())
            .unwrap_or_default();
        match pairs.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => pairs.push((key.clone(), v)),
        }
    }
    let mut parts = Vec::new();
    if !pairs.is_empty() {
        parts.push(format!("|{}", pairs.len()));
        parts.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    parts.extend(args.iter().cloned());
    parts.join(" ")
}

/// The error for a base image that cannot be had.
fn missing_image(images: &dyn BaseImages, reference: &str) -> String {
    images.why_missing(reference).unwrap_or_else(|| {
        format!(
            "image {reference} is not in the store; add it with `rbuild load -i FILE` (a \
             `docker save` archive or an OCI layout)"
        )
    })
}

/// Signal names Docker knows (`SIGTERM`, `TERM`) or numbers.
fn valid_signal(signal: &str) -> bool {
    const NAMES: &[&str] = &[
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
        "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
        "TRAP", "TSTP", "TTIN", "TTOU", "UNUSED", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU",
    ];
    if let Ok(n) = signal.parse::<u32>() {
        return (1..=64).contains(&n);
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rt) = name.strip_prefix("RTMIN").or_else(|| name.strip_prefix("RTMAX")) {
        return rt.is_empty() || rt.trim_start_matches(['+', '-']).parse::<u32>().is_ok();
    }
    NAMES.contains(&name) || name == "XFSZ"
}

/// EXPOSE `[ip:][hostport:]port[-end][/proto]` → `port/proto` each.
fn port_spec(raw: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let container = parts[parts.len() - 1];
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let proto = proto.to_ascii_lowercase();
    let proto = match proto.as_str() {
        "" => "tcp",
        "tcp" | "udp" | "sctp" => proto.as_str(),
        other => return Err(format!("invalid proto: {other}")),
    };
    let range = |p: &str| -> Option<(u16, u16)> {
        match p.split_once('-') {
            None => p.parse().ok().map(|n| (n, n)),
            Some((a, b)) => {
                let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some((a, b))
            }
        }
    };
    let (start, end) = range(port).ok_or_else(|| format!("invalid containerPort: {port}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// HEALTHCHECK NONE | [flags] CMD command.
fn healthcheck(inst: &Instruction, flags: &Flags) -> Result<Healthcheck, FrontendError> {
    let values = arg_values(inst);
    let Some(((kind, kind_span), rest)) = values.split_first() else {
        return Err(FrontendError::new("HEALTHCHECK requires an argument", inst.span));
    };
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !rest.is_empty() {
                return Err(FrontendError::new("HEALTHCHECK NONE takes no arguments", inst.span));
            }
            Ok(Healthcheck { test: vec!["NONE".to_owned()], ..Healthcheck::default() })
        }
        "CMD" => {
            let args: Vec<String> = rest.iter().map(|(v, _)| v.clone()).collect();
            if args.is_empty() || (!inst.json && args.iter().all(|a| a.trim().is_empty())) {
                return Err(FrontendError::new("Missing command after HEALTHCHECK CMD", inst.span));
            }
            let test = if inst.json {
                std::iter::once("CMD".to_owned()).chain(args).collect()
            } else {
                vec!["CMD-SHELL".to_owned(), args.join(" ")]
            };
            let duration = |name: &str| -> Result<i64, FrontendError> {
                let Some((value, span)) = flags.string(name) else { return Ok(0) };
                let ns = go_duration(value).ok_or_else(|| {
                    FrontendError::new(format!("time: invalid duration {value:?}"), span)
                })?;
                if ns != 0 && ns < 1_000_000 {
                    return Err(FrontendError::new(
                        format!("Interval {name:?} cannot be less than 1ms"),
                        span,
                    ));
                }
                Ok(ns)
            };
            let retries = match flags.string("retries") {
                None => 0,
                Some((v, span)) => {
                    let n: i64 = v.parse().map_err(|_| {
                        FrontendError::new(format!("invalid --retries value {v:?}"), span)
                    })?;
                    if n < 0 {
                        return Err(FrontendError::new(
                            format!("--retries cannot be negative ({n})"),
                            span,
                        ));
                    }
                    n
                }
            };
            Ok(Healthcheck {
                test,
                interval: duration("interval")?,
                timeout: duration("timeout")?,
                start_period: duration("start-period")?,
                start_interval: duration("start-interval")?,
                retries,
            })
        }
        _ => Err(FrontendError::new(
            format!("Unknown type {:?} in HEALTHCHECK (try CMD)", kind.to_ascii_uppercase()),
            *kind_span,
        )),
    }
}

/// BuildKit's `HEALTHCHECK %+v` of the config: Go's struct print, with
/// durations as Go prints them.
fn healthcheck_history(h: &Healthcheck) -> String {
    format!(
        "{{Test:[{}] Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        h.test.join(" "),
        go_duration_string(h.interval),
        go_duration_string(h.timeout),
        go_duration_string(h.start_period),
        go_duration_string(h.start_interval),
        h.retries
    )
}

/// Go's `time.Duration.String`: `0s`, `1.5s`, `1m30s`, `250ms`, `2h0m0s`.
fn go_duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let fraction = |value: u64, digits: u32| -> String {
        let scale = 10u64.pow(digits);
        let (whole, frac) = (value / scale, value % scale);
        if frac == 0 {
            return whole.to_string();
        }
        let frac = format!("{frac:0width$}", width = digits as usize);
        format!("{whole}.{}", frac.trim_end_matches('0'))
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", fraction(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(u, 6));
    }
    let secs = u % 60_000_000_000;
    let minutes = u / 60_000_000_000;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    let seconds = format!("{}s", fraction(secs, 9));
    match (hours, minutes) {
        (0, 0) => format!("{sign}{seconds}"),
        (0, m) => format!("{sign}{m}m{seconds}"),
        (h, m) => format!("{sign}{h}h{m}m{seconds}"),
    }
}

/// Go's `time.ParseDuration`, in nanoseconds: `1h30m`, `1.5s`, `300ms`, `0`.
fn go_duration(text: &str) -> Option<i64> {
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let ns = total.round() as i64;
    Some(if neg { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration_string(0), "0s");
        assert_eq!(go_duration_string(30_000_000_000), "30s");
        assert_eq!(go_duration_string(90_000_000_000), "1m30s");
        assert_eq!(go_duration_string(1_500_000_000), "1.5s");
        assert_eq!(go_duration_string(250_000_000), "250ms");
        assert_eq!(go_duration_string(1_500), "1.5µs");
        assert_eq!(go_duration_string(7_200_000_000_000), "2h0m0s");
        assert_eq!(go_duration_string(3_600_000_000_001), "1h0m0.000000001s");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(go_duration("30s"), Some(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(go_duration("250ms"), Some(250_000_000));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("s"), None);
    }

    #[test]
    fn paths_clean_like_go() {
        assert_eq!(normalize_workdir("/a", "b/../c").unwrap(), "/a/c");
        // As BuildKit (checked with docker 26.1): an absolute WORKDIR is kept
        // as written, a relative one joined and cleaned.
        assert_eq!(normalize_workdir("/a", "/x/./y/").unwrap(), "/x/./y/");
        assert_eq!(normalize_workdir("/x/./y/", "z/../w").unwrap(), "/x/y/w");
        assert_eq!(normalize_workdir("/tmp/", "sub").unwrap(), "/tmp/sub");
        assert_eq!(resolve_dest("/app", "."), "/app/");
        assert_eq!(resolve_dest("/app", "sub/"), "/app/sub/");
        assert_eq!(resolve_dest("/app", "f"), "/app/f");
        assert_eq!(resolve_dest("/", "/x/."), "/x/");
    }

    #[test]
    fn sole_heredoc_words() {
        assert!(is_sole_heredoc("<<EOF"));
        assert!(is_sole_heredoc("<<-'EOF'"));
        assert!(!is_sole_heredoc("<<EOF bash"));
        assert!(!is_sole_heredoc("cat <<EOF"));
    }
}
