//! Overhead of one RUN step: from spawning the helper to the exit of
//! `/bin/true` in its namespaces on an overlay (needs root; busybox-static).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rbuild_llb::{Cancel, NetworkMode};
use rbuild_runtime::{Executor, RootFs, Secrets, StepSpec};

fn main() {
    divan::main();
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A busybox root: /bin/busybox and /bin/true → busybox.
fn base(dir: &std::path::Path) -> PathBuf {
    let base = dir.join("base");
    std::fs::create_dir_all(base.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", base.join("bin/busybox")).expect("busybox-static is needed");
    std::os::unix::fs::symlink("busybox", base.join("bin/true")).expect("symlink");
    base
}

#[divan::bench(sample_count = 20, sample_size = 5)]
fn run_true(bencher: divan::Bencher<'_, '_>) {
    if !is_root() {
        // Namespaces and overlayfs need root; nothing to measure here.
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let base = base(dir.path());
    let executor = Executor::new(env!("CARGO_BIN_EXE_rbuild"));
    let counter = AtomicUsize::new(0);
    let cancel = Cancel::new();
    bencher.bench(|| {
        let step = dir.path().join(counter.fetch_add(1, Ordering::Relaxed).to_string());
        let spec = StepSpec {
            args: vec!["/bin/true".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "bench".into(),
            network: NetworkMode::Default,
            netns: None,
            terminal: false,
            rootfs: RootFs {
                lowers: vec![base.clone()],
                upper: step.join("upper"),
                work: step.join("work"),
                merged: step.join("merged"),
            },
            mounts: Vec::new(),
            secrets: Vec::new(),
            copy: None,
            resolv_conf: "/etc/resolv.conf".into(),
            hosts: "/etc/hosts".into(),
        };
        let status = executor
            .run(&spec, &Secrets::new(), &step.join("state"), &cancel, |_, _| {})
            .expect("step");
        assert!(status.success());
    });
}
