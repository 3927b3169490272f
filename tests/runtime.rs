//! The RUN executor for real: namespaces, overlayfs, mounts, users,
//! networks, cancellation and clean-up, with the rbuild binary as helper.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rbuild_llb::{Cancel, NetworkMode, RunMount, Stream};
use rbuild_runtime::{
    CacheMounts, CacheOwner, ExecError, Executor, Mount, RootFs, SecretMount, Secrets, StepSpec,
};

use crate::util::{busybox_rootfs, have_root, mounts_under, processes_with, tempdir};

/// A busybox image root and a place for steps' snapshots and state.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    base: PathBuf,
    steps: usize,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempdir();
        let root = dir.path().to_owned();
        let base = root.join("base");
        busybox_rootfs(&base);
        Fixture { _dir: dir, root, base, steps: 0 }
    }

    /// A spec for `sh -c script` on the base, with a fresh upper dir.
    fn spec(&mut self, script: &str) -> StepSpec {
        self.steps += 1;
        let step = self.root.join(format!("s{}", self.steps));
        StepSpec {
            args: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "rbuild-step".into(),
            network: NetworkMode::Default,
            netns: None,
            terminal: false,
            rootfs: RootFs {
                lowers: vec![self.base.clone()],
                upper: step.join("upper"),
                work: step.join("work"),
                merged: step.join("merged"),
            },
            mounts: Vec::new(),
            secrets: Vec::new(),
            copy: None,
            resolv_conf: "/etc/resolv.conf".into(),
            hosts: "/etc/hosts".into(),
        }
    }

    fn state(spec: &StepSpec) -> PathBuf {
        spec.rootfs.upper.parent().unwrap().join("state")
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn executor() -> Executor {
    Executor::new(env!("CARGO_BIN_EXE_rbuild"))
}

fn run(spec: &StepSpec) -> Outcome {
    try_run(spec).unwrap_or_else(|e| panic!("step failed to run: {e}"))
}

fn try_run(spec: &StepSpec) -> Result<Outcome, ExecError> {
    try_run_with(spec, &Secrets::new())
}

fn try_run_with(spec: &StepSpec, secrets: &Secrets) -> Result<Outcome, ExecError> {
    let (mut stdout, mut stderr) = (String::new(), String::new());
    let status =
        executor().run(spec, secrets, &Fixture::state(spec), &Cancel::new(), |stream, line| {
            let text = String::from_utf8_lossy(line);
            match stream {
                Stream::Stdout => stdout.push_str(&text),
                Stream::Stderr => stderr.push_str(&text),
            }
        })?;
    Ok(Outcome { code: status.code, stdout, stderr })
}

/// Relative paths of everything under `dir`, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.push(path.strip_prefix(base).unwrap().display().to_string());
            if path.symlink_metadata().unwrap().is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_step_has_its_own_pid_namespace_hostname_and_mounts() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let spec = fx.spec(
        "echo pid=$$; echo host=$(hostname); ls /proc | grep -c '^[0-9]'; \
         cut -d' ' -f5 /proc/self/mountinfo",
    );
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("pid=1"));
    assert_eq!(lines.next(), Some("host=rbuild-step"));
    let processes: usize = lines.next().unwrap().parse().unwrap();
    assert!(processes <= 4, "{processes} processes visible: the host's leak in");
    let mounts: Vec<&str> = lines.collect();
    let allowed = |m: &str| {
        m == "/"
            || m == "/proc"
            || m.starts_with("/proc/")
            || m == "/dev"
            || m.starts_with("/dev/")
            || m == "/sys"
            // Docker's masked paths of /sys, behind empty tmpfs mounts.
            || ["/sys/firmware", "/sys/devices/virtual/powercap", "/sys/kernel/security"]
                .contains(&m)
            || ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"].contains(&m)
    };
    assert!(mounts.contains(&"/") && mounts.contains(&"/proc") && mounts.contains(&"/dev/pts"));
    let foreign: Vec<_> = mounts.iter().filter(|m| !allowed(m)).collect();
    assert!(foreign.is_empty(), "host mounts visible in the step: {foreign:?}");
}

