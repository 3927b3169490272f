//! The order of system calls that turns a snapshot chain into a step's
//! container. Written against [`Sys`] so the sequence is unit-tested.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use crate::rootfs::resolve_in_root;
use rbuild_llb::NetworkMode;

use crate::spec::{Mount, RootFs, StepSpec};
use crate::sys::Sys;

/// overlayfs takes its options in one page.
const MOUNT_DATA_MAX: usize = 4095;

/// The device nodes of a step's `/dev` (name, major, minor), the set runc
/// makes: the step's own nodes, never the host's, so nothing it does to
/// them (chmod, chown) reaches the host.
pub const DEV_NODES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Paths a step never sees: moby's default masked paths, plus
/// /proc/sysrq-trigger (read-only there, hidden here) and
/// /sys/kernel/security (podman hides it too); files behind the step's own
/// null device, directories behind an empty read-only tmpfs.
const MASKED: [&str; 14] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/sysrq-trigger",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/kernel/security",
];

/// Paths under /proc that Docker's default spec makes read-only.
const READONLY: [&str; 4] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"];

/// The helper's part, in its own process: new namespaces, mounts made
/// private (so nothing leaks to the host and `pivot_root` works under a
/// shared `/`), then the overlay.
pub fn enter_namespaces(sys: &mut impl Sys, spec: &StepSpec, empty_lower: &Path) -> io::Result<()> {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.copy.is_some() {
        // A file operation runs no process: a mount namespace is all it
        // needs, and it may then use threads (the context walk does).
        flags = CloneFlags::CLONE_NEWNS;
    } else {
        match spec.network {
            NetworkMode::None => flags |= CloneFlags::CLONE_NEWNET,
            NetworkMode::Host => {}
            // Never the host's by mistake: no namespace, no step.
            NetworkMode::Default => match &spec.netns {
                Some(path) => sys.join_netns(path)?,
                None => {
                    return Err(io::Error::other("the default network has no namespace"));
                }
            },
        }
    }
    sys.unshare(flags)?;
    sys.mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    mount_overlay(sys, &spec.rootfs, empty_lower)
}

/// Mounts the step's overlay on `rootfs.merged`.
pub fn mount_overlay(sys: &mut impl Sys, rootfs: &RootFs, empty_lower: &Path) -> io::Result<()> {
    let lowers: Vec<&Path> = if rootfs.lowers.is_empty() {
        vec![empty_lower]
    } else {
        rootfs.lowers.iter().map(PathBuf::as_path).collect()
    };
    let data = match overlay_data(&lowers, &rootfs.upper, &rootfs.work) {
        Ok(data) => data,
        Err(too_long) => {
            // Paths relative to their common ancestor, which the mount
            // resolves from the working directory, often fit in the page.
            let mut all = lowers.clone();
            all.extend([rootfs.upper.as_path(), rootfs.work.as_path()]);
            let base = common_ancestor(&all);
            let rel = |p: &Path| p.strip_prefix(&base).map(Path::to_owned).unwrap_or(p.to_owned());
            let rel_lowers: Vec<PathBuf> = lowers.iter().map(|p| rel(p)).collect();
            let rel_refs: Vec<&Path> = rel_lowers.iter().map(PathBuf::as_path).collect();
            let data = overlay_data(&rel_refs, &rel(&rootfs.upper), &rel(&rootfs.work))
                .map_err(|_| too_long)?;
            sys.chdir(&base)?;
            data
        }
    };
    // nodev: a node the step makes (it keeps CAP_MKNOD, as under docker)
    // cannot be opened; only /dev's own nodes can.
    sys.mount(
        Some(Path::new("overlay")),
        &rootfs.merged,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(&data),
    )
}

/// Hides `paths` (absolute, each under `prefix`) of the file system mounted
/// at `root`: a file behind `null` (the step's own null device), a
/// directory behind an empty read-only tmpfs; a path this kernel lacks is
/// skipped.
fn mask(
    sys: &mut impl Sys,
    root: &Path,
    prefix: &str,
    paths: &[&str],
    null: &Path,
) -> io::Result<()> {
    for path in paths {
        let p = root.join(&path[prefix.len()..]);
        let Ok(meta) = p.symlink_metadata() else { continue };
        if meta.is_dir() {
            sys.mount(
                Some(Path::new("tmpfs")),
                &p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )?;
        } else {
            sys.mount(Some(null), &p, None, MsFlags::MS_BIND, None)?;
        }
    }
    Ok(())
}

