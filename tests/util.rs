//! Helpers shared by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `rbuild` binary under test.
pub(crate) fn rbuild() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rbuild"))
}

/// The shared conformance data, or `None` (with a message) where it is absent.
pub(crate) fn conformance() -> Option<PathBuf> {
    rbuild_test::conformance("")
}

/// The case directories under `dir`, sorted.
pub(crate) fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

/// A fresh temporary directory for one test.
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("rbuild-test-").tempdir().unwrap()
}