#[test]
fn output_streams_exit_codes_and_setup_errors() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let out = run(&fx.spec("echo out; echo err >&2; echo more; exit 3"));
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (3, "out\nmore\n", "err\n"));

    let mut spec = fx.spec("true");
    spec.args = vec!["no-such-program".into()];
    match try_run(&spec) {
        Err(ExecError::Setup(message)) => {
            assert!(message.contains("no-such-program: executable file not found"), "{message}")
        }
        other => panic!("expected a setup error, got {:?}", other.map(|o| o.code)),
    }

    let mut spec = fx.spec("id");
    spec.user = "ghost".into();
    match try_run(&spec) {
        Err(ExecError::Setup(message)) => {
            assert!(message.contains("unable to find user ghost"), "{message}")
        }
        other => panic!("expected a setup error, got {:?}", other.map(|o| o.code)),
    }
}

#[test]
fn user_by_name_and_by_uid_gid() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let mut spec = fx.spec("id; echo home=$HOME; touch /tmp/mine && stat -c %u:%g /tmp/mine");
    spec.user = "app".into();
    std::fs::create_dir_all(fx.base.join("tmp")).unwrap();
    std::fs::set_permissions(
        fx.base.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "uid=1000(app) gid=1000(app) groups=10(wheel),1000(app)\nhome=/home/app\n1000:1000\n"
    );
    let mut spec = fx.spec("id");
    spec.user = "4242:65534".into();
    let out = run(&spec);
    assert_eq!(out.stdout, "uid=4242 gid=65534(nogroup) groups=65534(nogroup)\n");
}

#[test]
fn writes_land_in_the_upper_dir_and_mount_stubs_do_not() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let mut spec = fx.spec("echo data > /new.txt; rm /bin/vi; mkdir -p /app; echo x > /app/y");
    spec.cwd = "/work/dir".into();
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let upper = &spec.rootfs.upper;
    // `etc` is the base's /etc, copied up when the /etc/resolv.conf and
    // /etc/hosts mount points were made in it: it stays, as in BuildKit's
    // layers (docker 26.1), while the mount points themselves go.
    assert_eq!(
        tree(upper),
        ["app", "app/y", "bin", "bin/vi", "etc", "new.txt", "work", "work/dir"]
    );
    // The base image had no /proc, /dev, /sys or /etc/resolv.conf: their
    // mount points were made for the step and taken out again.
    assert!(fx.base.join("bin/vi").symlink_metadata().is_ok(), "the lower dir is untouched");
    use std::os::unix::fs::FileTypeExt as _;
    assert!(upper.join("bin/vi").symlink_metadata().unwrap().file_type().is_char_device());
}

/// A listener on the host's 127.0.0.1 that records the first line of each
/// connection, and an abstract unix socket of the host named `abstract`.
struct HostServices {
    port: u16,
    accepted: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    abstract_name: String,
    _abstract: std::os::unix::net::UnixListener,
}

impl HostServices {
    fn start() -> HostServices {
        use std::os::linux::net::SocketAddrExt as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let log = accepted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut line = String::new();
                let mut conn = std::io::BufReader::new(conn.unwrap());
                std::io::BufRead::read_line(&mut conn, &mut line).unwrap();
                log.lock().unwrap().push(line);
            }
        });
        let abstract_name = format!("rbuild-test-abstract-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&abstract_name).unwrap();
        let unix = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        HostServices { port, accepted, abstract_name, _abstract: unix }
    }

    fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }
}

#[test]
fn network_none_has_only_loopback_and_cannot_reach_the_host() {
    if !have_root() {
        return;
    }
    let host = HostServices::start();
    let mut fx = Fixture::new();
    let script = format!(
        "ls /sys/class/net | tr '\\n' ' '; echo; cat /sys/class/net/lo/operstate; \
         echo hello | nc -w 2 127.0.0.1 {} && echo connected || echo refused",
        host.port
    );
    let mut spec = fx.spec(&script);
    spec.network = NetworkMode::None;
    let out = run(&spec);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "lo ", "only lo in the namespace: {}", out.stdout);
    assert_ne!(lines[1], "down", "lo is up");
    assert_eq!(lines[2], "refused", "{}", out.stderr);
    assert!(host.accepted().is_empty(), "nothing reached the host listener");
}