/// The longest directory that holds every path of `paths`.
fn common_ancestor(paths: &[&Path]) -> PathBuf {
    let mut base: PathBuf = paths.first().map(|p| p.to_path_buf()).unwrap_or_default();
    for path in paths {
        while !path.starts_with(&base) {
            if !base.pop() {
                break;
            }
        }
    }
    base
}

/// overlayfs options: lower layers topmost first, and the features that
/// would write overlay-private metadata into the upper dir turned off, so
/// the upper dir is a plain diff.
pub fn overlay_data(lowers: &[&Path], upper: &Path, work: &Path) -> io::Result<String> {
    let join = |paths: &[&Path]| {
        paths.iter().map(|p| escape_option(&p.display().to_string())).collect::<Vec<_>>().join(":")
    };
    let data = format!(
        "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
        join(lowers),
        escape_option(&upper.display().to_string()),
        escape_option(&work.display().to_string()),
    );
    if data.len() > MOUNT_DATA_MAX {
        return Err(io::Error::other(format!(
            "{} layers do not fit in overlayfs' one-page option string; the chain must be \
             flattened",
            lowers.len()
        )));
    }
    Ok(data)
}

/// overlayfs splits options on `,` and layers on `:`; both are escaped.
fn escape_option(path: &str) -> String {
    path.replace('\\', "\\\\").replace(':', "\\:").replace(',', "\\,")
}

/// A mount point created in the rootfs for the step only; it is removed
/// from the layer afterwards (BuildKit's mount stubs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stub {
    /// Path relative to the rootfs.
    pub path: PathBuf,
    /// What creating the stub did to the upper dir.
    pub kind: StubKind,
}

/// How a stub came to be in the upper dir.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StubKind {
    /// A directory created as (or on the way to) a mount point.
    Dir,
    /// An empty file created as a mount point.
    File,
    /// A lower directory that overlayfs copied up because a stub was
    /// created inside it.
    CopiedUp,
}

/// Where each mount goes, resolved inside the rootfs, and whether the
/// mount point is a file (bind of a file) or a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Absolute host path under `merged`.
    pub path: PathBuf,
    /// A file mount point.
    pub file: bool,
}

/// The mount points a step needs: /proc, /dev, /sys, the /etc files and
/// the extra mounts; each resolved without leaving the rootfs.
pub fn targets(spec: &StepSpec) -> io::Result<Vec<Target>> {
    let merged = &spec.rootfs.merged;
    let mut out = Vec::new();
    let mut add = |path: &str, file: bool| -> io::Result<()> {
        out.push(Target { path: resolve_in_root(merged, path)?, file });
        Ok(())
    };
    add("/proc", false)?;
    add("/dev", false)?;
    add("/sys", false)?;
    for file in ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"] {
        add(file, true)?;
    }
    for mount in &spec.mounts {
        let file = match mount {
            Mount::Bind { source, .. } => !source.is_dir(),
            _ => false,
        };
        add(mount.target(), file)?;
    }
    for secret in &spec.secrets {
        if let Some(target) = &secret.target {
            add(target, true)?;
        }
    }
    Ok(out)
}

