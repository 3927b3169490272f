//! The steps a Dockerfile lowers to and the engine runs: what each RUN,
//! COPY/ADD and WORKDIR does, every value resolved, with a canonical text
//! for the build graph.

use crate::{Chmod, Fields, KeyText, NetworkMode, RunMount, SecurityMode};

/// Where `COPY --from` or `RUN --mount from=` takes files from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageRef {
    /// An earlier stage, by index.
    Stage(usize),
    /// `scratch`: nothing to copy or mount.
    Scratch,
    /// An image from the store, by normalized reference.
    Image(String),
}

/// One instruction of a stage, as the solver runs or records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// First Dockerfile line of the instruction (the FROM line for an
    /// ONBUILD trigger), for reports and errors.
    pub line: usize,
    /// Last Dockerfile line of the instruction.
    pub end_line: usize,
    /// The instruction as written, unexpanded (so no secret or build-arg
    /// value ever shows in a report); `ONBUILD ` prefixes a trigger.
    pub text: String,
    /// The image history entry (`created_by`) as BuildKit writes it; `None`
    /// for instructions that leave none (ONBUILD). Build-arg values show
    /// here for RUN, as in `docker history`.
    pub history: Option<String>,
    /// What to do.
    pub op: Op,
    /// The env, workdir, user and SHELL in force after the step, for
    /// `rbuild debug --line`; `None` for metadata-only steps, which make no
    /// state of their own (so 10,000 ENV lines cost no copy each).
    pub after: Option<StepEnv>,
}

/// What a shell opened in a step's state runs with: the step's view of the
/// stage (image env plus ARGs in scope, never proxy variables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepEnv {
    /// `KEY=value`, as a RUN there would see them.
    pub env: Vec<String>,
    /// Working directory, absolute.
    pub cwd: String,
    /// USER in force; empty is root.
    pub user: String,
    /// SHELL in force (`/bin/sh -c` by default).
    pub shell: Vec<String>,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// RUN: a process in a container of the stage's file system.
    Run {
        /// argv; shell form already wrapped in the SHELL (default `/bin/sh -c`).
        args: Vec<String>,
        /// `KEY=value`: the image env plus the ARGs in scope, as BuildKit's
        /// ExecOp env; part of the cache key.
        env: Vec<String>,
        /// Proxy variables (`HTTP_PROXY`… from `--build-arg`) given to the
        /// process but kept out of the cache key and the history, as
        /// BuildKit's ProxyEnv; a declared proxy ARG is in `env` as well.
        proxy_env: Vec<String>,
        /// Working directory, absolute.
        cwd: String,
        /// USER in force; empty is root.
        user: String,
        /// `--mount`s, values expanded, with `from=` resolved.
        mounts: Vec<Mount>,
        /// `--network`.
        network: NetworkMode,
        /// `--security`.
        security: SecurityMode,
        /// Files to mount read-only for the command: a heredoc with a
        /// shebang becomes `/dev/pipes/<name>` (mode 0755), run as the command.
        files: Vec<InlineFile>,
    },
    /// COPY or ADD.
    Copy {
        /// ADD (may fetch URLs and unpack archives) rather than COPY.
        add: bool,
        /// Source paths or URLs, expanded; heredoc sources are in `heredocs`.
        sources: Vec<String>,
        /// Destination, resolved against WORKDIR; a trailing `/` is kept
        /// because it means "into this directory".
        dest: String,
        /// `--from`: a stage or an image instead of the build context.
        from: Option<StageRef>,
        /// `--chown`, expanded.
        chown: Option<String>,
        /// `--chmod`, expanded and parsed (octal or symbolic).
        chmod: Option<Chmod>,
        /// `--link`.
        link: bool,
        /// `--parents`.
        parents: bool,
        /// `--exclude` patterns, expanded.
        exclude: Vec<String>,
        /// Heredoc sources: file name and content (expanded unless the
        /// delimiter was quoted, tabs stripped for `<<-`); each is a file
        /// named after its delimiter, copied like any other source (so into
        /// `dest` when it ends in `/`, else as `dest`).
        heredocs: Vec<(String, String)>,
        /// ADD `--checksum`, expanded.
        checksum: Option<String>,
        /// ADD `--keep-git-dir`.
        keep_git_dir: bool,
        /// ADD `--unpack`: `None` = BuildKit's default (local archives unpack).
        unpack: Option<bool>,
        /// USER in force, for files fetched or made without `--chown`.
        user: String,
    },
    /// WORKDIR other than `/`: the directory must exist after, so BuildKit
    /// makes it (with parents) as `user`.
    Workdir {
        /// Absolute, cleaned.
        path: String,
        /// USER in force, owner of the directories made.
        user: String,
    },
    /// Metadata-only instructions (ENV, LABEL, CMD, ENTRYPOINT, EXPOSE,
    /// VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER, ARG,
    /// WORKDIR `/`): they change `config` and later steps' env, make no layer.
    Config,
}

