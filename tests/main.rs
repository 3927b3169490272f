//! End-to-end tests of the `rbuild` binary.

mod build;
mod context;
mod lint;
mod parse;
mod runtime;
mod util;
