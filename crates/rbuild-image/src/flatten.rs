//! An image's layers merged into one tar, as `docker export` gives a
//! container's root file system: whiteouts applied, every path once, owners,
//! modes, xattrs and hard links as the layers have them, without unpacking
//! anything to disk (so it needs no root).
//!
//! Two passes over the layers. The first reads headers only, top layer
//! first, and decides which entry of which layer the merged tree shows: an
//! entry is hidden by the same path in a higher layer, by a whiteout of it
//! or of a parent, by an opaque marker on a parent, or by a parent a higher
//! layer replaced with a non-directory. The second writes the shown entries
//! bottom layer first, so parents mostly come before their children.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rbuild_context::relative_entry_path;

use crate::blobs::Blobs;
use crate::compress::{Layer, open_layer};
use crate::error::{Result, invalid, io_err};
use crate::layer::{OPAQUE_WHITEOUT, WHITEOUT_PREFIX};

/// What the first pass keeps of an entry.
struct Seen {
    path: PathBuf,
    kind: Kind,
}

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Dir,
    /// A hard link to this path of the same layer.
    Link(PathBuf),
    Other,
    /// `.wh.NAME`: NAME is deleted below.
    Whiteout(PathBuf),
    /// `.wh..wh..opq`: the directory hides what is below.
    Opaque(PathBuf),
}

/// Reads one layer's entries as `(path, kind)` in tar order.
fn scan(layer: impl Read, source: &Path) -> Result<Vec<Seen>> {
    let mut archive = tar::Archive::new(layer);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(io_err(source))? {
        let entry = entry.map_err(io_err(source))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = relative_entry_path(&raw)
            .ok_or_else(|| invalid(source, format!("layer entry {raw:?} is outside the layer")))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let kind = if name == OPAQUE_WHITEOUT {
            Kind::Opaque(parent)
        } else if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            Kind::Whiteout(parent.join(hidden))
        } else {
            match entry.header().entry_type() {
                tar::EntryType::Directory => Kind::Dir,
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let target = relative_entry_path(&target).ok_or_else(|| {
                        invalid(source, format!("hard link {raw:?} points outside the layer"))
                    })?;
                    Kind::Link(target)
                }
                _ => Kind::Other,
            }
        };
        out.push(Seen { path, kind });
    }
    Ok(out)
}

/// What the layers above the one being decided hold.
#[derive(Default)]
struct Above {
    defined: HashSet<PathBuf>,
    deleted: HashSet<PathBuf>,
    opaque: HashSet<PathBuf>,
    not_dirs: HashSet<PathBuf>,
}

impl Above {
    fn hides(&self, path: &Path) -> bool {
        if self.defined.contains(path) || self.deleted.contains(path) {
            return true;
        }
        path.ancestors().skip(1).any(|a| {
            self.deleted.contains(a) || self.opaque.contains(a) || self.not_dirs.contains(a)
        })
    }
}

/// Per layer, per entry (tar order): written under this name, or not.
fn decide(layers: &[Vec<Seen>]) -> Vec<Vec<Option<PathBuf>>> {
    let mut above = Above::default();
    let mut plan: Vec<Vec<Option<PathBuf>>> = vec![Vec::new(); layers.len()];
    for (i, entries) in layers.iter().enumerate().rev() {
        // Within a layer the last entry of a path wins, as on extraction.
        let mut last: HashMap<&Path, usize> = HashMap::new();
        for (j, e) in entries.iter().enumerate() {
            if !matches!(e.kind, Kind::Whiteout(_) | Kind::Opaque(_)) {
                last.insert(&e.path, j);
            }
        }
        let shown = |j: usize, e: &Seen| {
            !matches!(e.kind, Kind::Whiteout(_) | Kind::Opaque(_))
                && !e.path.as_os_str().is_empty()
                && last.get(e.path.as_path()) == Some(&j)
                && !above.hides(&e.path)
        };
        let mut names: Vec<Option<PathBuf>> =
            entries.iter().enumerate().map(|(j, e)| shown(j, e).then(|| e.path.clone())).collect();
        // A shown hard link whose target is hidden: the target's data goes
        // out under the first such link's name, and later links point there.
        let mut moved: HashMap<PathBuf, PathBuf> = HashMap::new();
        for (j, e) in entries.iter().enumerate() {
            let Kind::Link(target) = &e.kind else { continue };
            if names[j].is_none() || moved.contains_key(target) {
                continue;
            }
            let target_at = last.get(target.as_path()).copied().filter(|&t| t < j);
            if let Some(t) = target_at.filter(|&t| names[t].is_none()) {
                names[t] = Some(e.path.clone());
                names[j] = None;
                moved.insert(target.clone(), e.path.clone());
            }
        }
        for e in entries {
            match &e.kind {
                Kind::Whiteout(p) => {
                    above.deleted.insert(p.clone());
                }
                Kind::Opaque(p) => {
                    above.opaque.insert(p.clone());
                }
                Kind::Dir => {
                    above.defined.insert(e.path.clone());
                }
                Kind::Link(_) | Kind::Other => {
                    above.defined.insert(e.path.clone());
                    above.not_dirs.insert(e.path.clone());
                }
            }
        }
        plan[i] = names;
    }
    plan
}