/// One `RUN --mount`, with its stage or image source resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The mount as parsed (values expanded; its `from` as written).
    pub spec: RunMount,
    /// For bind and cache mounts with `from=`: the stage or image it names.
    pub from: Option<StageRef>,
}

/// A file the frontend makes from the Dockerfile's own text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineFile {
    /// Path inside the step.
    pub path: String,
    /// The content.
    pub content: String,
    /// Permission bits.
    pub mode: u32,
}

impl KeyText for StageRef {
    fn key_text(&self) -> String {
        match self {
            StageRef::Stage(i) => Fields::new("stage").num("index", *i as u64).finish(),
            StageRef::Scratch => Fields::new("scratch").finish(),
            StageRef::Image(r) => Fields::new("image").str("ref", r).finish(),
        }
    }
}

impl KeyText for Step {
    /// What the step does and records (its op and history entry), field by
    /// field: equal texts on equal inputs are one vertex of the build graph.
    /// The line and text are left out, so equal steps of two stages merge.
    fn key_text(&self) -> String {
        Fields::new("step")
            .raw("op", &self.op.key_text())
            .opt("history", self.history.as_deref())
            .finish()
    }
}

impl KeyText for Op {
    fn key_text(&self) -> String {
        match self {
            Op::Run { args, env, proxy_env, cwd, user, mounts, network, security, files } => {
                let mounts: Vec<String> = mounts
                    .iter()
                    .map(|Mount { spec, from }| {
                        let from = from.as_ref().map(KeyText::key_text);
                        Fields::new("mount")
                            .raw("spec", &spec.key_text())
                            .raw("from", from.as_deref().unwrap_or("null"))
                            .finish()
                    })
                    .collect();
                let files: Vec<String> = files
                    .iter()
                    .map(|InlineFile { path, content, mode }| {
                        Fields::new("file")
                            .str("path", path)
                            .str("content", content)
                            .mode("mode", *mode)
                            .finish()
                    })
                    .collect();
                Fields::new("run")
                    .list("args", args)
                    .list("env", env)
                    .list("proxy_env", proxy_env)
                    .str("cwd", cwd)
                    .str("user", user)
                    .list("mounts", &mounts)
                    .str("network", network.as_str())
                    .str("security", security.as_str())
                    .list("files", &files)
                    .finish()
            }
            Op::Copy {
                add,
                sources,
                dest,
                from,
                chown,
                chmod,
                link,
                parents,
                exclude,
                heredocs,
                checksum,
                keep_git_dir,
                unpack,
                user,
            } => {
                let from = from.as_ref().map(KeyText::key_text);
                let heredocs: Vec<String> = heredocs
                    .iter()
                    .map(|(name, content)| {
                        Fields::new("heredoc").str("name", name).str("content", content).finish()
                    })
                    .collect();
                let unpack = unpack.map(|u| if u { "true" } else { "false" });
                Fields::new(if *add { "add" } else { "copy" })
                    .list("sources", sources)
                    .str("dest", dest)
                    .raw("from", from.as_deref().unwrap_or("null"))
                    .opt("chown", chown.as_deref())
                    .opt("chmod", chmod.as_ref().map(ToString::to_string).as_deref())
                    .bool("link", *link)
                    .bool("parents", *parents)
                    .list("exclude", exclude)
                    .list("heredocs", &heredocs)
                    .opt("checksum", checksum.as_deref())
                    .bool("keep_git_dir", *keep_git_dir)
                    .opt("unpack", unpack)
                    .str("user", user)
                    .finish()
            }
            Op::Workdir { path, user } => {
                Fields::new("workdir").str("path", path).str("user", user).finish()
            }
            Op::Config => Fields::new("config").finish(),
        }
    }
}
