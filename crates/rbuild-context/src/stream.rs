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
    /// The files of a context add up to more than the server takes.
    #[error("the context is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
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
    read_stream_into(input, dest, local, &mut Vec::new())
}

/// [`read_stream`], also listing every regular file written (its path
/// under `dest`, its checked digest, and whether its contents came in the
/// stream): what a receiver keeps for next time and need not hash again.
pub fn read_stream_into<R: Read>(
    input: R,
    dest: &Path,
    local: impl Fn(&Digest) -> Option<PathBuf>,
    files: &mut Vec<(PathBuf, Digest, bool)>,
) -> Result<StreamStats, StreamError> {
    let decoder = zstd::Decoder::new(input).map_err(io_at(STREAM))?;
    unpack(tar::Archive::new(decoder), dest, &Contents::Thin(&local), u64::MAX, files)
}

/// Whether `path` is a regular file with exactly this mode, owner (when
/// owners are restored) and mtime (whole seconds, as the stream has it).
fn same_file_meta(
    path: &Path,
    mode: u32,
    uid: Option<u64>,
    gid: Option<u64>,
    mtime: u64,
    owners: bool,
) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = fs::symlink_metadata(path) else { return false };
    let owner_ok =
        !owners || (uid == Some(u64::from(meta.uid())) && gid == Some(u64::from(meta.gid())));
    meta.is_file()
        && meta.mode() & 0o7777 == mode
        && owner_ok
        && u64::try_from(meta.mtime()).ok() == Some(mtime)
        && meta.mtime_nsec() == 0
}

/// Unpacks a plain build context as `docker build` sends it to an engine
/// (a tar, gzip, bzip2, xz or zstd compressed or not) into `dest`, under
/// the same rules as [`read_stream`], with hard links between its own files
/// and no more than `max_bytes` of file contents. A tar whose last entry
/// lacks its padding and the end blocks is whole, as the docker CLI sends
/// one when the Dockerfile lies outside the context.
pub fn read_tar<R: Read>(
    input: R,
    dest: &Path,
    max_bytes: u64,
) -> Result<StreamStats, StreamError> {
    let (_, plain) = crate::unpack::decompress(io::BufReader::new(input)).map_err(io_at(STREAM))?;
    unpack(
        tar::Archive::new(TarEnd::new(plain)),
        dest,
        &Contents::Plain,
        max_bytes,
        &mut Vec::new(),
    )
}

const STREAM: &str = "<stream>";

/// Where a regular file's contents come from.
enum Contents<'a> {
    /// In the entry, or (`RBUILD.have`) from the receiver's own copy, and
    /// checked against the entry's digest.
    Thin(&'a dyn Fn(&Digest) -> Option<PathBuf>),
    /// In the entry, as they are.
    Plain,
}