/// What a step sees of the network: its interfaces, whether the host's
/// 127.0.0.1 listener (directly and through slirp4netns' gateway) answers,
/// whether the host's abstract socket is in its namespace, and what the
/// test host answers.
fn network_probe(host: &HostServices, peer: &crate::util::TestHost) -> String {
    format!(
        "ls /sys/class/net | tr '\\n' ' '; echo; \
         echo loopback | nc -w 2 127.0.0.1 {port} && echo loopback-reached || echo loopback-refused; \
         echo gateway | nc -w 2 10.0.2.2 {port} && echo gateway-reached || echo gateway-refused; \
         grep -c {name} /proc/net/unix; \
         echo outbound | nc -w 5 {ip} {peer_port}",
        port = host.port,
        name = host.abstract_name,
        ip = peer.addr.ip(),
        peer_port = peer.addr.port(),
    )
}

#[test]
fn the_default_network_reaches_out_but_not_the_hosts_loopback_sockets_or_interfaces() {
    if !have_root() {
        return;
    }
    let host = HostServices::start();
    let peer = crate::util::TestHost::start();
    let mut fx = Fixture::new();
    let out = run(&fx.spec(&network_probe(&host, &peer)));
    assert_eq!(
        out.stdout, "lo tap0 \nloopback-refused\ngateway-refused\n0\nhello from the test host\n",
        "{}",
        out.stderr
    );
    assert!(host.accepted().is_empty(), "the host's loopback was reached: {:?}", host.accepted());
    assert_eq!(peer.received(), ["outbound\n"], "the test host got the step's line");

    // The resolver: the host's, with a loopback one replaced by slirp4netns'
    // forwarder (the host's 127.0.0.53 is not reachable from the step).
    let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let out = run(&fx.spec("cat /etc/resolv.conf"));
    let servers = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("nameserver "))
            .map(|a| a.trim().to_owned())
            .collect()
    };
    let expected: Vec<String> = servers(&host_conf)
        .into_iter()
        .map(|a| match a.parse::<std::net::IpAddr>() {
            Ok(ip) if ip.is_loopback() => "10.0.2.3".to_owned(),
            _ => a,
        })
        .fold(Vec::new(), |mut v, a| {
            if !v.contains(&a) {
                v.push(a);
            }
            v
        });
    assert_eq!(servers(&out.stdout), expected, "{}", out.stdout);

    // --network=host: all of it, as asked.
    let mut spec = fx.spec(&network_probe(&host, &peer));
    spec.network = NetworkMode::Host;
    let out = run(&spec);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains(&peer.host_link), "the host's interfaces: {}", lines[0]);
    assert_eq!(
        lines[1..],
        ["loopback-reached", "gateway-refused", "1", "hello from the test host"]
    );
    assert_eq!(host.accepted(), ["loopback\n"]);
}

/// The pids of the slirp4netns processes serving the network namespace
/// `ns` (as `readlink /proc/PID/ns/net` shows it) through a descriptor of
/// this test process: other tests' executors have their own.
fn slirps_serving(ns: &str) -> Vec<String> {
    let ours = format!("/proc/{}/fd/", std::process::id());
    processes_with(&ours)
        .into_iter()
        .filter(|p| p.contains("slirp4netns"))
        .filter(|p| {
            let fd = p.split(&ours).nth(1).and_then(|rest| rest.split(' ').next()).unwrap_or("");
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .is_ok_and(|target| target.to_string_lossy() == ns)
        })
        .filter_map(|p| p.split(':').next().map(str::to_owned))
        .collect()
}

