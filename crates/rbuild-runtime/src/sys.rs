//! The system calls that build a step's container, behind a trait so the
//! sequence can be checked without root (a recording double), as youki
//! does with its `Syscall` trait.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// The calls the namespace and rootfs setup makes.
pub trait Sys {
    /// `unshare(2)`.
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()>;
    /// `setns(2)` into the network namespace `path` refers to.
    fn join_netns(&mut self, path: &Path) -> io::Result<()>;
    /// `mount(2)`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// `umount2(2)` with `MNT_DETACH`.
    fn umount(&mut self, target: &Path) -> io::Result<()>;
    /// Creates a directory (parents must exist).
    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates an empty file to bind a file over.
    fn touch(&mut self, path: &Path) -> io::Result<()>;
    /// Creates a symlink `link` → `target`.
    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()>;
    /// Creates the character device `major:minor` at `path`, mode 0666.
    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()>;
    /// Makes `new_root` the root: chdir, `pivot_root(".", ".")`, detach the
    /// old root, chdir `/`.
    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()>;
    /// `sethostname(2)`.
    fn sethostname(&mut self, name: &str) -> io::Result<()>;
    /// `chdir(2)`.
    fn chdir(&mut self, dir: &Path) -> io::Result<()>;
}

/// The real thing.
#[derive(Debug, Default)]
pub struct RealSys;

fn errno(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Sys for RealSys {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(errno)
    }

    fn join_netns(&mut self, path: &Path) -> io::Result<()> {
        let ns = fs::File::open(path)?;
        nix::sched::setns(ns, CloneFlags::CLONE_NEWNET).map_err(errno)
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(|e| {
            io::Error::new(errno(e).kind(), format!("mount {}: {e}", target.display()))
        })
    }

    fn umount(&mut self, target: &Path) -> io::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(errno)
    }

    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        fs::DirBuilder::new().mode(mode).create(path)
    }

    fn touch(&mut self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map(drop)
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()> {
        use nix::sys::stat::{Mode, SFlag, makedev, mknod};
        mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
            .map_err(|e| {
                io::Error::new(errno(e).kind(), format!("mknod {}: {e}", path.display()))
            })?;
        // mknod(2) applies the umask.
        fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o666))
    }

    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        nix::unistd::chdir(new_root).map_err(errno)?;
        nix::unistd::pivot_root(".", ".").map_err(errno)?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(errno)?;
        nix::unistd::chdir("/").map_err(errno)
    }

    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(errno)
    }

    fn chdir(&mut self, dir: &Path) -> io::Result<()> {
        nix::unistd::chdir(dir).map_err(errno)
    }
}

/// A double that records each call as a line of text and succeeds, so a
/// test can read the sequence.
#[derive(Debug, Default)]
pub struct RecordingSys {
    /// One line per call, in order.
    pub calls: Vec<String>,
    /// Paths `touch` and `mkdir` were asked to create, so `exists` checks
    /// made through the double see them.
    pub created: Vec<PathBuf>,
}

impl Sys for RecordingSys {
    fn unshare(&mut self, flags: CloneFlags) -> io::Result<()> {
        self.calls.push(format!("unshare {flags:?}"));
        Ok(())
    }

    fn join_netns(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("setns {} NET", path.display()));
        Ok(())
    }

    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        let source = source.map_or("-".into(), |s| s.display().to_string());
        self.calls.push(format!(
            "mount {source} {} {} {flags:?} {}",
            target.display(),
            fstype.unwrap_or("-"),
            data.unwrap_or("-")
        ));
        Ok(())
    }

    fn umount(&mut self, target: &Path) -> io::Result<()> {
        self.calls.push(format!("umount {}", target.display()));
        Ok(())
    }

    fn mkdir(&mut self, path: &Path, mode: u32) -> io::Result<()> {
        self.calls.push(format!("mkdir {} {mode:o}", path.display()));
        self.created.push(path.to_owned());
        Ok(())
    }

    fn touch(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("touch {}", path.display()));
        self.created.push(path.to_owned());
        Ok(())
    }

    fn symlink(&mut self, target: &Path, link: &Path) -> io::Result<()> {
        self.calls.push(format!("symlink {} -> {}", link.display(), target.display()));
        Ok(())
    }

    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()> {
        self.calls.push(format!("mknod {} c {major}:{minor}", path.display()));
        self.created.push(path.to_owned());
        Ok(())
    }

    fn pivot_root(&mut self, new_root: &Path) -> io::Result<()> {
        self.calls.push(format!("pivot_root {}", new_root.display()));
        Ok(())
    }

    fn sethostname(&mut self, name: &str) -> io::Result<()> {
        self.calls.push(format!("sethostname {name}"));
        Ok(())
    }

    fn chdir(&mut self, dir: &Path) -> io::Result<()> {
        self.calls.push(format!("chdir {}", dir.display()));
        Ok(())
    }
}

/// For a `pre_exec` closure: puts each `(source, target)` descriptor at
/// `target` in the child, inherited by the program it execs. Every source
/// is first copied out of the way (at 10 or above), so one target cannot
/// overwrite another's source. Only fcntl and dup2: async-signal-safe, no
/// allocation. At most 8 pairs.
#[allow(unsafe_code)]
pub(crate) fn place_fds(fds: &[(i32, i32)]) -> io::Result<()> {
    let mut high = [0i32; 8];
    for (slot, (source, _)) in high.iter_mut().zip(fds) {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number.
        *slot = unsafe { libc::fcntl(*source, libc::F_DUPFD_CLOEXEC, 10) };
        if *slot < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    for (copy, (_, target)) in high.iter().zip(fds) {
        // SAFETY: dup2 between descriptor numbers; the copy at `target`
        // does not have close-on-exec.
        if unsafe { libc::dup2(*copy, *target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
