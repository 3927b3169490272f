//! Helpers shared by the end-to-end tests.

use std::io::Write as _;
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

/// Whether tests that need root (namespaces, overlayfs) can run here. In
/// CI they must: there a missing privilege fails the test instead.
pub(crate) fn have_root() -> bool {
    let root = nix_uid() == 0;
    if !root {
        assert!(std::env::var_os("CI").is_none(), "CI must run the namespace tests as root");
        let _ = writeln!(std::io::stderr(), "skipped: needs root (namespaces and overlayfs)");
    }
    root
}

fn nix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    // The owner of a fresh file is the effective uid.
    let probe = tempfile::tempfile().expect("temp file");
    probe.metadata().expect("metadata").uid()
}

/// The static busybox from Debian's busybox-static.
pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// Writes a minimal image root into `dir`: the static busybox with a
/// relative symlink per applet in /bin, and /etc/passwd and /etc/group with
/// root, an `app` user (1000:1000, also in `wheel`) and `nobody`.
pub(crate) fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap_or_else(|e| {
        panic!("{BUSYBOX}: {e} (install busybox-static)");
    });
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8(list.stdout).unwrap().lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
    }
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n")
        .unwrap();
}