#[test]
fn one_executor_reuses_its_network_namespace_and_leaves_nothing_behind() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let exec = executor();
    let run_with = |spec: &StepSpec| {
        let mut stdout = String::new();
        let status = exec
            .run(spec, &Secrets::new(), &Fixture::state(spec), &Cancel::new(), |_, line| {
                stdout.push_str(&String::from_utf8_lossy(line))
            })
            .unwrap();
        assert!(status.success());
        stdout
    };
    // The namespace's identity; the first step leaves a listener running,
    // which dies with its PID namespace before the next step gets the
    // network namespace.
    let ns = "readlink /proc/self/ns/net";
    let first = run_with(&fx.spec(&format!(
        "{ns}; nc -l -p 8080 & n=0; while ! grep -q ':1F90 ' /proc/net/tcp /proc/net/tcp6 && [ $n -lt 100000 ]; do n=$((n+1)); done; echo listening"
    )));
    let second = run_with(
        &fx.spec(&format!("{ns}; cat /proc/net/tcp /proc/net/tcp6 | grep -c ':1F90 ' || true")),
    );
    let (first, second): (Vec<&str>, Vec<&str>) =
        (first.lines().collect(), second.lines().collect());
    assert_eq!(first[1], "listening");
    assert_eq!(first[0], second[0], "the second step got the first one's namespace");
    assert_eq!(second[1], "0", "and no listener of the first step");
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(first[0], host.to_string_lossy(), "not the host's");
    let slirps = slirps_serving(first[0]);
    assert_eq!(slirps.len(), 1, "one slirp4netns for both steps: {slirps:?}");
    drop(exec);
    let slirp = Path::new("/proc").join(&slirps[0]);
    assert!(!slirp.exists(), "slirp4netns {} outlived its executor", slirps[0]);
}

#[test]
fn tmpfs_and_bind_mounts() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let shared = fx.root.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("in.txt"), "from host\n").unwrap();
    let below = fx.root.join("below");
    std::fs::create_dir_all(&below).unwrap();
    std::fs::write(below.join("low.txt"), "from below\n").unwrap();
    let mut spec = fx.spec(
        "cat /ro/in.txt; echo no > /ro/x 2>/dev/null || echo ro-refused; \
         echo kept > /rw/out.txt; echo t > /scratch/t; mount | grep -c ' /scratch '; \
         echo thrown-away > /discard/in.txt; cat /discard/in.txt; \
         cat /merged/in.txt /merged/low.txt; echo no > /merged/x 2>/dev/null || echo ro-overlay-refused",
    );
    spec.mounts = vec![
        Mount::Bind { source: shared.clone(), target: "/ro".into(), readonly: true },
        Mount::Bind { source: shared.clone(), target: "/rw".into(), readonly: false },
        Mount::Tmpfs { target: "/scratch".into(), size: 1 << 20 },
        // `--mount=type=bind,rw`: writable, writes thrown away.
        Mount::Overlay {
            lowers: vec![shared.clone()],
            scratch: fx.root.join("discard"),
            target: "/discard".into(),
            readonly: false,
        },
        // A read-only bind of several layers of another stage.
        Mount::Overlay {
            lowers: vec![shared.clone(), below.clone()],
            scratch: fx.root.join("merged"),
            target: "/merged".into(),
            readonly: true,
        },
    ];
    let out = run(&spec);
    assert_eq!(
        out.stdout,
        "from host\nro-refused\n1\nthrown-away\nfrom host\nfrom below\nro-overlay-refused\n",
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(shared.join("in.txt")).unwrap(), "from host\n");
    assert_eq!(std::fs::read_to_string(shared.join("out.txt")).unwrap(), "kept\n");
    assert_eq!(
        tree(&spec.rootfs.upper),
        ["etc"],
        "mounts leave nothing in the layer but the /etc mount points' parent"
    );
}

#[test]
fn a_hundred_steps_leave_no_mount_and_no_process_behind() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    assert!(mounts_under(&fx.root).is_empty());
    for i in 0..100 {
        let out = run(&fx.spec(&format!("echo {i} > /n")));
        assert_eq!(out.code, 0, "step {i}: {}", out.stderr);
    }
    assert_eq!(mounts_under(&fx.root), Vec::<String>::new(), "mounts left on the host");
    let root = fx.root.display().to_string();
    assert!(processes_with(&root).is_empty(), "{:?}", processes_with(&root));
}

#[test]
fn a_cancelled_step_leaves_no_mount_and_no_process_behind() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let marker = format!("{}.{}", 1000 + std::process::id() % 1000, fx.steps + 7);
    let spec = fx.spec(&format!("sleep {marker} & sleep {marker}; echo never"));
    assert!(mounts_under(&fx.root).is_empty());
    let cancel = Cancel::new();
    let canceller = cancel.clone();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        canceller.cancel();
    });
    let mut seen = Vec::new();
    let result =
        executor().run(&spec, &Secrets::new(), &Fixture::state(&spec), &cancel, |_, line| {
            seen.extend_from_slice(line)
        });
    killer.join().unwrap();
    assert!(matches!(result, Err(ExecError::Cancelled)), "{result:?}");
    assert!(seen.is_empty());
    // Processes die with their namespace; give the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&format!("sleep {marker}")).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(processes_with(&format!("sleep {marker}")).is_empty());
    assert_eq!(mounts_under(&fx.root), Vec::<String>::new(), "mounts left on the host");
    let _ = std::io::stderr().flush();
}

