//! The build plan: stages of typed steps, what the solver turns into work.

use rbuild_llb::{ContainerConfig, Platform, Step};

use crate::error::Warning;

/// The whole build, stage by stage, so the solver can build what the target
/// needs and nothing else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Every stage in Dockerfile order; index = position.
    pub stages: Vec<Stage>,
    /// Index of the stage whose result is the image (`--target` or the last).
    pub target: usize,
    /// Non-fatal findings, such as a `--build-arg` nothing uses.
    pub warnings: Vec<Warning>,
}

/// One `FROM` and the instructions after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    /// Position among the stages, as `COPY --from=0` counts.
    pub index: usize,
    /// The `AS` name, lower-cased, as stages are looked up.
    pub name: Option<String>,
    /// What the stage starts from.
    pub base: Base,
    /// The platform the stage builds for (`FROM --platform` or the target's).
    pub platform: Platform,
    /// Reachable from the target through FROM, `COPY --from`, `RUN --mount
    /// from=`; a stage nobody needs is never built, and is not planned
    /// either: its `steps` are empty and its `config` the default.
    pub needed: bool,
    /// The instructions in order, ONBUILD triggers of the base first.
    pub steps: Vec<Step>,
    /// The image config after the stage's last instruction, base included.
    pub config: ContainerConfig,
    /// MAINTAINER, the image's `author` field (outside `config`).
    pub author: Option<String>,
    /// The FROM line, for reports.
    pub line: usize,
}

/// What a stage starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: an empty file system.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image from the store, by normalized reference
    /// (`docker.io/library/alpine:latest`); `oci-layout://` references are
    /// kept as written.
    Image(String),
}
