//! COPY and ADD of local files into a rootfs, with BuildKit's rules: a
//! directory source copies its contents, a trailing `/` (or several
//! sources, or an existing directory) makes the destination a directory,
//! wildcards match within one path component, new files belong to 0:0
//! unless `--chown`, modes and mtimes are kept unless `--chmod`, symlinks
//! are copied as symlinks, and nothing is read outside the source root or
//! written outside the destination root.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rbuild_context::{EntryKind, IgnoreFile, Listing};

use crate::rootfs::resolve_in_root;

/// One COPY: what to copy and how.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CopySpec {
    /// Sources relative to the source root, wildcards allowed.
    pub sources: Vec<String>,
    /// Absolute destination in the rootfs; a trailing `/` means a directory.
    pub dest: String,
    /// `--chown` as written (`user`, `user:group`, ids), resolved against
    /// the destination rootfs's /etc/passwd and /etc/group.
    pub chown: Option<String>,
    /// `--chmod`, octal or symbolic.
    pub chmod: Option<rbuild_llb::Chmod>,
    /// `--parents`: keep each source's path under the destination.
    pub parents: bool,
    /// `--exclude` patterns, matched against paths relative to each source.
    pub exclude: Vec<String>,
    /// ADD: a local source that is a tar archive (plain, gzip, bzip2, xz or zstd) is
    /// unpacked into the destination instead of copied.
    #[serde(default)]
    pub unpack: bool,
    /// Without `--chown`, copied entries keep the source's owners (a stage
    /// or an image: `COPY --from`); context files become 0:0.
    #[serde(default)]
    pub keep_owners: bool,
}

/// Why a COPY failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A source names nothing (or only ignored files).
    #[error("{0:?}: not found (it does not exist in the source, or .dockerignore excludes it)")]
    NotFound(String),
    /// Several sources need a directory destination written with a `/`.
    #[error("when copying several sources, the destination {0:?} must be a directory ending in /")]
    DestNotDir(String),
    /// An archive ADD unpacks is not what it must be.
    #[error("{0}")]
    Archive(String),
    /// A source pattern or an `--exclude` pattern is invalid.
    #[error("{0}")]
    Pattern(String),
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io { path: path.to_owned(), source }
}

