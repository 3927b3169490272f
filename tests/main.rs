//! End-to-end tests of the `rbuild` binary.

mod parse;
mod util;
