//! The frontend's behaviour, from the Dockerfile reference and BuildKit's
//! documented semantics: one test binary, a module per area.

mod args;
mod config;
mod conformance;
mod errors;
mod no_panic;
mod run_copy;
mod stages;
mod util;
