//! Helpers shared by the tests of every rbuild crate, so each finds the
//! shared data the same way and skips the same way where it is absent.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// The folder `sub` of the shared conformance data (`../shared/conformance`
/// beside the repository, or `$RBUILD_CONFORMANCE`), or `None` after saying
/// on stderr that the tests using it are skipped. Under CI (`CI` set) a
/// missing folder is a failure: a skipped conformance run must not pass.
pub fn conformance(sub: &str) -> Option<PathBuf> {
    let root = std::env::var_os("RBUILD_CONFORMANCE").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance")
    });
    let dir = root.join(sub);
    if dir.is_dir() {
        Some(dir)
    } else if std::env::var_os("CI").is_some() {
        panic!("conformance data not found at {} (CI is set, so this fails)", dir.display());
    } else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: conformance data not found at {}", dir.display());
        }
        None
    }
}