/// What a COPY wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Files, symlinks and directories written.
    pub entries: u64,
    /// Bytes of file contents.
    pub bytes: u64,
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Copies `spec.sources` from `src_root` (whose visible entries are
/// `available`: the context after .dockerignore, or a stage's tree) into
/// `dest_root`.
pub fn copy_into(
    dest_root: &Path,
    src_root: &Path,
    available: &Listing,
    spec: &CopySpec,
) -> Result<CopyStats, CopyError> {
    let exclude = IgnoreFile::parse(&spec.exclude.join("\n"))
        .map_err(|e| CopyError::Pattern(format!("--exclude: {e}")))?;
    let ids = resolve_chown(dest_root, spec.chown.as_deref())?;
    let all: Vec<(&str, EntryKind)> = available
        .entries
        .iter()
        .chain(&available.dirs)
        .map(|e| (e.path.as_str(), e.kind))
        .collect();

    // Expand the sources into top-level matches.
    let mut matches: Vec<(String, EntryKind)> = Vec::new();
    for source in &spec.sources {
        let clean = resolve_parents(src_root, &rbuild_context::context_path(source))?;
        if clean == "." {
            matches.push((String::new(), EntryKind::Dir));
            continue;
        }
        let found: Vec<(String, EntryKind)> = if has_wildcard(&clean) {
            let mut hits: Vec<_> = all
                .iter()
                .filter(|(p, _)| rbuild_context::path_match(&clean, p))
                .map(|(p, k)| ((*p).to_owned(), *k))
                .collect();
            hits.sort_by(|a, b| a.0.cmp(&b.0));
            hits
        } else {
            // A directory the listing only implies (ignored itself, with
            // kept entries below) still counts.
            let prefix = format!("{clean}/");
            match all.iter().find(|(p, _)| *p == clean) {
                Some((p, k)) => vec![((*p).to_owned(), *k)],
                None if all.iter().any(|(p, _)| p.starts_with(&prefix)) => {
                    vec![(clean.clone(), EntryKind::Dir)]
                }
                None => Vec::new(),
            }
        };
        // A wildcard that matches nothing is no error (BuildKit), a
        // literal source that is missing is.
        if found.is_empty() && !has_wildcard(&clean) {
            return Err(CopyError::NotFound(source.clone()));
        }
        matches.extend(found);
    }

    let dest_is_dir_syntax = spec.dest.ends_with('/');
    if spec.sources.len() > 1 && !dest_is_dir_syntax {
        return Err(CopyError::DestNotDir(spec.dest.clone()));
    }
    let dest_existing_dir = resolve_in_root(dest_root, &spec.dest)
        .map_err(io_at(dest_root))?
        .symlink_metadata()
        .is_ok_and(|m| m.is_dir());
    // One wildcard matching several files onto a destination without `/`
    // copies each onto it (the last wins), as BuildKit does.
    let into_dir = dest_is_dir_syntax || dest_existing_dir;
    let dest = spec.dest.trim_end_matches('/');
    let dest = if dest.is_empty() { "/" } else { dest };

    let mut stats = CopyStats::default();
    let mut writer = Writer {
        dest_root,
        ids,
        keep_owners: spec.keep_owners && spec.chown.is_none(),
        resolved: std::collections::HashMap::new(),
        chmod: spec.chmod.clone(),
        stats: &mut stats,
        dir_times: Vec::new(),
    };
    if spec.sources.is_empty() {
        // No sources: make the destination directory (WORKDIR does this),
        // with its missing parents, owned like a copy.
        writer.place(&format!("{}/.", dest.trim_end_matches('/')))?;
        return Ok(stats);
    }
    for (source, kind) in matches {
        // A source that is a symlink is followed (inside the source root).
        let (source_path, kind) = if kind == EntryKind::Symlink {
            let resolved = resolve_in_root(src_root, &source).map_err(io_at(src_root))?;
            let rel =
                resolved.strip_prefix(src_root).unwrap_or(&resolved).to_string_lossy().into_owned();
            let kind = match resolved.metadata() {
                Ok(m) if m.is_dir() => EntryKind::Dir,
                Ok(_) => EntryKind::File,
                Err(_) => return Err(CopyError::NotFound(source)),
            };
            (rel, kind)
        } else {
            (source.clone(), kind)
        };
        let base = Path::new(&source).file_name().map(|n| n.to_string_lossy().into_owned());
        let target = if spec.parents && !source.is_empty() {
            format!("{}/{source}", dest.trim_end_matches('/'))
        } else if kind == EntryKind::Dir || !into_dir {
            dest.to_owned()
        } else {
            format!("{}/{}", dest.trim_end_matches('/'), base.clone().unwrap_or_default())
        };
        if kind == EntryKind::Dir {
            let src_dir = src_root.join(&source_path);
            // The context's root comes without its times (BuildKit sends
            // its entries, not itself); a stage's root keeps its own.
            let keep_time = !source_path.is_empty() || spec.keep_owners;
            writer.top_dir(&target, &src_dir, keep_time)?;
            let prefix =
                if source_path.is_empty() { String::new() } else { format!("{source_path}/") };
            let mut below: Vec<&(&str, EntryKind)> = all
                .iter()
                .filter(|(p, _)| p.starts_with(&prefix) && p.len() > prefix.len())
                .collect();
            below.sort_by(|a, b| a.0.cmp(b.0));
            for (path, kind) in below {
                let rel = &path[prefix.len()..];
                if exclude.matches(rel).map_err(|e| CopyError::Pattern(e.to_string()))? {
                    continue;
                }
                let to = format!("{}/{rel}", target.trim_end_matches('/'));
                writer.entry(&to, &src_root.join(path), *kind)?;
            }
        } else {
            if exclude
                .matches(base.as_deref().unwrap_or(""))
                .map_err(|e| CopyError::Pattern(e.to_string()))?
            {
                continue;
            }
            let source_file = src_root.join(&source_path);
            if spec.unpack
                && kind == EntryKind::File
                && let Some(reader) = archive_reader(&source_file)?
            {
                writer.unpack(dest, reader, spec.chown.is_some())?;
                continue;
            }
            writer.entry(&target, &source_file, kind)?;
        }
    }
    writer.settle()?;
    Ok(stats)
}

/// `clean` with the directories above its last part (up to the first
/// wildcard) resolved through symlinks inside `src_root`, as BuildKit
/// resolves a source before matching it: `lib/x.so` with `lib -> usr/lib`
/// is `usr/lib/x.so`.
fn resolve_parents(src_root: &Path, clean: &str) -> Result<String, CopyError> {
    let parts: Vec<&str> = clean.split('/').collect();
    let fixed = parts[..parts.len() - 1].iter().take_while(|p| !has_wildcard(p)).count();
    if fixed == 0 || clean == "." {
        return Ok(clean.to_owned());
    }
    let resolved = resolve_in_root(src_root, &parts[..fixed].join("/")).map_err(io_at(src_root))?;
    let rel = resolved.strip_prefix(src_root).unwrap_or(&resolved).to_string_lossy().into_owned();
    let mut out: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    out.extend(&parts[fixed..]);
    Ok(out.join("/"))
}

struct Writer<'a> {
    dest_root: &'a Path,
    ids: (u32, u32),
    /// Entries keep their source's owners (`COPY --from` without --chown).
    keep_owners: bool,
    /// Directories already made or checked: (root, path) → host path.
    resolved: std::collections::HashMap<(PathBuf, String), PathBuf>,
    chmod: Option<rbuild_llb::Chmod>,
    stats: &'a mut CopyStats,
    /// Directory mtimes, set once their entries are written (writing an
    /// entry moves its directory's mtime).
    dir_times: Vec<(PathBuf, filetime::FileTime)>,
}