/// Writes the merged root file system of `layers` (bottom first) as one
/// tar to `out`; `label` names `out` in errors.
pub fn flatten<W: Write>(blobs: &Blobs, layers: &[Layer], out: W, label: &Path) -> Result<W> {
    let mut scanned = Vec::with_capacity(layers.len());
    for layer in layers {
        let source = blobs.path(layer.descriptor.digest())?;
        scanned.push(scan(open_layer(blobs, layer)?, &source)?);
    }
    let plan = decide(&scanned);
    let mut builder = tar::Builder::new(out);
    for (i, layer) in layers.iter().enumerate() {
        let source = blobs.path(layer.descriptor.digest())?;
        // Targets moved to a link's name in this layer: old → new.
        let mut moved: HashMap<&Path, &Path> = HashMap::new();
        for (seen, name) in scanned[i].iter().zip(&plan[i]) {
            if let Some(name) = name.as_ref().filter(|n| **n != seen.path) {
                moved.insert(&seen.path, name);
            }
        }
        let mut archive = tar::Archive::new(open_layer(blobs, layer)?);
        for (j, entry) in archive.entries().map_err(io_err(&source))?.enumerate() {
            let mut entry = entry.map_err(io_err(&source))?;
            let (Some(name), Some(seen)) = (&plan[i][j], scanned[i].get(j)) else { continue };
            let mut header = entry.header().clone();
            if let Some(records) = entry.pax_extensions().map_err(io_err(&source))? {
                let mut kept = Vec::new();
                for record in records {
                    let record = record.map_err(io_err(&source))?;
                    let key = record.key().map_err(|e| invalid(&source, e.to_string()))?;
                    if !matches!(key, "path" | "linkpath" | "size") {
                        kept.push((key.to_owned(), record.value_bytes().to_vec()));
                    }
                }
                if !kept.is_empty() {
                    builder
                        .append_pax_extensions(kept.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                        .map_err(io_err(label))?;
                }
            }
            match &seen.kind {
                Kind::Link(target) => {
                    let target = moved.get(target.as_path()).copied().unwrap_or(target);
                    builder.append_link(&mut header, name, target).map_err(io_err(label))?;
                }
                Kind::Dir => {
                    let mut dir = name.as_os_str().to_owned();
                    dir.push("/");
                    builder.append_data(&mut header, dir, io::empty()).map_err(io_err(label))?;
                }
                _ if header.entry_type() == tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| PathBuf::from(String::from_utf8_lossy(&b).into_owned()))
                        .unwrap_or_default();
                    builder.append_link(&mut header, name, target).map_err(io_err(label))?;
                }
                _ => builder.append_data(&mut header, name, &mut entry).map_err(io_err(label))?,
            }
        }
    }
    let mut out = builder.into_inner().map_err(io_err(label))?;
    out.flush().map_err(io_err(label))?;
    Ok(out)
}

/// [`flatten`] into the file `dest`, by temp file, fsync and rename
/// (`export -o`, `--output type=tar`): a failure leaves nothing there.
pub fn flatten_to_file(blobs: &Blobs, layers: &[Layer], dest: &Path) -> Result<()> {
    crate::export::write_file_with(dest, |out| flatten(blobs, layers, out, dest))
}
