/*!
The Dockerfile frontend: the parsed AST becomes a typed build [`Plan`] with
BuildKit's semantics — stages and `--target`, the stages the target needs,
ARG/ENV scoping with the predefined args, variable expansion where BuildKit
expands, SHELL/CMD/ENTRYPOINT forms, ONBUILD triggers and the image config
each stage ends with. It does no I/O: base images are looked up through
[`BaseImages`].

# Reading a plan

Build [`Plan::target`] and, first, every stage it needs ([`Stage::needed`]):
a stage starts from its [`Base`] (an earlier stage's result, an image from
the store, or nothing) and runs its [`Step`]s in order. [`Op::Run`],
[`Op::Copy`] and [`Op::Workdir`] change the file system; [`Op::Config`]
steps only changed [`Stage::config`], which already holds the final image
config. Every value a step needs is resolved: variables expanded where
BuildKit expands them, paths made absolute against WORKDIR, `--from` and
`--mount from=` turned into [`StageRef`]s. [`Step::history`] is the image
history entry, [`Step::text`] the instruction as written, for reports.

# Example

```
use rbuild_frontend::{plan, BaseImages, BuildOptions, Op};
use rbuild_llb::ContainerConfig;

struct Store;
impl BaseImages for Store {
    fn config(&self, reference: &str) -> Option<ContainerConfig> {
        (reference == "docker.io/library/alpine:latest").then(ContainerConfig::default)
    }
}

let source = "FROM alpine\nARG V=1\nRUN echo $V\n";
let df = rbuild_syntax::parse(source).unwrap();
let plan = plan(&df, source, &BuildOptions::default(), &Store).unwrap();
let run = &plan.stages[plan.target].steps[1];
let Op::Run { args, env, .. } = &run.op else { panic!() };
assert_eq!(args, &["/bin/sh", "-c", "echo $V"]);
assert!(env.contains(&"V=1".to_owned()));
```
*/
#![deny(missing_docs)]

mod changes;
mod convert;
mod error;
mod flags;
mod options;
mod plan;

pub use changes::{ChangeError, apply_changes};
pub use convert::{DEFAULT_PATH, check, plan};
pub use error::{FrontendError, Warning};
pub use options::images_named;
pub use options::{BaseImages, BuildOptions};
pub use plan::{Base, Plan, Stage};
/// The steps of a plan are the vocabulary crate's, re-exported so a plan
/// reads with one import.
pub use rbuild_llb::{InlineFile, Mount, Op, StageRef, Step};