fn unpack<R: Read>(
    mut archive: tar::Archive<R>,
    dest: &Path,
    contents: &Contents<'_>,
    max_bytes: u64,
    files: &mut Vec<(PathBuf, Digest, bool)>,
) -> Result<StreamStats, StreamError> {
    let stream = Path::new(STREAM);
    let mut stats = StreamStats::default();
    let mut dirs = Vec::new();
    let as_root = nix::unistd::geteuid().is_root();
    for item in archive.entries().map_err(io_at(stream))? {
        let mut item = item.map_err(io_at(stream))?;
        let raw = String::from_utf8_lossy(&item.path_bytes()).into_owned();
        let refused = |why| StreamError::Refused { path: raw.clone(), why };
        let Some(rel) = relative_entry_path(&raw) else {
            return Err(refused("not a plain relative path"));
        };
        if rel.as_os_str().is_empty() {
            // The root itself (`./`): nothing to make.
            continue;
        }
        let target = dest.join(&rel);
        prepare_parents(dest, &rel).map_err(|e| match e {
            ParentError::Symlink => refused("a parent directory is a symlink"),
            ParentError::NotDir => refused("a parent is not a directory"),
            ParentError::Io(err) => io_at(&target)(err),
        })?;
        let (mut digest, mut have) = (None, false);
        if let Contents::Thin(_) = contents
            && let Some(records) = item.pax_extensions().map_err(io_at(stream))?
        {
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
            tar::EntryType::Link if matches!(contents, Contents::Plain) => {
                // Only to a file of the archive already written, reached
                // without passing a symlink.
                let link = item.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
                let to = link
                    .as_deref()
                    .and_then(relative_entry_path)
                    .filter(|to| !to.as_os_str().is_empty())
                    .ok_or_else(|| refused("a hard link to outside the archive"))?;
                let source = dest.join(&to);
                let inside = to.parent().is_none_or(|parent| {
                    let mut at = dest.to_path_buf();
                    parent.components().all(|part| {
                        at.push(part);
                        fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir())
                    })
                });
                if !inside || !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
                    return Err(refused("a hard link to no file of the archive"));
                }
                remove_existing(&target).map_err(io_at(&target))?;
                fs::hard_link(&source, &target).map_err(io_at(&target))?;
                continue;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&target).map_err(io_at(&target))?;
                // A held file whose copy already has this entry's mode,
                // owner and mtime is linked, not copied: one inode serves
                // every context that holds it unchanged.
                if let (Contents::Thin(local), true, Some(digest)) = (contents, have, digest)
                    && let Some(source) = local(&digest)
                    && same_file_meta(&source, mode, uid, gid, mtime, as_root)
                    && fs::hard_link(&source, &target).is_ok()
                {
                    stats.files_skipped += 1;
                    stats.bytes_skipped += fs::symlink_metadata(&target).map_or(0, |m| m.len());
                    files.push((target, digest, false));
                    continue;
                }
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(io_at(&target))?;
                match contents {
                    Contents::Plain => {
                        let left = max_bytes.saturating_sub(stats.bytes_sent);
                        let n = io::copy(&mut (&mut item).take(left), &mut out)
                            .map_err(io_at(&target))?;
                        stats.files_sent += 1;
                        stats.bytes_sent += n;
                        if n == left && item.read(&mut [0u8]).map_err(io_at(&target))? > 0 {
                            return Err(StreamError::TooLarge { limit: max_bytes });
                        }
                    }
                    Contents::Thin(local) => {
                        let digest = digest.ok_or_else(|| refused("file without a digest"))?;
                        let got = if have {
                            let source = local(&digest)
                                .ok_or(StreamError::Missing { path: raw.clone(), digest })?;
                            let file = fs::File::open(&source).map_err(io_at(&source))?;
                            let mut reader = Verify::new(file);
                            let n = io::copy(&mut reader, &mut out).map_err(io_at(&target))?;
                            stats.files_skipped += 1;
                            stats.bytes_skipped += n;
                            files.push((target.clone(), digest, false));
                            reader.digest()
                        } else {
                            let mut reader = Verify::new(&mut item);
                            let n = io::copy(&mut reader, &mut out).map_err(io_at(&target))?;
                            stats.files_sent += 1;
                            stats.bytes_sent += n;
                            files.push((target.clone(), digest, true));
                            reader.digest()
                        };
                        if got != digest {
                            drop(out);
                            let _ = fs::remove_file(&target);
                            files.retain(|(p, _, _)| p != &target);
                            return Err(StreamError::DigestMismatch {
                                path: raw,
                                expected: digest,
                            });
                        }
                    }
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

/// A tar stream that ends whole even when its writer stopped after the
/// last entry's data, before that entry's padding and the two end blocks
/// (the docker CLI's `ReplaceFileTarWrapper` does): it follows the headers
/// as the bytes pass, and at an end that falls in padding it supplies the
/// zeros. An end inside a header or inside data stays an end, which the
/// tar reader reports as truncated.
struct TarEnd<R> {
    inner: R,
    /// Bytes read so far.
    pos: u64,
    /// Where the next header starts, and the bytes of it seen.
    header_at: u64,
    header: Vec<u8>,
    /// Where the current entry's data ends.
    data_end: u64,
    /// Zeros still to hand out after the end.
    fill: Option<u64>,
}

impl<R: Read> TarEnd<R> {
    fn new(inner: R) -> TarEnd<R> {
        TarEnd { inner, pos: 0, header_at: 0, header: Vec::new(), data_end: 0, fill: None }
    }

    fn track(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let end = self.pos + bytes.len() as u64;
            if self.pos < self.header_at {
                let skip = (self.header_at - self.pos).min(bytes.len() as u64);
                self.pos += skip;
                bytes = &bytes[skip as usize..];
                continue;
            }
            let want = 512 - self.header.len();
            let take = want.min(bytes.len());
            self.header.extend_from_slice(&bytes[..take]);
            self.pos += take as u64;
            bytes = &bytes[take..];
            if self.header.len() == 512 {
                let size = header_size(&self.header);
                self.data_end = self.header_at + 512 + size;
                self.header_at = self.data_end.div_ceil(512) * 512;
                self.header.clear();
            }
            debug_assert!(self.pos <= end);
        }
    }
}

/// The size field of a tar header: octal digits, or base-256 when its
/// first byte has the high bit set.
fn header_size(header: &[u8]) -> u64 {
    let field = &header[124..136];
    if field[0] & 0x80 != 0 {
        return field[1..]
            .iter()
            .fold(0u64, |n, b| n.saturating_mul(256).saturating_add(u64::from(*b)));
    }
    let text: String = field.iter().map(|b| *b as char).filter(|c| c.is_ascii_digit()).collect();
    u64::from_str_radix(&text, 8).unwrap_or(0)
}

impl<R: Read> Read for TarEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(fill) = self.fill.as_mut() {
            let n = (*fill).min(buf.len() as u64) as usize;
            buf[..n].fill(0);
            *fill -= n as u64;
            return Ok(n);
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.track(&buf[..n]);
            return Ok(n);
        }
        let in_padding =
            self.header.is_empty() && self.pos >= self.data_end && self.pos <= self.header_at;
        self.fill = Some(if in_padding { self.header_at - self.pos + 1024 } else { 0 });
        self.read(buf)
    }
}

