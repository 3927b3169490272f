//! A step's network.
//!
//! * `none`: a fresh network namespace holding only `lo`, brought up here
//!   (the kernel creates it down).
//! * `default`: a network namespace of its own, like docker's bridge:
//!   outbound connections work, the host's loopback, abstract unix sockets
//!   and interfaces are out of reach. slirp4netns (Debian's package) gives
//!   the namespace a `tap0` whose packets it turns into ordinary sockets of
//!   the host: no root-owned veth, bridge or NAT rule to set up on the host
//!   and to leave behind after a crash, and `--disable-host-loopback`
//!   closes the way to the host's 127.0.0.1. pasta would do the same, but
//!   bookworm's refuses to run as root.
//! * `host`: the host's namespace, untouched.
//!
//! Starting slirp4netns costs milliseconds, so the executor keeps a pool:
//! a namespace serves one step at a time and is handed to the next one
//! after. Nothing of a step outlives it there: its processes die with its
//! PID namespace (and their sockets with them), and without CAP_NET_ADMIN
//! and with /proc/sys read-only it can change no address, route or sysctl.
//! A namespace is only an open descriptor of this process, which the
//! helper joins through `/proc/<pid>/fd/<n>`; slirp4netns watches a pipe
//! and exits when this process closes it or dies, so a crash leaves
//! nothing behind.

use std::fs::File;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

/// slirp4netns' DNS forwarder in the namespace (its default network is
/// 10.0.2.0/24), which asks the host's own resolvers.
const SLIRP_DNS: &str = "10.0.2.3";

/// Sets IFF_UP on `lo` with the SIOCGIFFLAGS/SIOCSIFFLAGS ioctls, which
/// neither std nor nix wraps.
#[allow(unsafe_code)]
pub(crate) fn loopback_up() -> io::Result<()> {
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: the fd is a live socket and `req` a valid ifreq that outlives
    // the call; SIOCGIFFLAGS writes only into `req.ifr_ifru`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The default network's namespaces, shared by the steps of one executor.
#[derive(Debug, Default)]
pub(crate) struct NetPool {
    free: Mutex<Vec<Netns>>,
    slirp: OnceLock<Option<PathBuf>>,
    warned: AtomicBool,
}

/// One namespace of the pool and the slirp4netns serving it.
#[derive(Debug)]
struct Netns {
    ns: File,
    slirp: Option<Slirp>,
}

#[derive(Debug)]
struct Slirp {
    child: Child,
    /// Closing it tells slirp4netns to exit.
    exit: Option<OwnedFd>,
}

impl Drop for Slirp {
    fn drop(&mut self) {
        self.exit.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A namespace lent to one step; back to the pool when dropped.
#[derive(Debug)]
pub(crate) struct NetLease<'a> {
    pool: &'a NetPool,
    ns: Option<Netns>,
    /// Set on the first lease without slirp4netns: the step should say so.
    pub(crate) warning: Option<String>,
}

impl NetLease<'_> {
    /// The path the helper opens to join the namespace.
    pub(crate) fn path(&self) -> PathBuf {
        let fd = self.ns.as_ref().map_or(-1, |n| n.ns.as_raw_fd());
        PathBuf::from(format!("/proc/{}/fd/{fd}", std::process::id()))
    }

    /// Whether the namespace has outbound connectivity.
    pub(crate) fn connected(&self) -> bool {
        self.ns.as_ref().is_some_and(|n| n.slirp.is_some())
    }
}

impl Drop for NetLease<'_> {
    fn drop(&mut self) {
        if let Some(ns) = self.ns.take() {
            self.pool.free.lock().unwrap_or_else(|p| p.into_inner()).push(ns);
        }
    }
}

impl NetPool {
    /// A namespace for one step: a free one, or a new one.
    pub(crate) fn lease(&self) -> io::Result<NetLease<'_>> {
        let free = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let ns = match free {
            Some(ns) => ns,
            None => self.create()?,
        };
        let warning =
            (ns.slirp.is_none() && !self.warned.swap(true, Ordering::Relaxed)).then(|| {
                "rbuild: slirp4netns is not installed, so RUN steps have no outbound network \
             (apt-get install slirp4netns; --network=none says so on purpose)"
                    .to_owned()
            });
        Ok(NetLease { pool: self, ns: Some(ns), warning })
    }

    fn create(&self) -> io::Result<Netns> {
        let ns = new_namespace()?;
        let slirp = match self.slirp.get_or_init(|| {
            let path = std::env::var("PATH").unwrap_or_default();
            crate::helper::find_program("slirp4netns", &path)
        }) {
            Some(program) => Some(start_slirp(program, &ns)?),
            None => None,
        };
        Ok(Netns { ns, slirp })
    }
}