/// (path, kind, mode, uid, gid, link target) of every entry of a layer tar.
fn layer_entries(layer: &[u8]) -> Vec<(String, char, u32, u64, u64, String)> {
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                tar::EntryType::Fifo => 'p',
                tar::EntryType::Regular => 'f',
                other => panic!("unexpected {other:?}"),
            };
            let link = e.link_name().unwrap().map(|l| l.display().to_string()).unwrap_or_default();
            let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            (path, kind, h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap(), link)
        })
        .collect()
}

#[test]
fn a_steps_changes_become_an_exact_layer_and_apply_back() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    std::fs::create_dir_all(fx.base.join("opt/old")).unwrap();
    std::fs::write(fx.base.join("opt/old/a"), "a").unwrap();
    let spec = fx.spec(
        "set -e; echo data > /new; chown 1000:10 /new; chmod 4750 /new; ln /new /new-link; \
         rm /bin/vi; chmod 700 /etc/group; rm -rf /opt/old; mkdir /opt/old; echo b > /opt/old/b; \
         ln -s /new /sym; mkfifo /pipe",
    );
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut layer = Vec::new();
    let options = rbuild_image::DiffOptions { source_date_epoch: Some(1_000_000_000) };
    let stats = rbuild_image::diff(&spec.rootfs.upper, &mut layer, &options).unwrap();
    assert_eq!(stats.whiteouts, 2);
    let entries = layer_entries(&layer);
    let s = |p: &str, k, m, u, g, l: &str| (p.to_owned(), k, m, u, g, l.to_owned());
    assert_eq!(
        entries,
        [
            s("bin/", 'd', 0o755, 0, 0, ""),
            s("bin/.wh.vi", 'f', 0, 0, 0, ""),
            s("etc/", 'd', 0o755, 0, 0, ""),
            s("etc/group", 'f', 0o700, 0, 0, ""),
            s("new", 'f', 0o4750, 1000, 10, ""),
            s("new-link", 'h', 0o4750, 1000, 10, "new"),
            s("opt/", 'd', 0o755, 0, 0, ""),
            s("opt/old/", 'd', 0o755, 0, 0, ""),
            s("opt/old/.wh..wh..opq", 'f', 0, 0, 0, ""),
            s("opt/old/b", 'f', 0o644, 0, 0, ""),
            s("pipe", 'p', 0o644, 0, 0, ""),
            s("sym", 'l', 0o777, 0, 0, "/new"),
        ]
    );
    // Deterministic, and no mtime after SOURCE_DATE_EPOCH.
    let mut again = Vec::new();
    rbuild_image::diff(&spec.rootfs.upper, &mut again, &options).unwrap();
    assert_eq!(again, layer);
    let mut archive = tar::Archive::new(layer.as_slice());
    for entry in archive.entries().unwrap() {
        assert!(entry.unwrap().header().mtime().unwrap() <= 1_000_000_000);
    }

    // Applied as a snapshot on top of the base, the layer shows the same tree.
    let applied = fx.root.join("applied");
    std::fs::create_dir(&applied).unwrap();
    rbuild_image::apply(layer.as_slice(), &applied).unwrap();
    let mut check = fx.spec(
        "ls /bin/vi 2>&1 || true; ls /opt/old; cat /new; stat -c '%a %u:%g %h' /new; \
         readlink /sym; stat -c %a /etc/group; test -p /pipe && echo fifo",
    );
    check.rootfs.lowers = vec![applied, fx.base.clone()];
    let out = run(&check);
    assert_eq!(
        out.stdout,
        "ls: /bin/vi: No such file or directory\nb\ndata\n4750 1000:10 2\n/new\n700\nfifo\n",
        "{}",
        out.stderr
    );
}