/// Removes a file or symlink at `path` so an entry can take its place;
/// a directory there is left alone (creating the entry then fails).
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => fs::remove_file(path),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbuild_test::{raw_tar_end, raw_tar_entry};
    use tar::EntryType;

    fn context_tar() -> Vec<u8> {
        let mut tar = Vec::new();
        raw_tar_entry(&mut tar, b"hello.txt", EntryType::Regular, b"", b"hello world\n");
        raw_tar_entry(&mut tar, b"sub/", EntryType::Directory, b"", b"");
        raw_tar_entry(&mut tar, b"sub/same.txt", EntryType::Link, b"hello.txt", b"");
        raw_tar_entry(&mut tar, b"Dockerfile", EntryType::Regular, b"", b"FROM scratch\n");
        tar
    }

    fn unpacked(tar: &[u8]) -> Result<(tempfile::TempDir, StreamStats), StreamError> {
        let dir = tempfile::tempdir().unwrap();
        let stats = read_tar(tar, dir.path(), 1 << 20)?;
        Ok((dir, stats))
    }

    #[test]
    fn a_context_tar_unpacks_whole_even_without_its_end() {
        let mut whole = context_tar();
        raw_tar_end(&mut whole);
        let (dir, stats) = unpacked(&whole).unwrap();
        assert_eq!(stats.entries, 4);
        assert_eq!(fs::read_to_string(dir.path().join("sub/same.txt")).unwrap(), "hello world\n");
        use std::os::unix::fs::MetadataExt as _;
        let ino = |p: &str| fs::metadata(dir.path().join(p)).unwrap().ino();
        assert_eq!(ino("hello.txt"), ino("sub/same.txt"), "a hard link stays one");

        // What the docker CLI sends with -f outside the context: the last
        // entry's data, then nothing (no padding, no end blocks).
        let tar = context_tar();
        let cut = tar.len() - (512 - b"FROM scratch\n".len());
        let (dir, _) = unpacked(&tar[..cut]).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), "FROM scratch\n");
        // Cut at a header boundary: whole too.
        let (dir, _) = unpacked(&tar).unwrap();
        assert!(dir.path().join("Dockerfile").is_file());

        // Cut inside the data, or inside a header: truncated.
        let err = unpacked(&tar[..cut - 3]).unwrap_err();
        assert!(matches!(err, StreamError::Io { .. }), "{err}");
        assert!(unpacked(&tar[..tar.len() - 512 - 100]).is_err());

        // Compressed, told by its magic.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar[..cut]).unwrap();
        let (dir, _) = unpacked(&gz.finish().unwrap()).unwrap();
        assert!(dir.path().join("Dockerfile").is_file());
    }

    #[test]
    fn hostile_entries_are_refused_and_nothing_lands_outside() {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("ctx");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("../escape", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"../escape", EntryType::Regular, b"", b"x");
                t
            }),
            ("/abs", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"/abs", EntryType::Regular, b"", b"x");
                t
            }),
            ("link/escape", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"link", EntryType::Symlink, b"..", b"");
                raw_tar_entry(&mut t, b"link/escape", EntryType::Regular, b"", b"x");
                t
            }),
            ("hard", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"hard", EntryType::Link, b"../escape", b"");
                t
            }),
            ("hard2", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"link", EntryType::Symlink, b"..", b"");
                raw_tar_entry(&mut t, b"hard2", EntryType::Link, b"link/outside.txt", b"");
                t
            }),
            ("dev", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"dev", EntryType::Block, b"", b"");
                t
            }),
            ("fifo", {
                let mut t = Vec::new();
                raw_tar_entry(&mut t, b"fifo", EntryType::Fifo, b"", b"");
                t
            }),
        ];
        fs::write(outer.path().join("outside.txt"), "host file").unwrap();
        for (name, mut tar) in cases {
            let _ = fs::remove_dir_all(&dest);
            fs::create_dir(&dest).unwrap();
            raw_tar_end(&mut tar);
            let err = read_tar(tar.as_slice(), &dest, 1 << 20).unwrap_err();
            match err {
                StreamError::Refused { path, .. } => assert_eq!(path, name),
                other => panic!("{name}: {other}"),
            }
            assert!(!outer.path().join("escape").exists(), "{name}");
            assert!(!dest.join("hard2").exists(), "{name}");
        }
        assert_eq!(fs::read_to_string(outer.path().join("outside.txt")).unwrap(), "host file");

        let mut big = Vec::new();
        raw_tar_entry(&mut big, b"a", EntryType::Regular, b"", &[7u8; 600]);
        raw_tar_entry(&mut big, b"b", EntryType::Regular, b"", &[7u8; 600]);
        raw_tar_end(&mut big);
        let _ = fs::remove_dir_all(&dest);
        fs::create_dir(&dest).unwrap();
        let err = read_tar(big.as_slice(), &dest, 1000).unwrap_err();
        assert!(matches!(err, StreamError::TooLarge { limit: 1000 }), "{err}");
    }
}