/// Creates the missing mount points (and their missing parents) through
/// `sys`, and returns what was created, parents first, including the lower
/// directories that creating them copies up into `upper`.
pub fn make_stubs(
    sys: &mut impl Sys,
    merged: &Path,
    upper: &Path,
    targets: &[Target],
) -> io::Result<Vec<Stub>> {
    let mut stubs: Vec<Stub> = Vec::new();
    for target in targets {
        let rel = target.path.strip_prefix(merged).map_err(io::Error::other)?;
        let parts: Vec<_> = rel.components().collect();
        let mut at = PathBuf::new();
        for (i, part) in parts.iter().enumerate() {
            let parent = at.clone();
            at.push(part);
            let known = stubs.iter().any(|s| s.path == at);
            if known || merged.join(&at).symlink_metadata().is_ok() {
                continue;
            }
            // Creating `at` copies every ancestor up that upper lacks.
            let mut ancestor = PathBuf::new();
            for piece in parent.components() {
                ancestor.push(piece);
                let recorded = stubs.iter().any(|s| s.path == ancestor);
                if !recorded && upper.join(&ancestor).symlink_metadata().is_err() {
                    stubs.push(Stub { path: ancestor.clone(), kind: StubKind::CopiedUp });
                }
            }
            let last = i + 1 == parts.len();
            if last && target.file {
                sys.touch(&merged.join(&at))?;
                stubs.push(Stub { path: at.clone(), kind: StubKind::File });
            } else {
                sys.mkdir(&merged.join(&at), 0o755)?;
                stubs.push(Stub { path: at.clone(), kind: StubKind::Dir });
            }
        }
    }
    Ok(stubs)
}

/// Takes the stubs back out of `upper` once the step is over, deepest
/// first: a stub the command filled or changed stays. A lower directory
/// that making a stub copied up stays in the layer, its mtime the time the
/// stub went out of it, as BuildKit's layer has it (`/tmp` after `RUN
/// --mount=type=cache,target=/tmp/meta`).
pub fn remove_stubs(stubs: &[Stub], upper: &Path) {
    for stub in stubs.iter().rev() {
        let path = upper.join(&stub.path);
        let Ok(meta) = path.symlink_metadata() else { continue };
        match stub.kind {
            StubKind::Dir => {
                let _ = std::fs::remove_dir(&path);
            }
            StubKind::File => {
                if meta.is_file() && meta.len() == 0 {
                    let _ = std::fs::remove_file(&path);
                }
            }
            StubKind::CopiedUp => {}
        }
    }
}

