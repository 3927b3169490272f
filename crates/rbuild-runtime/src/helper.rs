//! The two processes behind one step:
//!
//! * the helper (`rbuild __run-step SPEC`, a fresh execution of the rbuild
//!   binary, never a fork of a threaded process) unshares the namespaces,
//!   mounts the overlay, creates mount stubs, forks the init and waits for
//!   it, then takes the stubs back out of the layer;
//! * the init, forked from the single-threaded helper, is PID 1 of the new
//!   PID namespace: it builds the rootfs, pivots into it, becomes the
//!   step's user and execs the command, which so stays PID 1 as with
//!   BuildKit.
//!
//! Setup errors go to `status` in the step's state directory and give exit
//! code 125; the command's own output never mixes with them.

use std::ffi::CString;
use std::fs;
use std::io::{BufRead as _, Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::ForkResult;
use nix::unistd::{Gid, Uid};

use crate::plan;
use rbuild_llb::NetworkMode;

use crate::spec::StepSpec;
use crate::sys::{RealSys, Sys as _};
use crate::user;

/// Exit code of a step whose container could not be set up.
pub const SETUP_FAILED: i32 = 125;

/// The hidden subcommand that runs the helper.
pub const HELPER_COMMAND: &str = "__run-step";

/// Docker's default capabilities; a step keeps only these.
const DEFAULT_CAPS: [caps::Capability; 14] = {
    use caps::Capability::*;
    [
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FSETID,
        CAP_FOWNER,
        CAP_MKNOD,
        CAP_NET_RAW,
        CAP_SETGID,
        CAP_SETUID,
        CAP_SETFCAP,
        CAP_SETPCAP,
        CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT,
        CAP_KILL,
        CAP_AUDIT_WRITE,
    ]
};

fn state_dir(spec_path: &Path) -> PathBuf {
    spec_path.parent().unwrap_or(Path::new(".")).to_path_buf()
}

fn read_spec(spec_path: &Path) -> Result<StepSpec, String> {
    let bytes = fs::read(spec_path).map_err(|e| format!("read {}: {e}", spec_path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("bad step spec: {e}"))
}

fn report(state: &Path, message: &str) {
    let written = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.join("status"))
        .and_then(|mut f| writeln!(f, "{message}"));
    // A full disk takes the status file too: say it on stderr, which the
    // builder shows as the step's last output.
    if let Err(e) = written {
        let _ = writeln!(std::io::stderr(), "rbuild: {message} (and writing the status: {e})");
    }
}

/// Runs the helper; returns the process exit code.
pub fn helper_main(spec_path: &Path) -> i32 {
    let state = state_dir(spec_path);
    match helper(spec_path, &state) {
        Ok(code) => code,
        Err(message) => {
            report(&state, &message);
            SETUP_FAILED
        }
    }
}

/// Secret values by id, as the executor sends them on the first line of
/// the helper's stdin.
type SecretValues = std::collections::BTreeMap<String, Vec<u8>>;

fn read_secrets() -> Result<SecretValues, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("read secrets: {e}"))?;
    if line.is_empty() {
        return Err("cancelled before the step started".into());
    }
    serde_json::from_str(&line).map_err(|e| format!("bad secrets message: {e}"))
}

/// Writes the file secrets to a tmpfs mounted in the helper's own mount
/// namespace (so never on disk, and invisible from the host), with their
/// modes and owners; returns the files in spec order.
fn stage_secrets(
    spec: &StepSpec,
    values: &SecretValues,
    state: &Path,
) -> Result<Vec<PathBuf>, String> {
    let files: Vec<_> = spec.secrets.iter().filter(|s| s.target.is_some()).collect();
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = state.join("secrets");
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    RealSys
        .mount(
            Some(Path::new("tmpfs")),
            &dir,
            Some("tmpfs"),
            nix::mount::MsFlags::MS_NOSUID
                | nix::mount::MsFlags::MS_NODEV
                | nix::mount::MsFlags::MS_NOEXEC,
            Some("mode=0700,size=16m"),
        )
        .map_err(|e| format!("secrets tmpfs: {e}"))?;
    let mut out = Vec::new();
    for (i, secret) in files.into_iter().enumerate() {
        let value = values
            .get(&secret.id)
            .ok_or_else(|| format!("secret {} was not provided", secret.id))?;
        let path = dir.join(i.to_string());
        fs::write(&path, value).map_err(|e| format!("secret {}: {e}", secret.id))?;
        std::os::unix::fs::chown(&path, Some(secret.uid), Some(secret.gid))
            .map_err(|e| format!("secret {}: {e}", secret.id))?;
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(secret.mode))
            .map_err(|e| format!("secret {}: {e}", secret.id))?;
        out.push(path);
    }
    Ok(out)
}

