//! Helpers shared by the end-to-end tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The `rbuild` binary under test. Out of a GitHub Actions runner's
/// environment, so `--progress=auto` means the same everywhere (the tests of
/// GitHub mode set it again).
pub(crate) fn rbuild() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rbuild"));
    command.env_remove("GITHUB_ACTIONS").env_remove("GITHUB_STEP_SUMMARY");
    command
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

/// Mounts whose mount point is under `root` (the test's own fixture): other
/// containers on the machine may mount and unmount while the test runs.
pub(crate) fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.canonicalize().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
        .filter(|point| Path::new(point).starts_with(&root))
        .collect()
}

/// Host processes whose command line contains `marker`.
pub(crate) fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(format!("{}: {cmdline}", name.to_string_lossy()));
            }
        }
    }
    found
}

/// Waits (at most a minute: a hang guard, not a measure) until `done`.
pub(crate) fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

/// A host of the test's own on a network namespace it creates (`ip netns`),
/// joined to the host by a veth pair on a /24 of 10.213/16: a peer for
/// outbound connections that sends no traffic off the machine. It accepts
/// TCP connections on `addr`, records the first line of each and answers
/// `hello from the test host`. Dropping it deletes the pair and the
/// namespace.
pub(crate) struct TestHost {
    name: String,
    /// Where it listens.
    pub(crate) addr: std::net::SocketAddr,
    /// The interface on the host's side.
    pub(crate) host_link: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestHost {
    pub(crate) fn start() -> TestHost {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("rbuild-test-{pid}-{n}");
        let subnet = (pid % 200 + n * 7) % 250 + 1;
        let host_link = format!("rbt{}h{n}", pid % 100_000);
        let peer_link = format!("rbt{}p{n}", pid % 100_000);
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip (iproute2) is needed");
            assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        ip(&["netns", "add", &name]);
        let mut host = TestHost {
            name: name.clone(),
            addr: format!("10.213.{subnet}.2:0").parse().unwrap(),
            host_link: host_link.clone(),
            received: Default::default(),
        };
        ip(&["link", "add", &host_link, "type", "veth", "peer", "name", &peer_link]);
        ip(&["link", "set", &peer_link, "netns", &name]);
        ip(&["addr", "add", &format!("10.213.{subnet}.1/24"), "dev", &host_link]);
        ip(&["link", "set", &host_link, "up"]);
        ip(&["-n", &name, "addr", "add", &format!("10.213.{subnet}.2/24"), "dev", &peer_link]);
        ip(&["-n", &name, "link", "set", &peer_link, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        // The listener is made on a thread that joined the namespace.
        let ns = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
        let bind = host.addr;
        let listener = std::thread::spawn(move || {
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            std::net::TcpListener::bind(bind).unwrap()
        })
        .join()
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let log = host.received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(&conn);
                let _ = std::io::BufRead::read_line(&mut reader, &mut line);
                log.lock().unwrap().push(line);
                let _ = conn.write_all(b"hello from the test host\n");
            }
        });
        host.addr = addr;
        host
    }

    /// The first line of each connection so far.
    pub(crate) fn received(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.host_link]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}
