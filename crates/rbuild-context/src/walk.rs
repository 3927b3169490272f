//! The walk over a build context: what `COPY . /dst` would see.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ignore::{WalkBuilder, WalkState};

use crate::select::Selection;
use crate::{Error, IgnoreFile, MatchInfo};

/// Why a context could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A file or directory of the context could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The ignore file is invalid.
    #[error("{}: {source}", path.display())]
    Ignore {
        /// The ignore file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: Error,
    },
}

/// What kind of entry a context path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link, kept as a link and never followed.
    Symlink,
    /// A directory; listed apart, since empty ones and their modes are copied too.
    Dir,
}

impl EntryKind {
    /// A stable name for the kind, as cache keys record it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Symlink => "symlink",
            EntryKind::Dir => "dir",
        }
    }
}

/// The stat fields a build cares about: the ones in a layer (mode, owner)
/// and the ones the stat cache uses to know a file is unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// `st_mode`: permission bits and file type.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device of the file system holding the file.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the epoch (moves on chmod,
    /// chown and every write, and cannot be set back by a tool).
    pub ctime_ns: i64,
}

impl Meta {
    /// Reads the fields from a `symlink_metadata` result.
    pub fn from_metadata(meta: &fs::Metadata) -> Meta {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Meta {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// One file, symlink or directory a build can see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated.
    pub path: String,
    /// File, symlink or directory.
    pub kind: EntryKind,
    /// Size in bytes (a symlink's is the length of its target).
    pub size: u64,
    /// Mode, owner and the stat-cache fields.
    pub meta: Meta,
}

/// Why a path of the context was left out of a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A socket, device or fifo: a build cannot copy it.
    Special,
    /// The name is not UTF-8, which image paths must be.
    NotUtf8,
}

/// A path left out of a listing, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Relative to the context root (lossily decoded if not UTF-8).
    pub path: String,
    /// Why it was left out.
    pub reason: SkipReason,
}

impl std::fmt::Display for Skipped {
    /// `PATH: why`, for a note to the user.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.reason {
            SkipReason::Special => "not a regular file, directory or symlink",
            SkipReason::NotUtf8 => "its name is not UTF-8",
        };
        write!(f, "{}: {why}", self.path)
    }
}

/// The result of a walk, each list sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Files and symlinks: what `COPY . /dst` copies.
    pub entries: Vec<Entry>,
    /// Directories that are not excluded themselves.
    pub dirs: Vec<Entry>,
    /// Paths left out, with the reason.
    pub skipped: Vec<Skipped>,
}

/// The ignore file that applies to a build: `<Dockerfile>.dockerignore`
/// beside the Dockerfile wins over `<context>/.dockerignore`; none at all
/// ignores nothing.
pub fn load_ignore(context: &Path, dockerfile: Option<&Path>) -> Result<IgnoreFile, WalkError> {
    let beside = dockerfile.and_then(|d| {
        let name = d.file_name()?.to_string_lossy().into_owned();
        Some(d.with_file_name(format!("{name}.dockerignore")))
    });
    let candidates = beside.into_iter().chain([context.join(".dockerignore")]);
    for path in candidates {
        match fs::read(&path) {
            Ok(bytes) => {
                return IgnoreFile::parse(&String::from_utf8_lossy(&bytes))
                    .map_err(|source| WalkError::Ignore { path, source });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(WalkError::Io { path, source }),
        }
    }
    Ok(IgnoreFile::default())
}

/// Lists everything of `context` that `ignore` lets through; see [`scan`].
pub fn list(context: &Path, ignore: &IgnoreFile) -> Result<Listing, WalkError> {
    scan(context, ignore, &Selection::all())
}

/// Lists the files, symlinks and directories of `context` that `ignore` lets
/// through and `selection` asks for, as BuildKit's context transfer walks
/// it: each directory's match results are passed to its entries, an
/// excluded directory is entered only when an exception could re-include
/// something below it, a directory no selected path can be under is not
/// entered at all, and symlinks are never followed, so nothing outside the
/// context is reached. The walk runs on several threads.
pub fn scan(
    context: &Path,
    ignore: &IgnoreFile,
    selection: &Selection,
) -> Result<Listing, WalkError> {
    let root = context.to_path_buf();
    let state = Shared::default();
    // The walk visits a directory before its children: the children find
    // the directory's match results in this map.
    let infos: Mutex<HashMap<String, Arc<MatchInfo>>> = Mutex::default();
    let root_info = Arc::new(MatchInfo::default());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    WalkBuilder::new(&root)
        .standard_filters(false)
        .hidden(false)
        .parents(false)
        .ignore(false)
        .git_ignore(false)
        .git_global(false)
        .git_exclude(false)
        .follow_links(false)
        .threads(threads)
        .build_parallel()
        .run(|| {
            let root = &root;
            let state = &state;
            let infos = &infos;
            let root_info = &root_info;
            Box::new(move |result| {
                let entry = match result {
                    Ok(entry) => entry,
                    Err(err) => {
                        let path = match &err {
                            ignore::Error::WithPath { path, .. } => path.clone(),
                            _ => root.clone(),
                        };
                        let source = err
                            .into_io_error()
                            .unwrap_or_else(|| std::io::Error::other("walk failed"));
                        state.fail(WalkError::Io { path, source });
                        return WalkState::Quit;
                    }
                };
                if entry.depth() == 0 {
                    return WalkState::Continue;
                }
                match visit(root, &entry, ignore, selection, infos, root_info, state) {
                    Ok(true) => WalkState::Continue,
                    Ok(false) => WalkState::Skip,
                    Err(err) => {
                        state.fail(err);
                        WalkState::Quit
                    }
                }
            })
        });
    let Shared { listing, error } = state;
    if let Some(err) = error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(err);
    }
    let mut listing = listing.into_inner().unwrap_or_else(|p| p.into_inner());
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
    listing.dirs.sort_by(|a, b| a.path.cmp(&b.path));
    listing.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(listing)
}