fn helper(spec_path: &Path, state: &Path) -> Result<i32, String> {
    let secrets = read_secrets()?;
    let spec = read_spec(spec_path)?;
    let empty = state.join("empty");
    fs::create_dir_all(&empty).map_err(|e| format!("create {}: {e}", empty.display()))?;
    fs::write(state.join("hostname"), format!("{}\n", spec.hostname))
        .map_err(|e| format!("write hostname: {e}"))?;
    let mut sys = RealSys;
    plan::enter_namespaces(&mut sys, &spec, &empty).map_err(|e| format!("namespaces: {e}"))?;
    if spec.network == NetworkMode::None {
        crate::net::loopback_up().map_err(|e| format!("bring up lo: {e}"))?;
    }
    if let Some(action) = &spec.copy {
        let result = copy_step(&mut sys, &spec, action, state);
        let _ = sys.umount(&spec.rootfs.merged);
        return result.map(|()| 0);
    }
    let secret_files = stage_secrets(&spec, &secrets, state)?;
    let merged = &spec.rootfs.merged;
    let targets = plan::targets(&spec).map_err(|e| format!("mount points: {e}"))?;
    let stubs = plan::make_stubs(&mut sys, merged, &spec.rootfs.upper, &targets)
        .map_err(|e| format!("mount points: {e}"))?;

    // No threads here: after unshare(CLONE_NEWPID) the kernel refuses
    // them. One poll loop watches both the child (SIGCHLD through a
    // signalfd) and the lifeline: the executor holds our stdin open while
    // it wants the step, and EOF (cancellation, or the executor gone)
    // kills the step's PID 1, which takes the whole namespace with it.
    let mut sigchld = SigSet::empty();
    sigchld.add(Signal::SIGCHLD);
    sigchld.thread_block().map_err(|e| format!("block SIGCHLD: {e}"))?;
    let signals = SignalFd::with_flags(&sigchld, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| format!("signalfd: {e}"))?;
    let pid = match fork_single_threaded()? {
        ForkResult::Child => {
            let step = Step { spec: &spec, state, secret_files: &secret_files, secrets: &secrets };
            std::process::exit(init(&step, &sigchld))
        }
        ForkResult::Parent { child } => child,
    };
    let stdin = std::io::stdin();
    let mut watching = true;
    let status = loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => break code,
            Ok(WaitStatus::Signaled(_, signal, _)) => break 128 + signal as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("wait for the step: {e}")),
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if watching {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let lifeline = fds.get(1).and_then(|fd| fd.revents()).unwrap_or(PollFlags::empty());
        drop(fds);
        while let Ok(Some(_)) = signals.read_signal() {}
        if !lifeline.is_empty() {
            let mut buf = [0u8; 64];
            if !matches!(stdin.lock().read(&mut buf), Ok(n) if n > 0) {
                watching = false;
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    };

    // Take the mount stubs back out of the layer.
    let _ = sys.umount(merged);
    plan::remove_stubs(&stubs, &spec.rootfs.upper);
    Ok(status)
}

/// Does a COPY on the mounted rootfs: reads the context through its
/// .dockerignore, or a stage's layers mounted read-only in this namespace.
fn copy_step(
    sys: &mut RealSys,
    spec: &StepSpec,
    action: &crate::spec::CopyAction,
    state: &Path,
) -> Result<(), String> {
    use crate::spec::CopySource;
    let (root, ignore) = match &action.source {
        CopySource::Context { dir, dockerignore } => {
            let ignore = rbuild_context::IgnoreFile::parse(dockerignore)
                .map_err(|e| format!(".dockerignore: {e}"))?;
            (dir.clone(), ignore)
        }
        CopySource::Layers { lowers } => {
            let view = state.join("source");
            fs::create_dir_all(&view).map_err(|e| format!("create {}: {e}", view.display()))?;
            if let [only] = lowers.as_slice() {
                sys.mount(
                    Some(only),
                    &view,
                    None,
                    nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_RDONLY,
                    None,
                )
                .map_err(|e| format!("source layers: {e}"))?;
            } else {
                let data = format!(
                    "lowerdir={}",
                    lowers.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
                );
                sys.mount(
                    Some(Path::new("overlay")),
                    &view,
                    Some("overlay"),
                    nix::mount::MsFlags::MS_RDONLY,
                    Some(&data),
                )
                .map_err(|e| format!("source layers: {e}"))?;
            }
            (view, rbuild_context::IgnoreFile::default())
        }
    };
    let followed = rbuild_context::follow_links(&root, &action.spec.sources)
        .map_err(|e| format!("COPY sources: {e}"))?;
    let selection =
        rbuild_context::Selection::new(&followed).map_err(|e| format!("COPY sources: {e}"))?;
    let listing = rbuild_context::scan(&root, &ignore, &selection)
        .map_err(|e| format!("COPY sources: {e}"))?;
    let mut copy = action.spec.clone();
    copy.keep_owners = matches!(action.source, CopySource::Layers { .. });
    crate::copy::copy_into(&spec.rootfs.merged, &root, &listing, &copy)
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// fork(2), refused unless this process has exactly one thread: only then
/// may the child allocate and run arbitrary code.
#[allow(unsafe_code)]
fn fork_single_threaded() -> Result<ForkResult, String> {
    let threads = fs::read_dir("/proc/self/task").map(Iterator::count).unwrap_or(0);
    if threads != 1 {
        return Err(format!("the step helper must be single-threaded, it has {threads} threads"));
    }
    // SAFETY: the process has one thread (checked above; the helper starts
    // none, and after unshare(CLONE_NEWPID) the kernel would refuse one), so
    // the child is a faithful copy holding no lock another thread could own.
    unsafe { nix::unistd::fork() }.map_err(|e| format!("fork: {e}"))
}

/// The init, in the forked child: PID 1 of the new PID namespace. Returns
/// only on failure, with the exit code, after writing why to the status
/// file.
/// What the init needs of the helper's state.
struct Step<'a> {
    spec: &'a StepSpec,
    state: &'a Path,
    secret_files: &'a [PathBuf],
    secrets: &'a SecretValues,
}

fn init(step: &Step<'_>, blocked: &SigSet) -> i32 {
    // PID 1 dies with the helper; with it, every process of the namespace.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // Opened now: after pivot_root the state directory is out of reach.
    // (std opens it close-on-exec, so the command never sees it.)
    let status = fs::OpenOptions::new().create(true).append(true).open(step.state.join("status"));
    let message = match exec_step(step, blocked) {
        Ok(never) => match never {},
        Err(message) => message,
    };
    let written = match status {
        Ok(mut file) => writeln!(file, "{message}"),
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        let _ = writeln!(std::io::stderr(), "rbuild: {message} (and writing the status: {e})");
    }
    SETUP_FAILED
}

fn exec_step(step: &Step<'_>, blocked: &SigSet) -> Result<std::convert::Infallible, String> {
    let spec = step.spec;
    // Undo what the helper set up for itself: the command starts with no
    // blocked signal and reads nothing (the helper's stdin is its lifeline).
    blocked.thread_unblock().map_err(|e| format!("signal mask: {e}"))?;
    if spec.terminal {
        attach_terminal()?;
    } else {
        let null = fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        nix::unistd::dup2_stdin(&null).map_err(|e| format!("stdin: {e}"))?;
        drop(null);
    }
    let args = spec.args.clone();
    let Some(arg0) = args.first() else { return Err("empty command".into()) };
    let targets = plan::targets(spec).map_err(|e| format!("mount points: {e}"))?;
    plan::build_rootfs(
        &mut RealSys,
        spec,
        &targets,
        &step.state.join("hostname"),
        step.secret_files,
    )
    .map_err(|e| format!("rootfs: {e}"))?;

    // Inside the rootfs now: its own passwd, group and PATH count.
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    let ids = user::resolve(&spec.user, &passwd, &group).map_err(|e| e.to_string())?;
    let cwd = if spec.cwd.is_empty() { "/" } else { spec.cwd.as_str() };
    fs::create_dir_all(cwd).map_err(|e| format!("create working directory {cwd}: {e}"))?;
    nix::unistd::chdir(cwd).map_err(|e| format!("chdir {cwd}: {e}"))?;

    let mut env = spec.env.clone();
    for secret in &spec.secrets {
        if let Some(name) = &secret.env {
            let value = step
                .secrets
                .get(&secret.id)
                .ok_or_else(|| format!("secret {} was not provided", secret.id))?;
            let value = std::str::from_utf8(value).map_err(|_| {
                format!("secret {} is not UTF-8 text, so cannot be env {name}", secret.id)
            })?;
            env.push(format!("{name}={value}"));
        }
    }
    let has = |env: &[String], key: &str| env.iter().any(|e| e.starts_with(&format!("{key}=")));
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", ids.home));
    }
    // The hostname is set (buildkitsandbox), but BuildKit puts no HOSTNAME
    // variable in a step's environment.
    let path_var =
        env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_owned();
    let program = find_program(arg0, &path_var)
        .ok_or_else(|| format!("{arg0}: executable file not found in $PATH"))?;

    // Docker's seccomp profile, while CAP_SYS_ADMIN is still here to
    // install it without no_new_privs (so setuid programs work as there).
    crate::seccomp::install()?;
    drop_capabilities().map_err(|e| format!("capabilities: {e}"))?;
    let groups: Vec<Gid> = ids.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    nix::unistd::setgid(Gid::from_raw(ids.gid)).map_err(|e| format!("setgid: {e}"))?;
    nix::unistd::setuid(Uid::from_raw(ids.uid)).map_err(|e| format!("setuid: {e}"))?;

    let cstr = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let argv = args.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    let program_c = CString::new(program.as_os_str().as_encoded_bytes())
        .map_err(|_| "program path contains a NUL byte".to_owned())?;
    close_inherited_descriptors()?;
    match nix::unistd::execve(&program_c, &argv, &envp) {
        Err(e) => Err(format!("exec {}: {e}", program.display())),
    }
}

