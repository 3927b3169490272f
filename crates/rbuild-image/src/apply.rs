//! An OCI layer tar unpacked into a snapshot directory that is stacked as
//! an overlayfs lower dir: whiteouts become overlayfs whiteouts (0:0
//! character devices, the opaque xattr), and no entry lands outside.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use rbuild_context::{ParentError, prepare_parents, relative_entry_path};

use crate::layer::{LayerError, OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX, io_at};

/// What applying a layer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Entries unpacked, whiteouts included.
    pub entries: u64,
    /// Whiteouts turned into overlayfs ones.
    pub whiteouts: u64,
}

/// Unpacks the uncompressed layer tar `layer` into the empty snapshot
/// directory `dest`. Entry names must be relative and free of `..`; no
/// entry may be written through a symlink; hard links must point at an
/// entry already unpacked. Needs root (device nodes, owners, trusted
/// xattrs).
pub fn apply<R: Read>(layer: R, dest: &Path) -> Result<ApplyStats, LayerError> {
    apply_with(layer, dest, Whiteouts::Overlay)
}

/// Unpacks layer after layer into one plain directory (the final root file
/// system, `--output type=local`): whiteouts delete what earlier layers put
/// there instead of becoming overlayfs markers.
pub fn apply_flat<R: Read>(layer: R, dest: &Path) -> Result<ApplyStats, LayerError> {
    apply_with(layer, dest, Whiteouts::Delete)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Whiteouts {
    Overlay,
    Delete,
}

fn apply_with<R: Read>(
    layer: R,
    dest: &Path,
    whiteouts: Whiteouts,
) -> Result<ApplyStats, LayerError> {
    let mut written: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    let mut archive = tar::Archive::new(layer);
    let mut stats = ApplyStats::default();
    let mut dirs: Vec<(PathBuf, u64)> = Vec::new();
    for item in archive.entries().map_err(io_at(dest))? {
        let mut item = item.map_err(io_at(dest))?;
        // Pax global headers and the like are metadata: nothing of them,
        // not even their name's parent directory, lands.
        if matches!(
            item.header().entry_type(),
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            continue;
        }
        let raw = String::from_utf8_lossy(&item.path_bytes()).into_owned();
        let refused = |why| LayerError::Refused { path: raw.clone(), why };
        let rel = relative_entry_path(&raw).ok_or_else(|| refused("not a plain relative path"))?;
        if rel.as_os_str().is_empty() {
            // `./`, the layer's root: tars made with `tar -C dir .` start
            // with it; the snapshot directory is already there.
            continue;
        }
        let target = dest.join(&rel);
        prepare_parents(dest, &rel).map_err(|why| match why {
            ParentError::Symlink => refused("a parent directory is a symlink"),
            ParentError::NotDir => refused("a parent is not a directory"),
            ParentError::Io(e) => io_at(&target)(e),
        })?;
        stats.entries += 1;
        let base = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if base == OPAQUE_WHITEOUT {
            let dir = target.parent().unwrap_or(dest);
            if whiteouts == Whiteouts::Delete {
                // Hide what earlier layers put in the directory, keeping
                // what this layer wrote there.
                for entry in fs::read_dir(dir).map_err(io_at(dir))?.flatten() {
                    let path = entry.path();
                    if !written.iter().any(|w| w.starts_with(&path)) {
                        remove_existing(&path).map_err(io_at(&path))?;
                    }
                }
                stats.whiteouts += 1;
                continue;
            }
            xattr::set(dir, OVERLAY_OPAQUE_XATTR, b"y").map_err(io_at(dir))?;
            stats.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = base.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(refused("whiteout of nothing"));
            }
            let path = target.with_file_name(hidden);
            remove_existing(&path).map_err(io_at(&path))?;
            if whiteouts == Whiteouts::Delete {
                stats.whiteouts += 1;
                continue;
            }
            mknod(&path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                .map_err(|e| io_at(&path)(io::Error::from_raw_os_error(e as i32)))?;
            stats.whiteouts += 1;
            continue;
        }

        written.insert(target.clone());
        let header = item.header();
        let mode = header.mode().map_err(io_at(&target))? & 0o7777;
        let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
        let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
        let mtime = header.mtime().unwrap_or(0);
        let kind = header.entry_type();
        let device = (header.device_major().ok().flatten(), header.device_minor().ok().flatten());
        match kind {
            tar::EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(_) => {
                        fs::remove_file(&target).map_err(io_at(&target))?;
                        fs::create_dir(&target).map_err(io_at(&target))?;
                    }
                    Err(_) => fs::create_dir(&target).map_err(io_at(&target))?,
                }
                dirs.push((target.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&target).map_err(io_at(&target))?;
                let mut file = fs::File::create_new(&target).map_err(io_at(&target))?;
                io::copy(&mut item, &mut file).map_err(io_at(&target))?;
            }
            tar::EntryType::Symlink => {
                let link = item.link_name().map_err(io_at(&target))?;
                let link = link.ok_or_else(|| refused("symlink without a target"))?;
                remove_existing(&target).map_err(io_at(&target))?;
                std::os::unix::fs::symlink(&link, &target).map_err(io_at(&target))?;
            }
            tar::EntryType::Link => {
                let link =
                    item.link_name_bytes().ok_or_else(|| refused("link without a target"))?;
                let link = String::from_utf8_lossy(&link).into_owned();
                let source_rel = relative_entry_path(&link)
                    .ok_or_else(|| refused("hard link target outside the layer"))?;
                prepare_parents(dest, &source_rel)
                    .map_err(|_| refused("hard link target through a symlink"))?;
                let source = dest.join(&source_rel);
                if !fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
                    return Err(refused("hard link to a file the layer does not hold"));
                }
                remove_existing(&target).map_err(io_at(&target))?;
                fs::hard_link(&source, &target).map_err(io_at(&target))?;
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let flag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = makedev(device.0.unwrap_or(0).into(), device.1.unwrap_or(0).into());
                remove_existing(&target).map_err(io_at(&target))?;
                mknod(&target, flag, Mode::from_bits_truncate(mode), dev)
                    .map_err(|e| io_at(&target)(io::Error::from_raw_os_error(e as i32)))?;
            }
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            _ => return Err(refused("unsupported entry type")),
        }
        if let Some(records) = item.pax_extensions().map_err(io_at(&target))? {
            for record in records {
                let record = record.map_err(io_at(&target))?;
                if let Ok(key) = record.key()
                    && let Some(name) = key.strip_prefix("SCHILY.xattr.")
                    && !name.starts_with("trusted.overlay.")
                {
                    xattr::set(&target, name, record.value_bytes()).map_err(|e| {
                        io_at(&target)(io::Error::new(
                            e.kind(),
                            format!("setting the extended attribute {name:?}: {e}"),
                        ))
                    })?;
                }
            }
        }
        if let (Some(uid), Some(gid)) = (uid, gid) {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid)).map_err(io_at(&target))?;
        }
        if kind != tar::EntryType::Symlink {
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(io_at(&target))?;
        }
        let time = filetime::FileTime::from_unix_time(i64::try_from(mtime).unwrap_or(0), 0);
        filetime::set_symlink_file_times(&target, time, time).map_err(io_at(&target))?;
    }
    // Directory mtimes last: unpacking their entries moved them.
    for (dir, mtime) in dirs.into_iter().rev() {
        let time = filetime::FileTime::from_unix_time(i64::try_from(mtime).unwrap_or(0), 0);
        filetime::set_symlink_file_times(&dir, time, time).map_err(io_at(&dir))?;
    }
    Ok(stats)
}

/// Clears the way for an entry: a file, link or device is removed; a
/// directory goes with its contents (a later layer replacing it).
fn remove_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
