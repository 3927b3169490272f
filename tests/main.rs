//! End-to-end tests of the `rbuild` binary.

mod build;
mod context;
mod engine;
mod failure;
mod http;
mod images;
mod lint;
mod parity;
mod parse;
mod registry;
mod runtime;
mod serve;
mod shared_cache;
mod token_server;
mod util;