/// The terminal the executor passed as descriptor 3 becomes the step's
/// stdin, stdout, stderr and controlling terminal, in a session of its own.
#[allow(unsafe_code)]
fn attach_terminal() -> Result<(), String> {
    use std::os::fd::BorrowedFd;
    const TERMINAL_FD: i32 = 3;
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    // SAFETY: TIOCSCTTY with 0 only makes the fresh pty slave (no one's
    // controlling terminal yet) this session's.
    if unsafe { libc::ioctl(TERMINAL_FD, libc::TIOCSCTTY, 0) } < 0 {
        return Err(format!("the terminal: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: descriptor 3 is the terminal, open for the whole call.
    let tty = unsafe { BorrowedFd::borrow_raw(TERMINAL_FD) };
    nix::unistd::dup2_stdin(tty).map_err(|e| format!("stdin: {e}"))?;
    nix::unistd::dup2_stdout(tty).map_err(|e| format!("stdout: {e}"))?;
    nix::unistd::dup2_stderr(tty).map_err(|e| format!("stderr: {e}"))?;
    let _ = nix::unistd::close(TERMINAL_FD);
    Ok(())
}

/// Marks every descriptor above 2 close-on-exec, so nothing the build was
/// started with (a shell's `7<secret`) or the helper holds reaches the step;
/// the step gets stdin, stdout and stderr only.
#[allow(unsafe_code)]
fn close_inherited_descriptors() -> Result<(), String> {
    // SAFETY: close_range(2) only changes descriptor flags of this process.
    let done =
        unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if done == 0 {
        return Ok(());
    }
    // Kernels before 5.11: one descriptor at a time.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("/proc/self/fd: {e}"))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number; a closed one just fails.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// The PATH a step gets when its env sets none, as BuildKit's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `arg0` as a step (or this process) runs it: a path as given, else the
/// first executable file of that name in `path_var`'s directories.
pub(crate) fn find_program(arg0: &str, path_var: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    if arg0.contains('/') {
        return Some(PathBuf::from(arg0));
    }
    path_var
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(arg0))
        .find(|p| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn drop_capabilities() -> Result<(), caps::errors::CapsError> {
    use caps::CapSet;
    let keep: caps::CapsHashSet = DEFAULT_CAPS.into_iter().collect();
    for cap in caps::all() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)?;
        }
    }
    // No inheritable capabilities (Docker since CVE-2022-24769).
    caps::clear(None, CapSet::Inheritable)?;
    caps::set(None, CapSet::Effective, &keep)?;
    caps::set(None, CapSet::Permitted, &keep)?;
    Ok(())
}
