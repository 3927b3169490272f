//! The walk over a build context: what `COPY . /dst` would see.

use std::fs;
use std::path::{Path, PathBuf};

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

/// What kind of entry a context path is; directories are implied by paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A symbolic link, kept as a link and never followed.
    Symlink,
}

/// One file or symlink a build can see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context root, `/`-separated.
    pub path: String,
    /// File or symlink.
    pub kind: EntryKind,
    /// Size in bytes (a symlink's is the length of its target).
    pub size: u64,
}

/// The result of a walk: the entries in path order, and the special files
/// (sockets, devices, fifos) left out, which a build cannot copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Files and symlinks, sorted by path.
    pub entries: Vec<Entry>,
    /// Special files that were skipped, sorted by path.
    pub skipped: Vec<String>,
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

/// Lists the files and symlinks of `context` that `ignore` lets through, as
/// BuildKit's context transfer walks it: each directory's match results are
/// passed to its entries, an excluded directory is entered only when an
/// exception could re-include something below it, and symlinks are never
/// followed, so nothing outside the context is reached.
pub fn list(context: &Path, ignore: &IgnoreFile) -> Result<Listing, WalkError> {
    let mut listing = Listing::default();
    walk_dir(context, "", &MatchInfo::default(), ignore, &mut listing)?;
    listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
    listing.skipped.sort();
    Ok(listing)
}

fn walk_dir(
    dir: &Path,
    prefix: &str,
    parent: &MatchInfo,
    ignore: &IgnoreFile,
    out: &mut Listing,
) -> Result<(), WalkError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| WalkError::Io { path, source }
    };
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    names.sort();
    for name in names {
        let full = dir.join(&name);
        let rel = format!("{prefix}{}", name.to_string_lossy());
        let meta = fs::symlink_metadata(&full).map_err(io(&full))?;
        let (excluded, info) = ignore
            .matches_with_parent(&rel, parent)
            .map_err(|source| WalkError::Ignore { path: full.clone(), source })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            if !excluded || ignore.could_match_below(&rel) {
                walk_dir(&full, &format!("{rel}/"), &info, ignore, out)?;
            }
        } else if excluded {
            continue;
        } else if kind.is_file() {
            out.entries.push(Entry { path: rel, kind: EntryKind::File, size: meta.len() });
        } else if kind.is_symlink() {
            out.entries.push(Entry { path: rel, kind: EntryKind::Symlink, size: meta.len() });
        } else {
            out.skipped.push(rel);
        }
    }
    Ok(())
}