impl Writer<'_> {
    /// The host path for `target` (absolute in the rootfs), its parents
    /// created (owned like the copy) and resolved inside the rootfs.
    fn place(&mut self, target: &str) -> Result<PathBuf, CopyError> {
        let root = self.dest_root.to_owned();
        self.place_in(&root, target)
    }

    /// [`place`](Writer::place) with `root` as the root symlinks resolve in
    /// (an archive's destination directory: its links, and the image's,
    /// never lead out of it).
    fn place_in(&mut self, root: &Path, target: &str) -> Result<PathBuf, CopyError> {
        let target = target.trim_end_matches('/');
        let (parent, name) = match target.rfind('/') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => ("", target),
        };
        // Directories made or checked before are not resolved again from
        // the root: a tree n deep would cost n^3 path walks (n^4 with the
        // kernel's own). The deepest one known is checked still to be a
        // directory (entries never replace one), the rest below it is new.
        let parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
        let mut known = parts.len();
        let mut host_dir = None;
        while known > 0 {
            let at = format!("/{}", parts[..known].join("/"));
            if let Some(host) = self.resolved.get(&(root.to_owned(), at))
                && host.symlink_metadata().is_ok_and(|m| m.is_dir())
            {
                host_dir = Some(host.clone());
                break;
            }
            known -= 1;
        }
        if let (Some(dir), true) = (&host_dir, known == parts.len()) {
            let dir = dir.clone();
            return Ok(if name.is_empty() || name == "." { dir } else { dir.join(name) });
        }
        let mut at =
            if known > 0 { format!("/{}", parts[..known].join("/")) } else { String::new() };
        let mut base = host_dir.unwrap_or_else(|| root.to_owned());
        for part in &parts[known..] {
            at.push('/');
            at.push_str(part);
            // One step below the known directory; only a symlink there is
            // resolved (inside `root`) from the top.
            let next = base.join(part);
            let host = match next.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => {
                    resolve_in_root(root, &at).map_err(io_at(root))?
                }
                _ => next,
            };
            match host.symlink_metadata() {
                Ok(m) if m.is_dir() => {}
                Ok(_) => fs::remove_file(&host)
                    .and_then(|()| fs::create_dir(&host))
                    .map_err(io_at(&host))?,
                Err(_) => {
                    fs::create_dir(&host).map_err(io_at(&host))?;
                    fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                        .map_err(io_at(&host))?;
                    std::os::unix::fs::lchown(&host, Some(self.ids.0), Some(self.ids.1))
                        .map_err(io_at(&host))?;
                }
            }
            self.resolved.insert((root.to_owned(), at.clone()), host.clone());
            base = host;
        }
        let dir = match (parts.is_empty(), self.resolved.get(&(root.to_owned(), at.clone()))) {
            (false, Some(host)) => host.clone(),
            _ => resolve_in_root(root, if parent.is_empty() { "/" } else { parent })
                .map_err(io_at(root))?,
        };
        Ok(if name.is_empty() || name == "." { dir } else { dir.join(name) })
    }

    /// Forgets the directories known at or below `path` (in `root`), where
    /// a symlink now stands: later entries through it resolve it afresh.
    fn forget_below(&mut self, root: &Path, path: &str) {
        let at = format!("/{}", path.trim_matches('/'));
        let below = format!("{at}/");
        self.resolved.retain(|(r, p), _| r != root || (*p != at && !p.starts_with(&below)));
    }

    /// The mode an entry gets: `--chmod` applied to its own, or its own.
    fn mode(&self, own: u32, is_dir: bool) -> u32 {
        match &self.chmod {
            Some(chmod) => chmod.apply(own, is_dir),
            None => own,
        }
    }

    fn finish(&mut self, path: &Path, meta: &fs::Metadata, symlink: bool) -> Result<(), CopyError> {
        let (uid, gid) = if self.keep_owners { (meta.uid(), meta.gid()) } else { self.ids };
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_at(path))?;
        if !symlink {
            let mode = self.mode(meta.mode() & 0o7777, meta.is_dir());
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_at(path))?;
        }
        let mtime = filetime::FileTime::from_last_modification_time(meta);
        if meta.is_dir() {
            self.dir_times.push((path.to_owned(), mtime));
        } else {
            filetime::set_symlink_file_times(path, mtime, mtime).map_err(io_at(path))?;
        }
        self.stats.entries += 1;
        Ok(())
    }

    /// Sets the deferred directory mtimes, deepest last-made first.
    fn settle(&mut self) -> Result<(), CopyError> {
        for (path, mtime) in self.dir_times.drain(..).rev() {
            // A later entry (an archive's symlink, say) may have replaced the
            // directory: never set times through a link.
            if path.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                filetime::set_symlink_file_times(&path, mtime, mtime).map_err(io_at(&path))?;
            }
        }
        Ok(())
    }

    /// Unpacks a tar into the directory `dest`: entries may not climb out
    /// (`..`, absolute names are made relative), and every symlink on
    /// their way — made by the archive or already in the image — resolves
    /// inside `dest`, as BuildKit unpacks (`l -> ..` then `l/etc/f` is
    /// `dest/etc/f`); entries keep the archive's owners unless `--chown` was
    /// given; hard links resolve inside `dest` too; pax global headers and
    /// other metadata entries make nothing.
    fn unpack(
        &mut self,
        dest: &str,
        reader: Box<dyn io::Read>,
        chowned: bool,
    ) -> Result<(), CopyError> {
        let dest = dest.trim_end_matches('/');
        let root = self.place(&format!("{dest}/."))?;
        if !root.symlink_metadata().is_ok_and(|m| m.is_dir()) {
            remove_non_dir(&root)?;
            fs::create_dir(&root).map_err(io_at(&root))?;
            std::os::unix::fs::lchown(&root, Some(self.ids.0), Some(self.ids.1))
                .map_err(io_at(&root))?;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).map_err(io_at(&root))?;
        }
        let mut archive = tar::Archive::new(reader);
        let bad = |e: io::Error| CopyError::Io { path: PathBuf::from(dest), source: e };
        for item in archive.entries().map_err(bad)? {
            let mut item = item.map_err(bad)?;
            let raw = String::from_utf8_lossy(&item.path_bytes()).into_owned();
            let rel = rbuild_context::context_path(&raw);
            if rel == "." {
                continue;
            }
            let header = item.header();
            let mode = header.mode().unwrap_or(0o644) & 0o7777;
            let ids = if chowned {
                self.ids
            } else {
                (header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32)
            };
            let mtime = header.mtime().unwrap_or(0) as i64;
            let kind = header.entry_type();
            if !matches!(
                kind,
                tar::EntryType::Directory
                    | tar::EntryType::Regular
                    | tar::EntryType::Continuous
                    | tar::EntryType::Symlink
                    | tar::EntryType::Link
            ) {
                // Devices and fifos are not unpacked by ADD; pax global
                // headers and the like are metadata, nothing of them lands.
                continue;
            }
            let host = self.place_in(&root, &rel)?;
            match kind {
                tar::EntryType::Directory => {
                    if !host.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                        remove_non_dir(&host)?;
                        fs::create_dir(&host).map_err(io_at(&host))?;
                    }
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    remove_non_dir(&host)?;
                    let mut out = fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&host)
                        .map_err(io_at(&host))?;
                    self.stats.bytes += io::copy(&mut item, &mut out).map_err(io_at(&host))?;
                }
                tar::EntryType::Symlink => {
                    let link =
                        item.link_name().map_err(io_at(&host))?.unwrap_or_default().into_owned();
                    remove_non_dir(&host)?;
                    std::os::unix::fs::symlink(&link, &host).map_err(io_at(&host))?;
                    self.forget_below(&root, &rel);
                }
                tar::EntryType::Link => {
                    let link = item.link_name_bytes().unwrap_or_default();
                    let link = String::from_utf8_lossy(&link).into_owned();
                    let source_rel = rbuild_context::context_path(&link);
                    let source = resolve_in_root(&root, &source_rel).map_err(io_at(&root))?;
                    if source.symlink_metadata().is_err() {
                        let climbs = link.starts_with('/') || link_climbs_out(&link);
                        return Err(CopyError::Archive(if climbs {
                            format!("hard link {raw:?} points to {link:?}, outside the archive")
                        } else {
                            format!(
                                "hard link {raw:?} points to {link:?}, which the archive does not \
                                 hold before it"
                            )
                        }));
                    }
                    remove_non_dir(&host)?;
                    fs::hard_link(&source, &host).map_err(io_at(&host))?;
                    self.stats.entries += 1;
                    continue;
                }
                _ => continue,
            }
            std::os::unix::fs::lchown(&host, Some(ids.0), Some(ids.1)).map_err(io_at(&host))?;
            if kind != tar::EntryType::Symlink {
                let mode = self.mode(mode, kind == tar::EntryType::Directory);
                fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                    .map_err(io_at(&host))?;
            }
            let time = filetime::FileTime::from_unix_time(mtime, 0);
            if kind == tar::EntryType::Directory {
                self.dir_times.push((host.clone(), time));
            } else {
                filetime::set_symlink_file_times(&host, time, time).map_err(io_at(&host))?;
            }
            self.stats.entries += 1;
        }
        Ok(())
    }

    /// The destination of a directory's contents: made, when missing, 0755
    /// and owned as `--chown` says (else 0:0), whatever the source
    /// directory's mode and owner and `--chmod` (BuildKit's copy with
    /// create-dest-path; one already there keeps its mode and owner). Made
    /// or not, it takes the source directory's mtime (docker 26.1: `COPY
    /// dir/ /d`, `COPY --from=st /out /d`), except from the context's root,
    /// which BuildKit receives without its times: `COPY . /all/` leaves
    /// `/all` with the time of the build.
    fn top_dir(&mut self, target: &str, source: &Path, keep_time: bool) -> Result<(), CopyError> {
        let meta = fs::metadata(source).map_err(io_at(source))?;
        if target.trim_end_matches('/').is_empty() {
            return Ok(()); // the root itself keeps its attributes
        }
        let host = self.place(target)?;
        match host.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            found => {
                if found.is_ok() {
                    fs::remove_file(&host).map_err(io_at(&host))?;
                }
                fs::create_dir(&host).map_err(io_at(&host))?;
                std::os::unix::fs::lchown(&host, Some(self.ids.0), Some(self.ids.1))
                    .map_err(io_at(&host))?;
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                    .map_err(io_at(&host))?;
                self.stats.entries += 1;
            }
        }
        if keep_time {
            self.dir_times.push((host, filetime::FileTime::from_last_modification_time(&meta)));
        }
        Ok(())
    }

    fn dir(&mut self, target: &str, source: &Path) -> Result<(), CopyError> {
        let meta = fs::metadata(source).map_err(io_at(source))?;
        if target.trim_end_matches('/').is_empty() {
            return Ok(()); // the root itself keeps its attributes
        }
        let host = self.place(target)?;
        match host.symlink_metadata() {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => fs::remove_file(&host).map_err(io_at(&host))?,
            Err(_) => {}
        }
        fs::create_dir(&host).map_err(io_at(&host))?;
        self.finish(&host, &meta, false)
    }

    fn entry(&mut self, target: &str, source: &Path, kind: EntryKind) -> Result<(), CopyError> {
        match kind {
            EntryKind::Dir => self.dir(target, source),
            EntryKind::Symlink => {
                let meta = fs::symlink_metadata(source).map_err(io_at(source))?;
                let link = fs::read_link(source).map_err(io_at(source))?;
                let host = self.place(target)?;
                remove_non_dir(&host)?;
                std::os::unix::fs::symlink(&link, &host).map_err(io_at(&host))?;
                let root = self.dest_root.to_owned();
                self.forget_below(&root, target);
                self.finish(&host, &meta, true)
            }
            EntryKind::File => {
                let mut input = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(source)
                    .map_err(io_at(source))?;
                let meta = input.metadata().map_err(io_at(source))?;
                let host = self.place(target)?;
                remove_non_dir(&host)?;
                let mut output = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&host)
                    .map_err(io_at(&host))?;
                self.stats.bytes += io::copy(&mut input, &mut output).map_err(io_at(&host))?;
                drop(output);
                self.finish(&host, &meta, false)
            }
        }
    }
}