/// A new network namespace with `lo` up, made on a thread of its own (a
/// network namespace belongs to a thread, and the caller's stays where it
/// is), kept alive by the returned descriptor.
fn new_namespace() -> io::Result<File> {
    std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| io::Error::other(format!("new network namespace: {e}")))?;
        loopback_up().map_err(|e| io::Error::other(format!("bring up lo: {e}")))?;
        File::open("/proc/thread-self/ns/net")
    })
    .join()
    .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

/// Descriptor numbers slirp4netns gets its pipes on.
const READY_FD: i32 = 3;
const EXIT_FD: i32 = 4;

/// Starts slirp4netns on `ns` and waits until it has configured `tap0`.
///
/// It runs in a mount namespace of its own, made private, so its
/// `--enable-sandbox` (a pivot_root onto an empty tmpfs, all capabilities
/// dropped) cannot propagate an unmount to the host's mounts, which it does
/// on a host whose `/` is shared; `--enable-seccomp` narrows the system
/// calls of the process that parses the step's packets.
#[allow(unsafe_code)]
fn start_slirp(program: &Path, ns: &File) -> io::Result<Slirp> {
    let (ready_r, ready_w) = pipe()?;
    let (exit_r, exit_w) = pipe()?;
    let ns_path = format!("/proc/{}/fd/{}", std::process::id(), ns.as_raw_fd());
    let mut command = Command::new(program);
    command
        .args(["--configure", "--mtu=65520", "--disable-host-loopback"])
        .args(["--enable-sandbox", "--enable-seccomp"])
        .arg(format!("--ready-fd={READY_FD}"))
        .arg(format!("--exit-fd={EXIT_FD}"))
        .args(["--netns-type=path", &ns_path, "tap0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (ready, exit) = (ready_w.as_raw_fd(), exit_r.as_raw_fd());
    // SAFETY: the closure runs in the forked child before exec and makes
    // only async-signal-safe system calls (fcntl, dup2, unshare, mount),
    // touching no memory of the parent's other threads.
    unsafe {
        command.pre_exec(move || {
            crate::sys::place_fds(&[(ready, READY_FD), (exit, EXIT_FD)])?;
            cvt(libc::unshare(libc::CLONE_NEWNS))?;
            cvt(libc::mount(
                c"none".as_ptr(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("start {}: {e}", program.display())))?;
    drop(ready_w);
    drop(exit_r);
    let mut stderr = child.stderr.take();
    let mut byte = [0u8; 1];
    let ready = File::from(ready_r).read(&mut byte);
    let slirp = Slirp { child, exit: Some(exit_w) };
    match ready {
        Ok(1) => {
            // Drained so a later warning never blocks it.
            if let Some(mut stderr) = stderr {
                std::thread::spawn(move || io::copy(&mut stderr, &mut io::sink()));
            }
            Ok(slirp)
        }
        _ => {
            drop(slirp);
            let mut message = String::new();
            if let Some(stderr) = stderr.as_mut() {
                let _ = stderr.read_to_string(&mut message);
            }
            let last = message.lines().last().unwrap_or("it exited").trim().to_owned();
            Err(io::Error::other(format!(
                "{} could not connect the step's network: {last}",
                program.display()
            )))
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io::Error::from_raw_os_error(e as i32))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// The resolv.conf of a step on the default network: the host's, with a
/// nameserver on the host's loopback (a local resolver such as
/// systemd-resolved, out of the namespace's reach) replaced by
/// slirp4netns' forwarder, which asks it from the host; without
/// slirp4netns such lines are dropped.
pub(crate) fn step_resolv_conf(host: &str, connected: bool) -> String {
    let mut out = String::new();
    let mut forwarded = false;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        let loopback = words.next() == Some("nameserver")
            && words
                .next()
                .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                .is_some_and(|a| a.is_loopback());
        if loopback {
            if connected && !forwarded {
                out.push_str(&format!("nameserver {SLIRP_DNS}\n"));
                forwarded = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_resolver_becomes_the_forwarder() {
        let host = "# local\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\noptions edns0\n";
        assert_eq!(
            step_resolv_conf(host, true),
            "# local\nnameserver 10.0.2.3\nnameserver 192.0.2.53\noptions edns0\n"
        );
        assert_eq!(
            step_resolv_conf(host, false),
            "# local\nnameserver 192.0.2.53\noptions edns0\n"
        );
        let plain = "nameserver 10.255.255.53\nsearch example.org\n";
        assert_eq!(step_resolv_conf(plain, true), plain);
    }
}
