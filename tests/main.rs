//! End-to-end tests of the `rbuild` binary.

mod context;
mod parse;
mod runtime;
mod util;
