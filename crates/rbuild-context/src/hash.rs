//! Content digests of the context entries a build reads, with a persistent
//! stat cache so an unchanged file is never read twice.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use rayon::prelude::*;

use crate::walk::{EntryKind, Listing, Meta, WalkError};

/// A blake3 digest: content addressing inside rbuild (cache keys, the
/// context stream), never an OCI digest (those are sha256).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }
}

impl fmt::Display for Digest {
    /// Lower-case hex, 64 characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("not a blake3 digest: {0:?}")]
pub struct BadDigest(String);

impl FromStr for Digest {
    type Err = BadDigest;

    /// Parses 64 hex digits.
    fn from_str(text: &str) -> Result<Digest, BadDigest> {
        let bad = || BadDigest(text.to_owned());
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Digest(out))
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One hashed entry: what a cache key needs of a context path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hashed {
    /// Relative to the context root, `/`-separated.
    pub path: String,
    /// File, symlink or directory.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// Mode and owner (and the stat fields the cache compares).
    pub meta: Meta,
    /// Contents of a file, target of a symlink, a fixed value for a directory.
    pub digest: Digest,
}

/// How much work a hashing pass did; a warm pass reads nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashStats {
    /// Files whose contents were read.
    pub files_read: u64,
    /// Bytes read from those files.
    pub bytes_read: u64,
    /// Files whose digest came from the stat cache.
    pub from_cache: u64,
}

/// The digests of a listing, sorted by path, and the work it took.
#[derive(Clone, Debug, Default)]
pub struct ContextHashes {
    /// Files, symlinks and directories, sorted by path.
    pub entries: Vec<Hashed>,
    /// Reads done and avoided.
    pub stats: HashStats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct CachedStat {
    meta: Meta,
    size: u64,
    digest: Digest,
}

/// Remembers each file's digest with the stat fields it was read under
/// (device, inode, size, mode, owner, mtime, ctime): when all still agree,
/// the file is unchanged and is not read again.
#[derive(Clone, Debug, Default)]
pub struct StatCache {
    entries: HashMap<String, CachedStat>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    version: u32,
    entries: HashMap<String, CachedStat>,
}

const CACHE_VERSION: u32 = 1;

impl StatCache {
    /// An empty cache: every file is read.
    pub fn new() -> StatCache {
        StatCache::default()
    }

    /// Loads a cache saved by [`save`](Self::save). A missing, unreadable or
    /// outdated file yields an empty cache: the cache only saves work, and
    /// starting over is always correct.
    pub fn load(path: &Path) -> StatCache {
        let Ok(bytes) = fs::read(path) else { return StatCache::new() };
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(file) if file.version == CACHE_VERSION => StatCache { entries: file.entries },
            _ => StatCache::new(),
        }
    }

    /// Writes the cache atomically: a temp file beside `path`, fsync, rename.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        // `.tmp-PID-…`, as the store names its temp files, so a crash's
        // leftover is found and removed.
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", std::process::id()))
            .tempfile_in(dir)?;
        let file = CacheFile { version: CACHE_VERSION, entries: self.entries.clone() };
        serde_json::to_writer(io::BufWriter::new(tmp.as_file_mut()), &file)?;
        tmp.as_file_mut().flush()?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Number of remembered files.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The file name a context directory's cache is kept under (a hash of
    /// its canonical path), in whatever directory the caller keeps them.
    pub fn file_name(context: &Path) -> String {
        let canonical = context.canonicalize().unwrap_or_else(|_| context.to_owned());
        let name = Digest::of(canonical.as_os_str().as_encoded_bytes()).to_string();
        format!("context-{}.json", &name[..24])
    }

    /// Records `digest` for the context file `path` as it is now (its
    /// stat fields read here): for a caller that knows the contents, having
    /// checked them as it wrote the file.
    pub fn vouch(&mut self, root: &Path, path: &str, digest: Digest) -> std::io::Result<()> {
        let meta = fs::symlink_metadata(root.join(path))?;
        let size = meta.len();
        let meta = Meta::from_metadata(&meta);
        self.entries.insert(path.to_owned(), CachedStat { meta, size, digest });
        Ok(())
    }

