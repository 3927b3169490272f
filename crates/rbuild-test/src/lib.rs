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

/// A tar entry written byte by byte, past the tar crate's own path checks:
/// hostile layers (`../escape`, absolute names, links out) for the tests
/// that must see them refused.
pub fn raw_tar_entry(
    out: &mut Vec<u8>,
    name: &[u8],
    kind: tar::EntryType,
    link: &[u8],
    body: &[u8],
) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    header.set_entry_type(kind);
    header.set_mode(0o644);
    header.set_size(body.len() as u64);
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, body).unwrap_or_else(|e| panic!("a tar entry in memory: {e}"));
    let bytes = builder.into_inner().unwrap_or_else(|e| panic!("a tar in memory: {e}"));
    out.extend_from_slice(&bytes[..bytes.len() - 1024]);
}

/// Ends a tar made of [`raw_tar_entry`]s.
pub fn raw_tar_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; 1024]);
}
