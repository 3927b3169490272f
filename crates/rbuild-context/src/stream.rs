//! The context as a stream: a zstd-compressed tar of the hashed entries
//! that leaves out the contents the receiver already holds, and the reader
//! that unpacks it without letting any entry land outside its destination.
//!
//! Every regular file carries a PAX record `RBUILD.digest` (blake3 of its
//! contents). A file whose digest the receiver reported holding is sent
//! with no data and the record `RBUILD.have=1`; the reader takes its
//! contents from the receiver's own copy. The reader checks every digest.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::hash::{ContextHashes, Digest};
use crate::unpack::{ParentError, prepare_parents, relative_entry_path};
use crate::walk::EntryKind;

const DIGEST_KEY: &str = "RBUILD.digest";
const HAVE_KEY: &str = "RBUILD.have";

/// Why a context stream could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the context, writing the stream or unpacking it failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file, or the stream's entry, that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file's contents no longer match the digest taken of it.
    #[error("{path}: contents changed while the build was reading them")]
    Changed {
        /// The entry's path.
        path: String,
    },
    /// An entry's contents do not match the digest it announced.
    #[error("{path}: contents do not match digest {expected}")]
    DigestMismatch {
        /// The entry's path.
        path: String,
        /// The announced digest.
        expected: Digest,
    },
    /// An entry was sent without contents, and the receiver has none for it.
    #[error("{path}: no local contents for digest {digest}")]
    Missing {
        /// The entry's path.
        path: String,
        /// The digest it refers to.
        digest: Digest,
    },
    /// An entry would land outside the destination or is not acceptable.
    #[error("{path}: refused: {why}")]
    Refused {
        /// The entry's path as the stream names it.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// What a stream carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Entries of every kind.
    pub entries: u64,
    /// Files whose contents travelled in the stream.
    pub files_sent: u64,
    /// Their bytes (uncompressed).
    pub bytes_sent: u64,
    /// Files left out because the receiver held their contents.
    pub files_skipped: u64,
    /// Their bytes.
    pub bytes_skipped: u64,
}

fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StreamError {
    let path = path.into();
    move |source| StreamError::Io { path, source }
}

/// Writes the entries of `hashes` (read from `context`) to `out` as a
/// zstd-compressed tar at `level`, leaving out the contents of every file
/// for which `receiver_has` says yes. Returns what was sent.
pub fn write_stream<W: Write>(
    context: &Path,
    hashes: &ContextHashes,
    receiver_has: impl Fn(&Digest) -> bool,
    out: W,
    level: i32,
) -> Result<StreamStats, StreamError> {
    let stream = Path::new("<stream>");
    let encoder = zstd::Encoder::new(out, level).map_err(io_at(stream))?;
    let mut builder = tar::Builder::new(encoder);
    let mut stats = StreamStats::default();
    for entry in &hashes.entries {
        let full = context.join(&entry.path);
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.meta.mode & 0o7777);
        header.set_uid(entry.meta.uid.into());
        header.set_gid(entry.meta.gid.into());
        header.set_mtime(u64::try_from(entry.meta.mtime_ns.div_euclid(1_000_000_000)).unwrap_or(0));
        stats.entries += 1;
        match entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                builder
                    .append_data(&mut header, &entry.path, io::empty())
                    .map_err(io_at(stream))?;
            }
            EntryKind::Symlink => {
                let target = fs::read_link(&full).map_err(io_at(&full))?;
                if Digest::of(target.as_os_str().as_encoded_bytes()) != entry.digest {
                    return Err(StreamError::Changed { path: entry.path.clone() });
                }
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, &entry.path, &target).map_err(io_at(stream))?;
            }
            EntryKind::File => {
                let digest = entry.digest.to_string();
                header.set_entry_type(tar::EntryType::Regular);
                if receiver_has(&entry.digest) {
                    builder
                        .append_pax_extensions([
                            (DIGEST_KEY, digest.as_bytes()),
                            (HAVE_KEY, b"1".as_slice()),
                        ])
                        .map_err(io_at(stream))?;
                    header.set_size(0);
                    builder
                        .append_data(&mut header, &entry.path, io::empty())
                        .map_err(io_at(stream))?;
                    stats.files_skipped += 1;
                    stats.bytes_skipped += entry.size;
                    continue;
                }
                builder
                    .append_pax_extensions([(DIGEST_KEY, digest.as_bytes())])
                    .map_err(io_at(stream))?;
                let file = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(io_at(&full))?;
                header.set_size(entry.size);
                let mut reader = Verify::new(file.take(entry.size));
                builder.append_data(&mut header, &entry.path, &mut reader).map_err(|e| {
                    // The tar writer fails when a file shrank under it.
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        StreamError::Changed { path: entry.path.clone() }
                    } else {
                        io_at(&full)(e)
                    }
                })?;
                if reader.digest() != entry.digest {
                    return Err(StreamError::Changed { path: entry.path.clone() });
                }
                stats.files_sent += 1;
                stats.bytes_sent += entry.size;
            }
        }
    }
    let encoder = builder.into_inner().map_err(io_at(stream))?;
    encoder.finish().map_err(io_at(stream))?.flush().map_err(io_at(stream))?;
    Ok(stats)
}

/// A reader that hashes what passes through it.
struct Verify<R> {
    inner: R,
    hasher: blake3::Hasher,
}

impl<R: Read> Verify<R> {
    fn new(inner: R) -> Self {
        Verify { inner, hasher: blake3::Hasher::new() }
    }

    fn digest(&self) -> Digest {
        Digest(*self.hasher.finalize().as_bytes())
    }
}