#[test]
fn a_cache_mount_keeps_its_content_across_builds_and_out_of_layers() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let caches = CacheMounts::new(fx.root.join("cache-mounts"));
    let RunMount::Cache { id, target, sharing, mode, uid, gid, .. } =
        RunMount::parse("type=cache,target=/root/.cache,uid=1000,mode=0750").unwrap()
    else {
        panic!("a cache mount")
    };
    let mount = |caches: &CacheMounts| {
        let lease = caches.acquire(&id, sharing, CacheOwner { mode, uid, gid }).unwrap();
        let mount =
            Mount::Bind { source: lease.dir.clone(), target: target.clone(), readonly: false };
        (lease, mount)
    };
    // Two builds, each a new step on the same base.
    let (lease, m) = mount(&caches);
    let mut first = fx
        .spec("stat -c '%a %u' /root/.cache; echo compiled > /root/.cache/obj; echo out > /result");
    first.mounts = vec![m];
    let out = run(&first);
    assert_eq!(out.stdout, "750 1000\n", "{}", out.stderr);
    drop(lease);
    let (_lease, m) = mount(&caches);
    let mut second = fx.spec("cat /root/.cache/obj");
    second.mounts = vec![m];
    let out = run(&second);
    assert_eq!(out.stdout, "compiled\n", "{}", out.stderr);
    // (`etc`: the copied-up parent of the /etc mount points, as BuildKit's.)
    assert_eq!(
        tree(&first.rootfs.upper),
        ["etc", "result"],
        "cache contents stay out of the layer"
    );
    assert_eq!(tree(&second.rootfs.upper), ["etc"]);
}

/// Whether `needle` occurs in any file under `dir`.
fn found_in(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for path in tree(dir) {
        let full = dir.join(&path);
        if full.symlink_metadata().unwrap().is_file() {
            let bytes = std::fs::read(&full).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
    hits
}

#[test]
fn secrets_reach_the_step_and_no_layer_spec_or_state_file() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let value = b"s3cr3t-value-7f1d";
    let mut secrets = Secrets::new();
    secrets.insert("token", value.to_vec());
    secrets.insert("unused", b"never-sent".to_vec());
    let mut spec = fx.spec(
        "stat -c '%a %u' /run/secrets/token; cat /run/secrets/token; echo; echo $API_TOKEN; \
         cp /run/secrets/token /copied-on-purpose-no; rm /copied-on-purpose-no; \
         echo done > /out",
    );
    spec.secrets = vec![
        SecretMount {
            id: "token".into(),
            target: Some("/run/secrets/token".into()),
            env: None,
            mode: 0o400,
            uid: 1000,
            gid: 0,
        },
        SecretMount {
            id: "token".into(),
            target: None,
            env: Some("API_TOKEN".into()),
            mode: 0,
            uid: 0,
            gid: 0,
        },
    ];
    let out = try_run_with(&spec, &secrets).unwrap();
    let v = String::from_utf8_lossy(value);
    assert_eq!(out.stdout, format!("400 1000\n{v}\n{v}\n"), "{}", out.stderr);
    assert_eq!(
        tree(&spec.rootfs.upper),
        ["etc", "out"],
        "the secret's mount point is not in the layer (etc: the /etc mount points' parent)"
    );
    let mut layer = Vec::new();
    rbuild_image::diff(&spec.rootfs.upper, &mut layer, &Default::default()).unwrap();
    assert!(!layer.windows(value.len()).any(|w| w == value), "secret in the layer");
    let state = Fixture::state(&spec);
    assert!(found_in(&state, value).is_empty(), "secret on disk: {:?}", found_in(&state, value));
    assert!(found_in(&state, b"never-sent").is_empty());

    // A secret the step needs but nobody gave is a setup error.
    let mut spec = fx.spec("true");
    spec.secrets = vec![SecretMount {
        id: "missing".into(),
        target: Some("/run/secrets/m".into()),
        env: None,
        mode: 0o400,
        uid: 0,
        gid: 0,
    }];
    match try_run(&spec) {
        Err(ExecError::Setup(message)) => {
            assert!(message.contains("secret missing was not provided"), "{message}")
        }
        other => panic!("expected a setup error, got {:?}", other.map(|o| o.code)),
    }
}

#[test]
fn the_ssh_agent_socket_is_forwarded() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let socket = fx.root.join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&socket).unwrap());
    let RunMount::Ssh { target, .. } = RunMount::parse("type=ssh").unwrap() else { panic!() };
    // busybox has no unix-socket client; the inode proves it is the host's socket.
    let mut spec = fx.spec("stat -c '%F %i' $SSH_AUTH_SOCK");
    spec.env.push(format!("SSH_AUTH_SOCK={target}"));
    spec.mounts = vec![Mount::Bind { source: socket, target, readonly: false }];
    let out = run(&spec);
    assert_eq!(out.stdout, format!("socket {inode}\n"), "{}", out.stderr);
    assert_eq!(tree(&spec.rootfs.upper), ["etc"], "only the /etc mount points' parent");
}

