//! The directories behind `RUN --mount=type=cache`: kept under the store
//! across builds, named by a digest of their id, shared, private or locked
//! between steps that run at once. Their contents never reach a layer or a
//! cache key; only the step sees them.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use rbuild_llb::Sharing;

/// The cache-mount directories of a store.
#[derive(Clone, Debug)]
pub struct CacheMounts {
    root: PathBuf,
}

/// A cache directory in use by one step; dropping it releases the lock
/// that `locked` and `private` sharing take.
#[derive(Debug)]
pub struct CacheLease {
    /// The directory to bind into the step.
    pub dir: PathBuf,
    _lock: Option<Flock<fs::File>>,
}

/// The first-use attributes of a cache directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOwner {
    /// Mode when first made.
    pub mode: u32,
    /// Owner when first made.
    pub uid: u32,
    /// Group when first made.
    pub gid: u32,
}

impl CacheOwner {
    /// What a cache mount is made with when the mount says nothing.
    pub const DEFAULT: CacheOwner = CacheOwner { mode: 0o755, uid: 0, gid: 0 };

    /// Which cache a mount of `id` uses: BuildKit tells caches of one id
    /// apart by the mode and owner they are made with; the default (0755,
    /// 0:0) is the id alone.
    pub fn cache_identity(&self, id: &str) -> String {
        if *self == CacheOwner::DEFAULT {
            id.to_owned()
        } else {
            format!("{id}\0{:o}:{}:{}", self.mode, self.uid, self.gid)
        }
    }
}

/// A short, file-name-safe name for a cache id (ids are free text).
fn key(id: &str) -> String {
    // FNV-1a 64: stable across builds and versions, no dependency needed;
    // the id itself is written beside it for people reading the store.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A new directory `KIND-PID-N` in `base` with `owner`'s mode and ids,
/// to be renamed into place once it is ready (the pid tells a crash's
/// leftover from a live one's).
fn staging_dir(
    base: &Path,
    kind: &str,
    n: impl std::fmt::Display,
    owner: CacheOwner,
) -> io::Result<PathBuf> {
    let staging = base.join(format!("{kind}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    fs::DirBuilder::new().mode(owner.mode).create(&staging)?;
    fs::set_permissions(&staging, fs::Permissions::from_mode(owner.mode))?;
    std::os::unix::fs::chown(&staging, Some(owner.uid), Some(owner.gid))?;
    Ok(staging)
}

impl CacheMounts {
    /// The directory of the cache `id` made with `owner` (created, with the
    /// id written beside for people reading the store).
    fn base(&self, id: &str, owner: CacheOwner) -> io::Result<PathBuf> {
        let base = self.root.join(key(&owner.cache_identity(id)));
        fs::create_dir_all(&base)?;
        let label = base.join("id");
        if !label.exists() {
            fs::write(&label, id)?;
        }
        Ok(base)
    }

    /// Cache mounts kept under `root` (created when first used).
    pub fn new(root: impl Into<PathBuf>) -> CacheMounts {
        CacheMounts { root: root.into() }
    }

    /// Takes the cache `id` for one step. `shared`: the one directory, no
    /// lock. `locked`: the one directory, waiting for any other holder.
    /// `private`: the first directory of the id no one holds, a new one if
    /// all are held. A new directory gets `owner`'s mode and ids.
    pub fn acquire(&self, id: &str, sharing: Sharing, owner: CacheOwner) -> io::Result<CacheLease> {
        let base = self.base(id, owner)?;
        let lock = |n: usize, arg: FlockArg| -> io::Result<Option<Flock<fs::File>>> {
            let file = fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(base.join(format!("{n}.lock")))?;
            match Flock::lock(file, arg) {
                Ok(lock) => Ok(Some(lock)),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
                Err((_, e)) => Err(io::Error::from_raw_os_error(e as i32)),
            }
        };
        let (n, held) = match sharing {
            Sharing::Shared => (0, None),
            Sharing::Locked => (0, lock(0, FlockArg::LockExclusive)?),
            Sharing::Private => {
                let mut n = 0;
                loop {
                    if let Some(held) = lock(n, FlockArg::LockExclusiveNonblock)? {
                        break (n, Some(held));
                    }
                    n += 1;
                }
            }
        };
        let dir = base.join(n.to_string());
        if !dir.exists() {
            let staging = staging_dir(&base, ".new", n, owner)?;
            if let Err(e) = fs::rename(&staging, &dir) {
                // Another step made it first: use theirs.
                let _ = fs::remove_dir_all(&staging);
                if !dir.is_dir() {
                    return Err(e);
                }
            }
        }
        Ok(CacheLease { dir, _lock: held })
    }

    /// Where the caches live.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory `shared` and `locked` steps of `id` made with `owner`
    /// use, if a step made it: what a shared cache exports of it.
    pub fn existing(&self, id: &str, owner: CacheOwner) -> Option<PathBuf> {
        let dir = self.root.join(key(&owner.cache_identity(id))).join("0");
        dir.is_dir().then_some(dir)
    }

    /// Makes the directory of `id` with `fill`'s contents when no step has
    /// made it yet (a cache restored from another machine); `false` when it
    /// exists, or another step made it meanwhile. A failed fill leaves
    /// nothing behind.
    pub fn seed(
        &self,
        id: &str,
        owner: CacheOwner,
        fill: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<bool> {
        let base = self.base(id, owner)?;
        let dir = base.join("0");
        if dir.exists() {
            return Ok(false);
        }
        static SEEDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEEDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let staging = staging_dir(&base, ".seed", n, owner)?;
        if let Err(e) = fill(&staging) {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        if fs::rename(&staging, &dir).is_err() {
            let _ = fs::remove_dir_all(&staging);
            return Ok(false);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: CacheOwner = CacheOwner { mode: 0o755, uid: 0, gid: 0 };

    #[test]
    fn sharing_modes() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::new(dir.path());
        let me = |o: CacheOwner| CacheOwner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            ..o
        };
        let a = caches.acquire("go-build", Sharing::Shared, me(OWNER)).unwrap();
        let b = caches.acquire("go-build", Sharing::Shared, me(OWNER)).unwrap();
        assert_eq!(a.dir, b.dir, "shared: one directory for all");
        let p1 = caches.acquire("go-build", Sharing::Private, me(OWNER)).unwrap();
        let p2 = caches.acquire("go-build", Sharing::Private, me(OWNER)).unwrap();
        assert_ne!(p1.dir, p2.dir, "private: a busy directory is not shared");
        drop(p1);
        let p3 = caches.acquire("go-build", Sharing::Private, me(OWNER)).unwrap();
        assert!(p3.dir.ends_with("0"), "a released private directory is reused");
        let other = caches.acquire("npm", Sharing::Shared, me(OWNER)).unwrap();
        assert_ne!(other.dir.parent(), a.dir.parent());
        assert_eq!(fs::read_to_string(other.dir.parent().unwrap().join("id")).unwrap(), "npm");
    }

    #[test]
    fn locked_waits_for_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let caches = CacheMounts::new(dir.path());
        let me = CacheOwner {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            ..OWNER
        };
        let held = caches.acquire("apt", Sharing::Locked, me).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let caches = caches.clone();
            std::thread::spawn(move || {
                let lease = caches.acquire("apt", Sharing::Locked, me).unwrap();
                tx.send(()).unwrap();
                drop(lease);
            })
        };
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err(), "must wait");
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("gets it once released");
        waiter.join().unwrap();
    }
}
