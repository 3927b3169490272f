//! End-to-end tests of the `rbuild` binary.

mod context;
mod lint;
mod parse;
mod runtime;
mod util;
