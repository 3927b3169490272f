/*!
The Dockerfile frontend: the parsed AST becomes a typed build [`Plan`] with
BuildKit's semantics — stages and `--target`, the stages the target needs,
ARG/ENV scoping with the predefined args, variable expansion where BuildKit
expands, SHELL/CMD/ENTRYPOINT forms, ONBUILD triggers and the image config
each stage ends with. It does no I/O: base images are looked up through
[`BaseImages`].

# Example

```
use rbuild_frontend::{plan, BaseImages, BuildOptions, ImageConfig, Op};

struct Store;
impl BaseImages for Store {
    fn config(&self, reference: &str) -> Option<ImageConfig> {
        (reference == "docker.io/library/alpine:latest").then(ImageConfig::default)
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

mod config;
mod convert;
mod error;
mod flags;
mod options;
mod plan;
mod reference;

pub use config::{Empty, Healthcheck, ImageConfig};
pub use convert::{DEFAULT_PATH, plan};
pub use error::{FrontendError, Warning};
pub use options::{BaseImages, BuildOptions, Platform};
pub use plan::{Base, InlineFile, Mount, Op, Plan, Stage, StageRef, Step};
pub use reference::normalize_reference;