impl<R: Read> Read for Verify<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Unpacks a stream written by [`write_stream`] into `dest` (an existing
/// directory the caller owns). Contents left out of the stream come from
/// `local`, which maps a digest to a file holding it. Every entry path must
/// be relative, free of `..`, and may not pass through a symlink; modes,
/// owners (when running as root) and mtimes are restored; every file's
/// digest is checked.
pub fn read_stream<R: Read>(
    input: R,
    dest: &Path,
    local: impl Fn(&Digest) -> Option<PathBuf>,
) -> Result<StreamStats, StreamError> {
    let stream = Path::new("<stream>");
    let decoder = zstd::Decoder::new(input).map_err(io_at(stream))?;
    let mut archive = tar::Archive::new(decoder);
    let mut stats = StreamStats::default();
    let mut dirs = Vec::new();
    let as_root = nix::unistd::geteuid().is_root();
    for item in archive.entries().map_err(io_at(stream))? {
        let mut item = item.map_err(io_at(stream))?;
        let raw = String::from_utf8_lossy(&item.path_bytes()).into_owned();
        let refused = |why| StreamError::Refused { path: raw.clone(), why };
        let rel = relative_entry_path(&raw)
            .filter(|rel| !rel.as_os_str().is_empty())
            .ok_or_else(|| refused("not a plain relative path"))?;
        let target = dest.join(&rel);
        prepare_parents(dest, &rel).map_err(|e| match e {
            ParentError::Symlink => refused("a parent directory is a symlink"),
            ParentError::NotDir => refused("a parent is not a directory"),
            ParentError::Io(err) => io_at(&target)(err),
        })?;
        let (mut digest, mut have) = (None, false);
        if let Some(records) = item.pax_extensions().map_err(io_at(stream))? {
            for record in records {
                let record = record.map_err(io_at(stream))?;
                match record.key() {
                    Ok(DIGEST_KEY) => {
                        let text = record.value().unwrap_or_default();
                        digest = Some(text.parse::<Digest>().map_err(|_| refused("bad digest"))?);
                    }
                    Ok(HAVE_KEY) => have = record.value_bytes() == b"1",
                    _ => {}
                }
            }
        }
        let header = item.header();
        let mode = header.mode().map_err(io_at(stream))? & 0o7777;
        let (uid, gid) = (header.uid().ok(), header.gid().ok());
        let mtime = header.mtime().unwrap_or(0);
        let kind = header.entry_type();
        stats.entries += 1;
        match kind {
            tar::EntryType::Directory => match fs::symlink_metadata(&target) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Err(refused("a directory would replace a file")),
                Err(_) => fs::create_dir(&target).map_err(io_at(&target))?,
            },
            tar::EntryType::Symlink => {
                let link = item.link_name().map_err(io_at(stream))?;
                let link = link.ok_or_else(|| refused("symlink without a target"))?;
                remove_existing(&target).map_err(io_at(&target))?;
                std::os::unix::fs::symlink(&link, &target).map_err(io_at(&target))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let digest = digest.ok_or_else(|| refused("file without a digest"))?;
                remove_existing(&target).map_err(io_at(&target))?;
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(io_at(&target))?;
                let got = if have {
                    let source =
                        local(&digest).ok_or(StreamError::Missing { path: raw.clone(), digest })?;
                    let file = fs::File::open(&source).map_err(io_at(&source))?;
                    let mut reader = Verify::new(file);
                    let n = io::copy(&mut reader, &mut out).map_err(io_at(&target))?;
                    stats.files_skipped += 1;
                    stats.bytes_skipped += n;
                    reader.digest()
                } else {
                    let mut reader = Verify::new(&mut item);
                    let n = io::copy(&mut reader, &mut out).map_err(io_at(&target))?;
                    stats.files_sent += 1;
                    stats.bytes_sent += n;
                    reader.digest()
                };
                if got != digest {
                    drop(out);
                    let _ = fs::remove_file(&target);
                    return Err(StreamError::DigestMismatch { path: raw, expected: digest });
                }
                out.set_permissions(fs::Permissions::from_mode(mode)).map_err(io_at(&target))?;
            }
            _ => return Err(refused("only files, directories and symlinks are accepted")),
        }
        let time = filetime::FileTime::from_unix_time(i64::try_from(mtime).unwrap_or(0), 0);
        if kind == tar::EntryType::Directory {
            // Its mode and times once everything inside is written: a
            // read-only directory must still take its entries, and each
            // entry made in it would move its mtime.
            dirs.push((target, mode, uid, gid, time));
            continue;
        }
        if as_root && let (Some(uid), Some(gid)) = (uid, gid) {
            let (uid, gid) = (u32::try_from(uid).ok(), u32::try_from(gid).ok());
            std::os::unix::fs::lchown(&target, uid, gid).map_err(io_at(&target))?;
            if kind != tar::EntryType::Symlink {
                // chown clears set-id bits; put the mode back.
                fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                    .map_err(io_at(&target))?;
            }
        }
        filetime::set_symlink_file_times(&target, time, time).map_err(io_at(&target))?;
    }
    for (target, mode, uid, gid, time) in dirs.into_iter().rev() {
        // Entries cannot replace a directory, but never follow a link here.
        if !target.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            continue;
        }
        if as_root && let (Some(uid), Some(gid)) = (uid, gid) {
            let (uid, gid) = (u32::try_from(uid).ok(), u32::try_from(gid).ok());
            std::os::unix::fs::lchown(&target, uid, gid).map_err(io_at(&target))?;
        }
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_at(&target))?;
        filetime::set_symlink_file_times(&target, time, time).map_err(io_at(&target))?;
    }
    Ok(stats)
}

/// Removes a file or symlink at `path` so an entry can take its place;
/// a directory there is left alone (creating the entry then fails).
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => fs::remove_file(path),
        _ => Ok(()),
    }
}