    fn lookup(&self, path: &str, meta: &Meta, size: u64) -> Option<Digest> {
        let hit = self.entries.get(path)?;
        (hit.meta == *meta && hit.size == size).then_some(hit.digest)
    }
}

/// The digest every directory gets: its identity is its path and metadata.
fn dir_digest() -> Digest {
    Digest::of(b"rbuild directory")
}

/// Hashes every entry of `listing` (files by contents, symlinks by target,
/// directories by nothing but their metadata) on all cores. Files the stat
/// cache vouches for are not read; files read are remembered in it unless
/// they changed while being read or so recently that a later change could
/// keep the same timestamps.
pub fn hash(
    context: &Path,
    listing: &Listing,
    cache: &mut StatCache,
) -> Result<ContextHashes, WalkError> {
    let files_read = AtomicU64::new(0);
    let bytes_read = AtomicU64::new(0);
    let from_cache = AtomicU64::new(0);
    let cache_ro: &StatCache = cache;
    let results: Vec<(Hashed, Option<CachedStat>)> =
        listing
            .entries
            .par_iter()
            .chain(listing.dirs.par_iter())
            .map(|entry| {
                let full = context.join(&entry.path);
                let io = |source| WalkError::Io { path: full.clone(), source };
                let hashed = |digest| Hashed {
                    path: entry.path.clone(),
                    kind: entry.kind,
                    size: entry.size,
                    meta: entry.meta,
                    digest,
                };
                match entry.kind {
                    EntryKind::Dir => Ok((hashed(dir_digest()), None)),
                    EntryKind::Symlink => {
                        let target = fs::read_link(&full).map_err(io)?;
                        Ok((hashed(Digest::of(target.as_os_str().as_encoded_bytes())), None))
                    }
                    EntryKind::File => {
                        if let Some(digest) = cache_ro.lookup(&entry.path, &entry.meta, entry.size)
                        {
                            from_cache.fetch_add(1, Ordering::Relaxed);
                            return Ok((hashed(digest), None));
                        }
                        let started = SystemTime::now();
                        let (digest, read, after) = read_digest(&full).map_err(io)?;
                        files_read.fetch_add(1, Ordering::Relaxed);
                        bytes_read.fetch_add(read, Ordering::Relaxed);
                        let stable = after == entry.meta && read == entry.size;
                        let remember = (stable && !racy(&entry.meta, started))
                            .then_some(CachedStat { meta: entry.meta, size: entry.size, digest });
                        Ok((hashed(digest), remember))
                    }
                }
            })
            .collect::<Result<_, WalkError>>()?;
    let mut entries = Vec::with_capacity(results.len());
    for (hashed, remember) in results {
        if let Some(stat) = remember {
            cache.entries.insert(hashed.path.clone(), stat);
        }
        entries.push(hashed);
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let stats = HashStats {
        files_read: files_read.into_inner(),
        bytes_read: bytes_read.into_inner(),
        from_cache: from_cache.into_inner(),
    };
    Ok(ContextHashes { entries, stats })
}

/// Reads a regular file without following a symlink put in its place,
/// returning its digest, the bytes read and its metadata afterwards.
fn read_digest(path: &Path) -> io::Result<(Digest, u64, Meta)> {
    let mut file = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("no longer a regular file"));
    }
    let mut hasher = blake3::Hasher::new();
    let read = io::copy(&mut file, &mut hasher)?;
    let after = Meta::from_metadata(&file.metadata()?);
    Ok((Digest(*hasher.finalize().as_bytes()), read, after))
}

/// Whether a file's timestamps are so close to when it was read that a
/// write right after the read could have left them unchanged (git's
/// "racy clean" problem). Whole-second timestamps mean a coarse file
/// system, where the window is a second or two.
fn racy(meta: &Meta, read_started: SystemTime) -> bool {
    let started = read_started.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    let coarse = meta.mtime_ns % 1_000_000_000 == 0 && meta.ctime_ns % 1_000_000_000 == 0;
    let window = if coarse { 2_000_000_000 } else { 100_000_000 };
    meta.mtime_ns.max(meta.ctime_ns) > started - window
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_as_hex() {
        let d = Digest::of(b"abc");
        let text = d.to_string();
        assert_eq!(text, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
        assert_eq!(text.parse::<Digest>().unwrap(), d);
        assert!("xyz".parse::<Digest>().is_err());
        assert!("é".repeat(32).parse::<Digest>().is_err());
    }

    #[test]
    fn recent_files_are_racy() {
        let now = SystemTime::now();
        let ns = now.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        let fine = Meta { mtime_ns: ns - 50_000_000, ctime_ns: ns - 50_000_000, ..Meta::default() };
        assert!(racy(&fine, now));
        let old = Meta { mtime_ns: ns - 500_000_001, ctime_ns: ns - 500_000_001, ..fine };
        assert!(!racy(&old, now));
        let whole = (ns / 1_000_000_000 - 1) * 1_000_000_000;
        let coarse = Meta { mtime_ns: whole, ctime_ns: whole, ..fine };
        assert!(racy(&coarse, now));
    }
}