#[test]
fn a_long_chain_of_lower_layers_still_mounts() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    // 70 layers whose absolute paths overflow overlayfs' one-page options.
    let store = fx.root.join("s".repeat(60)).join("snapshots");
    let mut lowers: Vec<PathBuf> = (0..70)
        .map(|i| {
            let dir = store.join(format!("{i:03}"));
            std::fs::create_dir_all(dir.join("layers")).unwrap();
            std::fs::write(dir.join(format!("layers/{i}")), "").unwrap();
            dir
        })
        .collect();
    lowers.reverse();
    // The base image lives in the store like every snapshot.
    std::fs::rename(&fx.base, store.join("base")).unwrap();
    lowers.push(store.join("base"));
    let absolute: usize = lowers.iter().map(|p| p.as_os_str().len() + 1).sum();
    assert!(absolute > 4096, "the test needs a chain too long for absolute paths");
    let mut spec = fx.spec("ls /layers | wc -l");
    spec.rootfs.lowers = lowers;
    spec.rootfs.upper = store.join("up/upper");
    spec.rootfs.work = store.join("up/work");
    let out = run(&spec);
    assert_eq!(out.stdout.trim(), "70", "{}", out.stderr);
}

#[test]
fn copy_steps_write_through_the_overlay() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    let ctx = fx.root.join("ctx");
    std::fs::create_dir_all(ctx.join("app")).unwrap();
    std::fs::write(ctx.join("app/run.sh"), "echo run\n").unwrap();
    std::fs::write(ctx.join("app/notes.md"), "ignored\n").unwrap();
    // From the context, into the image's existing /bin: overlayfs copies
    // /bin up with the image's attributes.
    let mut spec = fx.spec("unused");
    spec.copy = Some(rbuild_runtime::CopyAction {
        spec: rbuild_runtime::CopySpec {
            sources: vec!["app".into()],
            dest: "/bin/".into(),
            chmod: Some(rbuild_llb::Chmod::Octal(0o755)),
            ..Default::default()
        },
        source: rbuild_runtime::CopySource::Context {
            dir: ctx.clone(),
            dockerignore: "**/*.md\n".into(),
        },
    });
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tree(&spec.rootfs.upper), ["bin", "bin/run.sh"]);
    use std::os::unix::fs::MetadataExt as _;
    let (up, base) = (
        std::fs::metadata(spec.rootfs.upper.join("bin")).unwrap(),
        std::fs::metadata(fx.base.join("bin")).unwrap(),
    );
    assert_eq!((up.mode(), up.uid()), (base.mode(), base.uid()));

    // From another stage's layers into an empty rootfs (FROM scratch).
    let mut spec = fx.spec("unused");
    spec.rootfs.lowers = Vec::new();
    spec.copy = Some(rbuild_runtime::CopyAction {
        spec: rbuild_runtime::CopySpec {
            sources: vec!["/bin/busybox".into()],
            dest: "/tools/bb".into(),
            ..Default::default()
        },
        source: rbuild_runtime::CopySource::Layers { lowers: vec![fx.base.clone()] },
    });
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(tree(&spec.rootfs.upper), ["tools", "tools/bb"]);
    assert_eq!(
        std::fs::read(spec.rootfs.upper.join("tools/bb")).unwrap(),
        std::fs::read(fx.base.join("bin/busybox")).unwrap()
    );

    // A source nobody can see is a clear error.
    let mut spec = fx.spec("unused");
    spec.copy = Some(rbuild_runtime::CopyAction {
        spec: rbuild_runtime::CopySpec {
            sources: vec!["app/notes.md".into()],
            dest: "/x".into(),
            ..Default::default()
        },
        source: rbuild_runtime::CopySource::Context { dir: ctx, dockerignore: "**/*.md\n".into() },
    });
    match try_run(&spec) {
        Err(ExecError::Setup(message)) => {
            assert!(message.contains("\"app/notes.md\": not found"), "{message}")
        }
        other => panic!("expected a setup error, got {:?}", other.map(|o| o.code)),
    }
}

