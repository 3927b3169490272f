//! End-to-end tests of the `rbuild` binary.

mod build;
mod context;
mod engine;
mod lint;
mod parse;
mod registry;
mod runtime;
mod util;
