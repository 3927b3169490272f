/*!
rbuild's vocabulary: the values that pass between the frontend, the solver,
the executor, the store and the command line, each defined once. No I/O.

- [`Step`] and [`Op`]: what the frontend lowers each instruction to and the
  engine runs, with every value resolved.
- [`RunMount`], [`NetworkMode`], [`SecurityMode`], [`Chmod`]: what a RUN or
  a COPY asks for, parsed once from the Dockerfile's flags.
- [`ContainerConfig`]: an image's runtime config, one type from the base
  image through the stages to the built image, unknown fields kept.
- [`Platform`], [`Reference`]: platforms and image names, normalized as
  Docker does, so FROM looks up and `-t` stores one spelling.
- [`CacheKey`], [`KeyBuilder`], [`Fields`]: cache keys made of named
  components with an explicit, stable encoding, so a miss can be explained
  and a rename in the code never changes a key.
- [`Cancel`]: one token for a build; running work hooks itself to it.
- [`Event`]: what a build tells while it runs, whose JSON is
  `--progress=json`.
*/
#![deny(missing_docs)]

mod args;
mod cancel;
mod chmod;
mod config;
mod event;
mod key;
mod mount;
mod network;
mod op;
mod platform;
mod reference;
mod source;

pub use args::{PLATFORM_ARGS, PROXY_ARGS, is_predefined_arg, is_proxy_arg, predefined_args};
pub use cancel::{Cancel, OnCancel};
pub use chmod::{Chmod, Clause};
pub use config::{ContainerConfig, Empty, Healthcheck};
pub use event::{
    BuildSummary, Event, EventKind, EventSink, PullEvent, PullStatus, PulledImage, PushEvent,
    PushStatus, Recorder, StepEvent, StepInfo, StepReport, StepStatus, Stream, human_size,
    short_digest, steps_table,
};
pub use key::{CacheKey, Component, Fields, KeyBuilder, KeyText, Kind, explain, redact};
pub use mount::{MountError, RunMount, Sharing, csv_fields, parse_size};
pub use network::{Entitlement, ExtraHost, NetworkMode, SecurityMode, hosts_file};
pub use op::{InlineFile, Mount, Op, StageRef, Step, StepEnv};
pub use platform::{Platform, check_build_platforms, go_arch};
pub use reference::{Reference, ReferenceError, familiar_name, normalize_reference};
pub use source::{is_git, is_http, redact_credentials};