#[test]
fn a_step_opens_only_its_own_device_nodes_and_dockers_masked_paths_are_hidden() {
    if !have_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let mut fx = Fixture::new();
    // The step keeps CAP_MKNOD, as under docker, but a node it makes
    // cannot be opened (the rootfs and /dev are nodev); /dev's own nodes
    // work; they are the step's, so chmod on them leaves the host's be.
    let spec = fx.spec(
        "mkdir -p /tmp; \
         mknod /tmp/n c 1 3 && { echo x > /tmp/n && echo tmp-node-opened || echo tmp-node-refused; }; \
         mknod /dev/n2 c 1 3 && { echo x > /dev/n2 && echo dev-node-opened || echo dev-node-refused; }; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c; \
         chmod 600 /dev/full /dev/null && echo chmod-done; \
         cat /proc/kcore | wc -c; ls -A /sys/firmware 2>/dev/null | wc -l; \
         ls -A /proc/acpi 2>/dev/null | wc -l",
    );
    let mode = |p: &str| std::fs::metadata(p).unwrap().permissions().mode();
    let (full, null) = (mode("/dev/full"), mode("/dev/null"));
    let out = run(&spec);
    let (full_after, null_after) = (mode("/dev/full"), mode("/dev/null"));
    // Put the host back whatever happened, then judge.
    let _ = std::fs::set_permissions("/dev/full", std::fs::Permissions::from_mode(full));
    let _ = std::fs::set_permissions("/dev/null", std::fs::Permissions::from_mode(null));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout, "tmp-node-refused\ndev-node-refused\nnull-ok\n4\nchmod-done\n0\n0\n0\n",
        "{}",
        out.stderr
    );
    assert_eq!((full_after, null_after), (full, null), "the host's /dev/full and /dev/null");
}

#[test]
fn a_descriptor_the_build_inherited_never_reaches_a_step() {
    if !have_root() {
        return;
    }
    let dir = tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "inherited-secret-value\n").unwrap();
    let base = dir.path().join("base");
    busybox_rootfs(&base);
    std::fs::write(base.join("Dockerfile"), "FROM scratch\nCOPY . /\n").unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM base:1\nRUN ls /proc/self/fd; cat /proc/self/fd/7 || echo no-descriptor-7\n",
    )
    .unwrap();
    let rbuild = env!("CARGO_BIN_EXE_rbuild");
    let script = format!(
        "set -e; export RBUILD_ROOT={store}; {rbuild} build -t base:1 {base} >/dev/null 2>&1; \
         exec 7<{secret}; {rbuild} build --progress=plain --no-cache {ctx}",
        store = dir.path().join("store").display(),
        base = base.display(),
        secret = secret.display(),
        ctx = ctx.display(),
    );
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let shown =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("no-descriptor-7"), "{shown}");
    assert!(!shown.contains("inherited-secret-value"), "{shown}");
}

#[test]
fn a_step_runs_under_dockers_seccomp_profile() {
    if !have_root() {
        return;
    }
    let mut fx = Fixture::new();
    // Filtered (mode 2), two filters; new namespaces refused (docker's
    // profile without CAP_SYS_ADMIN), as is everything off its list, while
    // the ordinary calls of a shell, fork and exec included, work.
    let spec = fx.spec(
        "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/self/status; \
         unshare -U -r true 2>/dev/null && echo unshare-allowed || echo unshare-refused; \
         unshare -n true 2>/dev/null && echo netns-allowed || echo netns-refused; \
         (echo forked) | cat",
    );
    let out = run(&spec);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "NoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t2\nunshare-refused\nnetns-refused\nforked\n",
        "{}",
        out.stderr
    );
}
