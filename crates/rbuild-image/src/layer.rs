//! An overlayfs upper directory as an OCI layer tar: the changes of one
//! step, in a deterministic order, with deletions as whiteouts.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

/// Prefix of a whiteout entry: `.wh.NAME` deletes NAME from lower layers.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// An entry that hides everything the lower layers hold in its directory.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// The xattr overlayfs sets on an opaque directory in the upper dir.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How a layer is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// `SOURCE_DATE_EPOCH`: no mtime in the layer is later than this.
    pub source_date_epoch: Option<u64>,
}

/// What went into a layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Tar entries written (whiteouts included).
    pub entries: u64,
    /// Bytes of regular-file contents.
    pub content_bytes: u64,
    /// Whiteouts (deletions and opaque directories).
    pub whiteouts: u64,
}

/// Why a layer could not be written or applied.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A layer entry is refused.
    #[error("layer entry {path:?} refused: {why}")]
    Refused {
        /// The entry's name as the tar gives it.
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LayerError {
    let path = path.into();
    move |source| LayerError::Io { path, source }
}

/// Writes the upper directory `upper` of a finished step to `out` as an
/// uncompressed OCI layer tar. Entries come in path order (so equal trees
/// give equal bytes); a file deleted by the step (overlayfs' 0:0 character
/// device) becomes `.wh.NAME`, an opaque directory gets `.wh..wh..opq`;
/// hard links stay hard links; modes, owners, symlinks, devices, fifos and
/// xattrs (overlayfs' own left out) are kept.
pub fn diff<W: Write>(
    upper: &Path,
    out: W,
    options: &DiffOptions,
) -> Result<LayerStats, LayerError> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let mut stats = LayerStats::default();
    let mut links: HashMap<(u64, u64), String> = HashMap::new();
    let walk = walkdir::WalkDir::new(upper)
        .follow_links(false)
        .same_file_system(true)
        .sort_by_file_name()
        .min_depth(1);
    for item in walk {
        let item = item.map_err(|e| {
            let path = e.path().map(Path::to_owned).unwrap_or_else(|| upper.to_owned());
            LayerError::Io { path, source: e.into() }
        })?;
        let full = item.path();
        let rel = full.strip_prefix(upper).unwrap_or(full);
        let Some(name) = rel.to_str() else {
            return Err(LayerError::Refused {
                path: rel.to_string_lossy().into_owned(),
                why: "file names in layers must be UTF-8",
            });
        };
        let meta = fs::symlink_metadata(full).map_err(io_at(full))?;
        let kind = meta.file_type();
        let mtime = clamp(meta.mtime(), options.source_date_epoch);
        let mut header = tar::Header::new_gnu();
        header.set_mtime(mtime);

        if kind.is_char_device() && meta.rdev() == 0 {
            // overlayfs' whiteout: the step deleted a lower file.
            let (dir, base) = split(name);
            header_for_whiteout(&mut header, mtime);
            let path = format!("{dir}{WHITEOUT_PREFIX}{base}");
            builder.append_data(&mut header, &path, io::empty()).map_err(io_at(full))?;
            stats.entries += 1;
            stats.whiteouts += 1;
            continue;
        }

        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(meta.uid().into());
        header.set_gid(meta.gid().into());
        let xattrs = read_xattrs(full)?;
        if !xattrs.is_empty() {
            let records: Vec<(String, Vec<u8>)> =
                xattrs.into_iter().map(|(k, v)| (format!("SCHILY.xattr.{k}"), v)).collect();
            builder
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(io_at(full))?;
        }
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            builder
                .append_data(&mut header, format!("{name}/"), io::empty())
                .map_err(io_at(full))?;
            stats.entries += 1;
            if xattr::get(full, OVERLAY_OPAQUE_XATTR).ok().flatten().as_deref() == Some(b"y") {
                let mut wh = tar::Header::new_gnu();
                header_for_whiteout(&mut wh, mtime);
                let path = format!("{name}/{OPAQUE_WHITEOUT}");
                builder.append_data(&mut wh, &path, io::empty()).map_err(io_at(full))?;
                stats.entries += 1;
                stats.whiteouts += 1;
            }
        } else if kind.is_symlink() {
            let target = fs::read_link(full).map_err(io_at(full))?;
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, name, &target).map_err(io_at(full))?;
            stats.entries += 1;
        } else if kind.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1
                && let Some(first) = links.get(&key)
            {
                header.set_entry_type(tar::EntryType::Link);
                header.set_size(0);
                builder.append_link(&mut header, name, first).map_err(io_at(full))?;
                stats.entries += 1;
                continue;
            }
            if meta.nlink() > 1 {
                links.insert(key, name.to_owned());
            }
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            let file = fs::File::open(full).map_err(io_at(full))?;
            builder.append_data(&mut header, name, file).map_err(io_at(full))?;
            stats.entries += 1;
            stats.content_bytes += meta.len();
        } else {
            let entry_type = if kind.is_char_device() {
                tar::EntryType::Char
            } else if kind.is_block_device() {
                tar::EntryType::Block
            } else if kind.is_fifo() {
                tar::EntryType::Fifo
            } else {
                // Sockets cannot be stored in a tar; Docker skips them too.
                continue;
            };
            header.set_entry_type(entry_type);
            header.set_size(0);
            if matches!(entry_type, tar::EntryType::Char | tar::EntryType::Block) {
                let rdev = meta.rdev();
                let (major, minor) = (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev));
                header.set_device_major(major as u32).map_err(io_at(full))?;
                header.set_device_minor(minor as u32).map_err(io_at(full))?;
            }
            builder.append_data(&mut header, name, io::empty()).map_err(io_at(full))?;
            stats.entries += 1;
        }
    }
    builder.into_inner().map_err(io_at(upper))?.flush().map_err(io_at(upper))?;
    Ok(stats)
}

fn clamp(mtime: i64, epoch: Option<u64>) -> u64 {
    let mtime = u64::try_from(mtime).unwrap_or(0);
    epoch.map_or(mtime, |e| mtime.min(e))
}

fn header_for_whiteout(header: &mut tar::Header, mtime: u64) {
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(0);
    header.set_mode(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
}

/// `("dir/", "name")` for `dir/name`, `("", "name")` at the top.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

/// The xattrs a layer keeps: everything but overlayfs' bookkeeping, sorted.
fn read_xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, LayerError> {
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(io_at(path)(e)),
    };
    let mut out = Vec::new();
    for name in names {
        let Some(name) = name.to_str().map(str::to_owned) else { continue };
        if name.starts_with("trusted.overlay.") {
            continue;
        }
        if let Some(value) = xattr::get(path, &name).map_err(io_at(path))? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}