/// The init's part, in the new PID namespace: a mount namespace of its own
/// (so `pivot_root` leaves the helper's root alone), the hostname, /proc,
/// /dev, /sys, the /etc files, the extra mounts, then `pivot_root`.
/// `targets` comes from [`targets`], `hostname_file` holds the hostname.
/// `secret_files` holds, per file secret in spec order, the file on the
/// helper's private tmpfs to bind read-only at its target.
pub fn build_rootfs(
    sys: &mut impl Sys,
    spec: &StepSpec,
    targets: &[Target],
    hostname_file: &Path,
    secret_files: &[PathBuf],
) -> io::Result<()> {
    let merged = &spec.rootfs.merged;
    let at = |i: usize| targets[i].path.as_path();
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    let ro_remount =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NODEV;
    let rw_remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV;
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys.unshare(CloneFlags::CLONE_NEWNS)?;
    sys.mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    sys.sethostname(&spec.hostname)?;

    // The step's device nodes, made on a tmpfs of the helper's (out of
    // reach once the old root is gone) and bound where they are needed.
    let nodes = hostname_file.with_file_name("devnodes");
    sys.mkdir(&nodes, 0o755)?;
    sys.mount(
        Some(Path::new("tmpfs")),
        &nodes,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=755,size=64k"),
    )?;
    for (node, major, minor) in DEV_NODES {
        sys.mknod_char(&nodes.join(node), major, minor)?;
    }
    let null = nodes.join("null");

    // /proc, with Docker's masked and read-only paths.
    let proc_ = at(0);
    sys.mount(
        Some(Path::new("proc")),
        proc_,
        Some("proc"),
        nosuid_nodev | MsFlags::MS_NOEXEC,
        None,
    )?;
    for path in READONLY {
        let p = proc_.join(&path["/proc/".len()..]);
        if p.exists() {
            sys.mount(Some(&p), &p, None, bind, None)?;
            sys.mount(None, &p, None, ro_remount | MsFlags::MS_REC, None)?;
        }
    }
    let masked_in_proc: Vec<&str> =
        MASKED.iter().copied().filter(|p| p.starts_with("/proc/")).collect();
    mask(sys, proc_, "/proc/", &masked_in_proc, &null)?;

    // /dev: a nodev tmpfs holding the step's own nodes, made on a tmpfs of
    // the helper's (gone with the old root) and bound in one by one; a
    // private devpts; shm.
    let dev = at(1);
    sys.mount(
        Some(Path::new("tmpfs")),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    for (node, _, _) in DEV_NODES {
        let made = nodes.join(node);
        let path = dev.join(node);
        sys.touch(&path)?;
        sys.mount(Some(&made), &path, None, MsFlags::MS_BIND, None)?;
    }
    sys.mkdir(&dev.join("pts"), 0o755)?;
    sys.mount(
        Some(Path::new("devpts")),
        &dev.join("pts"),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    sys.mkdir(&dev.join("shm"), 0o1777)?;
    sys.mount(
        Some(Path::new("shm")),
        &dev.join("shm"),
        Some("tmpfs"),
        nosuid_nodev | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        sys.symlink(Path::new(target), &dev.join(link))?;
    }

    // /sys, read-only, Docker's paths of it masked.
    sys.mount(
        Some(Path::new("sysfs")),
        at(2),
        Some("sysfs"),
        nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
        None,
    )?;
    let masked_in_sys: Vec<&str> =
        MASKED.iter().copied().filter(|p| p.starts_with("/sys/")).collect();
    mask(sys, at(2), "/sys/", &masked_in_sys, &null)?;

    // /etc/resolv.conf, /etc/hosts, /etc/hostname: read-only binds.
    for (i, source) in
        [&spec.resolv_conf, &spec.hosts, &hostname_file.to_path_buf()].into_iter().enumerate()
    {
        sys.mount(Some(source), at(3 + i), None, MsFlags::MS_BIND, None)?;
        sys.mount(None, at(3 + i), None, ro_remount, None)?;
    }

    // The step's own mounts.
    for (i, mount) in spec.mounts.iter().enumerate() {
        let target = at(6 + i);
        match mount {
            Mount::Bind { source, readonly, .. } => {
                sys.mount(Some(source), target, None, bind, None)?;
                let remount = if *readonly { ro_remount } else { rw_remount };
                sys.mount(None, target, None, remount | MsFlags::MS_REC, None)?;
            }
            Mount::Tmpfs { size, .. } => {
                let data = if *size > 0 { format!("size={size}") } else { String::new() };
                sys.mount(
                    Some(Path::new("tmpfs")),
                    target,
                    Some("tmpfs"),
                    nosuid_nodev,
                    (!data.is_empty()).then_some(data.as_str()),
                )?;
            }
            Mount::Overlay { lowers, scratch, readonly, .. } => {
                let rootfs = RootFs {
                    lowers: lowers.clone(),
                    upper: scratch.join("upper"),
                    work: scratch.join("work"),
                    merged: target.to_owned(),
                };
                mount_overlay(sys, &rootfs, &scratch.join("empty"))?;
                if *readonly {
                    sys.mount(None, target, None, ro_remount, None)?;
                }
            }
        }
    }
    let first_secret = 6 + spec.mounts.len();
    for (i, file) in secret_files.iter().enumerate() {
        let target = at(first_secret + i);
        sys.mount(Some(file), target, None, MsFlags::MS_BIND, None)?;
        sys.mount(None, target, None, ro_remount, None)?;
    }
    sys.pivot_root(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::RecordingSys;

    fn sample(merged: &Path, network: NetworkMode, lowers: Vec<PathBuf>) -> StepSpec {
        StepSpec {
            args: vec!["true".into()],
            env: Vec::new(),
            cwd: "/".into(),
            user: String::new(),
            hostname: "h".into(),
            network,
            netns: None,
            terminal: false,
            rootfs: RootFs {
                lowers,
                upper: "/s/u".into(),
                work: "/s/w".into(),
                merged: merged.to_owned(),
            },
            mounts: vec![Mount::Tmpfs { target: "/cache".into(), size: 4096 }],
            secrets: Vec::new(),
            copy: None,
            resolv_conf: "/etc/resolv.conf".into(),
            hosts: "/etc/hosts".into(),
        }
    }

    #[test]
    fn the_helper_unshares_makes_mounts_private_then_mounts_the_overlay() {
        let mut sys = RecordingSys::default();
        let spec = sample(Path::new("/s/m"), NetworkMode::None, vec!["/l/2".into(), "/l/1".into()]);
        enter_namespaces(&mut sys, &spec, Path::new("/s/empty")).unwrap();
        assert_eq!(
            sys.calls,
            [
                "unshare CloneFlags(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET)",
                "mount - / - MsFlags(MS_REC | MS_PRIVATE) -",
                "mount overlay /s/m overlay MsFlags(MS_NODEV) lowerdir=/l/2:/l/1,upperdir=/s/u,\
                 workdir=/s/w,redirect_dir=off,metacopy=off,index=off",
            ]
        );
        let mut sys = RecordingSys::default();
        let mut spec = sample(Path::new("/s/m"), NetworkMode::Default, Vec::new());
        let err = enter_namespaces(&mut sys, &spec, Path::new("/s/empty")).unwrap_err();
        assert!(err.to_string().contains("no namespace"), "never the host's network: {err}");
        assert!(sys.calls.is_empty(), "{:?}", sys.calls);
        spec.netns = Some("/proc/1/fd/7".into());
        enter_namespaces(&mut sys, &spec, Path::new("/s/empty")).unwrap();
        assert_eq!(sys.calls[0], "setns /proc/1/fd/7 NET", "the default network joins its own");
        assert!(!sys.calls[1].contains("NEWNET"), "{}", sys.calls[1]);
        assert!(sys.calls[3].contains("lowerdir=/s/empty,"), "{}", sys.calls[3]);
        let mut sys = RecordingSys::default();
        let spec = sample(Path::new("/s/m"), NetworkMode::Host, Vec::new());
        enter_namespaces(&mut sys, &spec, Path::new("/s/empty")).unwrap();
        assert!(sys.calls[0].starts_with("unshare") && !sys.calls[0].contains("NEWNET"));
    }

    #[test]
    fn overlay_options_are_escaped_and_bounded() {
        let data = overlay_data(&[Path::new("/a:b,c")], Path::new("/u"), Path::new("/w")).unwrap();
        assert!(data.starts_with("lowerdir=/a\\:b\\,c,upperdir=/u,"), "{data}");
        let long = PathBuf::from(format!("/{}", "x".repeat(100)));
        let many: Vec<&Path> = std::iter::repeat_n(long.as_path(), 50).collect();
        let err = overlay_data(&many, Path::new("/u"), Path::new("/w")).unwrap_err();
        assert!(err.to_string().contains("50 layers"), "{err}");

        // Too long as absolute paths, short enough relative to the store.
        let store = PathBuf::from(format!("/{}/snapshots", "s".repeat(60)));
        let lowers: Vec<PathBuf> = (0..60).map(|i| store.join(format!("{i:03}"))).collect();
        let rootfs = RootFs {
            lowers,
            upper: store.join("up/u"),
            work: store.join("up/w"),
            merged: "/m".into(),
        };
        let mut sys = RecordingSys::default();
        mount_overlay(&mut sys, &rootfs, Path::new("/e")).unwrap();
        assert_eq!(sys.calls[0], format!("chdir {}", store.display()));
        assert!(sys.calls[1].contains("lowerdir=000:001:"), "{}", sys.calls[1]);
        assert!(sys.calls[1].contains(",upperdir=up/u,workdir=up/w,"), "{}", sys.calls[1]);
    }

    #[test]
    fn the_init_builds_the_rootfs_in_order_and_pivots_last() {
        let dir = tempfile::tempdir().unwrap();
        let merged = dir.path();
        let spec = sample(merged, NetworkMode::Default, Vec::new());
        let targets = targets(&spec).unwrap();
        let mut sys = RecordingSys::default();
        let stubs = make_stubs(&mut sys, merged, Path::new("/nonexistent"), &targets).unwrap();
        let kinds: Vec<_> = stubs.iter().map(|s| (s.path.display().to_string(), s.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("proc".into(), StubKind::Dir),
                ("dev".into(), StubKind::Dir),
                ("sys".into(), StubKind::Dir),
                ("etc".into(), StubKind::Dir),
                ("etc/resolv.conf".into(), StubKind::File),
                ("etc/hosts".into(), StubKind::File),
                ("etc/hostname".into(), StubKind::File),
                ("cache".into(), StubKind::Dir),
            ]
        );
        let mut sys = RecordingSys::default();
        build_rootfs(&mut sys, &spec, &targets, Path::new("/s/hostname"), &[]).unwrap();
        let m = merged.display().to_string();
        let calls: Vec<String> = sys.calls.iter().map(|c| c.replace(&m, "M")).collect();
        // The step's own device nodes first, on a tmpfs of the helper's;
        // nothing of the host's /dev is bound anywhere.
        let expected_prefix = [
            "unshare CloneFlags(CLONE_NEWNS)",
            "mount - / - MsFlags(MS_REC | MS_PRIVATE) -",
            "sethostname h",
            "mkdir /s/devnodes 755",
            "mount tmpfs /s/devnodes tmpfs MsFlags(MS_NOSUID | MS_NOEXEC) mode=755,size=64k",
            "mknod /s/devnodes/null c 1:3",
            "mknod /s/devnodes/zero c 1:5",
            "mknod /s/devnodes/full c 1:7",
            "mknod /s/devnodes/random c 1:8",
            "mknod /s/devnodes/urandom c 1:9",
            "mknod /s/devnodes/tty c 5:0",
            "mount proc M/proc proc MsFlags(MS_NOSUID | MS_NODEV | MS_NOEXEC) -",
        ];
        assert_eq!(&calls[..expected_prefix.len()], expected_prefix);
        assert!(!calls.iter().any(|c| c.starts_with("mount /dev/")), "{calls:#?}");
        for needed in [
            "mount tmpfs M/dev tmpfs MsFlags(MS_NOSUID | MS_NODEV | MS_STRICTATIME) mode=755,size=65536k",
            "touch M/dev/null",
            "mount /s/devnodes/null M/dev/null - MsFlags(MS_BIND) -",
            "mount devpts M/dev/pts devpts MsFlags(MS_NOSUID | MS_NOEXEC) newinstance,ptmxmode=0666,mode=0620",
            "symlink M/dev/ptmx -> pts/ptmx",
            "mount sysfs M/sys sysfs MsFlags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) -",
            "mount /etc/resolv.conf M/etc/resolv.conf - MsFlags(MS_BIND) -",
            "mount - M/etc/resolv.conf - MsFlags(MS_RDONLY | MS_NODEV | MS_REMOUNT | MS_BIND) -",
            "mount /s/hostname M/etc/hostname - MsFlags(MS_BIND) -",
            "mount tmpfs M/cache tmpfs MsFlags(MS_NOSUID | MS_NODEV) size=4096",
        ] {
            assert!(calls.iter().any(|c| c == needed), "missing {needed:?} in {calls:#?}");
        }
        assert_eq!(calls.last().unwrap(), "pivot_root M");
    }

    #[test]
    fn stubs_go_and_copied_up_parents_stay_as_in_buildkits_layers() {
        // docker 26.1: `RUN true` on an image with /etc but no resolv.conf
        // leaves `etc` (with the build's mtime) in its layer, not the stub.
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/resolv.conf"), "").unwrap();
        std::fs::create_dir_all(upper.join("proc")).unwrap();
        let stubs = vec![
            Stub { path: "etc".into(), kind: StubKind::CopiedUp },
            Stub { path: "etc/resolv.conf".into(), kind: StubKind::File },
            Stub { path: "proc".into(), kind: StubKind::Dir },
        ];
        remove_stubs(&stubs, &upper);
        assert!(upper.join("etc").is_dir(), "the copied-up parent stays");
        assert!(!upper.join("etc/resolv.conf").exists(), "the stub goes");
        assert!(!upper.join("proc").exists(), "an empty stub directory goes");

        std::fs::write(upper.join("etc/resolv.conf"), "nameserver 1.1.1.1\n").unwrap();
        remove_stubs(&stubs, &upper);
        assert!(upper.join("etc/resolv.conf").exists(), "a stub the step wrote stays");
    }
}