/// A reader of the tar inside `path` when it is one (plain, gzip, bzip2, xz or zstd,
/// told by its first bytes as BuildKit does, not by its name).
fn archive_reader(path: &Path) -> Result<Option<Box<dyn io::Read>>, CopyError> {
    use std::io::{BufRead as _, BufReader, Read as _};
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_at(path))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let head = reader.fill_buf().map_err(io_at(path))?;
    if is_tar_header(head) {
        return Ok(Some(Box::new(reader)));
    }
    let inner = match rbuild_context::decompress(reader).map_err(io_at(path))? {
        (rbuild_context::Compressed::Plain, _) => return Ok(None),
        (_, inner) => inner,
    };
    // A compressed file is an archive only if a tar header is inside.
    let mut probe = inner;
    let mut block = vec![0u8; 512];
    let mut got = 0;
    while got < block.len() {
        match probe.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(_) => return Ok(None),
        }
    }
    if got < 512 || !is_tar_header(&block) {
        return Ok(None);
    }
    Ok(Some(Box::new(io::Cursor::new(block).chain(probe))))
}

/// Whether `block` starts with a tar header Go's archive/tar takes (what
/// BuildKit asks of an archive): a header whose checksum holds, in any of
/// the formats (ustar, GNU, or the old v7 without a magic); a zero block
/// (an empty archive's end) is not.
fn is_tar_header(block: &[u8]) -> bool {
    let Some(header) = block.get(..512) else { return false };
    if header.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &header[148..156];
    let text: String =
        field.iter().map(|b| *b as char).filter(|c| !c.is_whitespace() && *c != '\0').collect();
    let Ok(stored) = u32::from_str_radix(&text, 8) else { return false };
    let sum: u32 = header
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { u32::from(b' ') } else { u32::from(*b) })
        .sum();
    stored == sum
}

/// Whether a relative link target climbs above the archive's root (`..`
/// more often than the names before it go down).
fn link_climbs_out(link: &str) -> bool {
    let mut depth: i64 = 0;
    for part in link.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

fn remove_non_dir(path: &Path) -> Result<(), CopyError> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(io_at(path)),
        Ok(_) => fs::remove_file(path).map_err(io_at(path)),
        Err(_) => Ok(()),
    }
}

/// `--chown` (or WORKDIR's user) to ids through the destination rootfs's
/// passwd and group, as BuildKit reads it ([`crate::user::file_owner`]).
fn resolve_chown(dest_root: &Path, chown: Option<&str>) -> Result<(u32, u32), CopyError> {
    let Some(spec) = chown.filter(|c| !c.is_empty()) else { return Ok((0, 0)) };
    let read = |p: &str| {
        resolve_in_root(dest_root, p)
            .ok()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    Ok(crate::user::file_owner(spec, &read("/etc/passwd"), &read("/etc/group")))
}