#[derive(Default)]
struct Shared {
    listing: Mutex<Listing>,
    error: Mutex<Option<WalkError>>,
}

impl Shared {
    fn fail(&self, err: WalkError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(err);
    }

    fn push(&self, f: impl FnOnce(&mut Listing)) {
        f(&mut self.listing.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// Handles one walk entry; `Ok(true)` to descend (directories only).
fn visit(
    root: &Path,
    entry: &ignore::DirEntry,
    ignore: &IgnoreFile,
    selection: &Selection,
    infos: &Mutex<HashMap<String, Arc<MatchInfo>>>,
    root_info: &Arc<MatchInfo>,
    state: &Shared,
) -> Result<bool, WalkError> {
    let full = entry.path();
    let io = |source| WalkError::Io { path: full.to_owned(), source };
    let relative = full.strip_prefix(root).unwrap_or(full);
    let Some(rel) = relative.to_str().map(str::to_owned) else {
        let path = relative.to_string_lossy().into_owned();
        state.push(|l| l.skipped.push(Skipped { path, reason: SkipReason::NotUtf8 }));
        return Ok(false);
    };
    let parent = match rel.rfind('/') {
        Some(i) => {
            let map = infos.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&rel[..i]).cloned().unwrap_or_else(|| root_info.clone())
        }
        None => root_info.clone(),
    };
    let (excluded, info) = ignore
        .matches_with_parent(&rel, &parent)
        .map_err(|source| WalkError::Ignore { path: full.to_owned(), source })?;
    let meta = fs::symlink_metadata(full).map_err(io)?;
    let kind = meta.file_type();
    if kind.is_dir() {
        let descend = (!excluded || ignore.could_match_below(&rel))
            && (selection.selects(&rel) || selection.could_select_below(&rel));
        if descend {
            infos.lock().unwrap_or_else(|p| p.into_inner()).insert(rel.clone(), Arc::new(info));
        }
        if !excluded && selection.selects(&rel) {
            let dir = Entry {
                path: rel,
                kind: EntryKind::Dir,
                size: 0,
                meta: Meta::from_metadata(&meta),
            };
            state.push(|l| l.dirs.push(dir));
        }
        return Ok(descend);
    }
    if excluded || !selection.selects(&rel) {
        return Ok(false);
    }
    let entry_kind = if kind.is_file() {
        EntryKind::File
    } else if kind.is_symlink() {
        EntryKind::Symlink
    } else {
        state.push(|l| l.skipped.push(Skipped { path: rel, reason: SkipReason::Special }));
        return Ok(false);
    };
    let entry =
        Entry { path: rel, kind: entry_kind, size: meta.len(), meta: Meta::from_metadata(&meta) };
    state.push(|l| l.entries.push(entry));
    Ok(false)
}
