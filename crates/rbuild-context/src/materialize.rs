//! A filtered copy of the context on disk: what `RUN --mount=type=bind`
//! from the context shows, which must hide what `.dockerignore` excludes
//! just as COPY does.

use std::fs;
use std::io;
use std::os::unix::fs::{PermissionsExt as _, lchown};
use std::path::Path;

use crate::walk::{EntryKind, Listing};

/// Recreates the listed entries of `context` under `dest` (which must not
/// exist yet): directories with their modes and owners, symlinks as links,
/// files hard-linked where `dest` shares the file system (copied where it
/// does not). Hard links are safe here because callers only ever mount the
/// result read-only or under a throw-away overlay.
pub fn materialize(context: &Path, listing: &Listing, dest: &Path) -> io::Result<()> {
    fs::create_dir_all(dest)?;
    let mut dirs: Vec<_> = listing.dirs.iter().collect();
    dirs.sort_by(|a, b| a.path.cmp(&b.path));
    for dir in &dirs {
        if dir.path.is_empty() || dir.path == "." {
            continue;
        }
        fs::create_dir_all(dest.join(&dir.path))?;
    }
    for entry in &listing.entries {
        let rel = Path::new(&entry.path);
        let target = dest.join(rel);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let source = context.join(rel);
        match entry.kind {
            EntryKind::File => {
                if fs::hard_link(&source, &target).is_err() {
                    fs::copy(&source, &target)?;
                    fs::set_permissions(&target, fs::Permissions::from_mode(entry.meta.mode))?;
                    let _ = lchown(&target, Some(entry.meta.uid), Some(entry.meta.gid));
                }
            }
            EntryKind::Symlink => {
                std::os::unix::fs::symlink(fs::read_link(&source)?, &target)?;
                let _ = lchown(&target, Some(entry.meta.uid), Some(entry.meta.gid));
            }
            EntryKind::Dir => fs::create_dir_all(&target)?,
        }
    }
    // Modes and owners last, deepest first, so a read-only directory does
    // not stop its own contents from being made.
    for dir in dirs.iter().rev() {
        let at = if dir.path.is_empty() || dir.path == "." {
            dest.to_path_buf()
        } else {
            dest.join(&dir.path)
        };
        fs::set_permissions(&at, fs::Permissions::from_mode(dir.meta.mode & 0o7777))?;
        let _ = lchown(&at, Some(dir.meta.uid), Some(dir.meta.gid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IgnoreFile, Selection, scan};

    #[test]
    fn only_what_the_ignore_file_keeps_is_there() {
        let ctx = tempfile::tempdir().unwrap();
        let root = ctx.path();
        fs::create_dir_all(root.join("src/secret")).unwrap();
        fs::write(root.join("src/a.txt"), "a").unwrap();
        fs::write(root.join("src/secret/key"), "k").unwrap();
        fs::write(root.join("src/b.log"), "b").unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("src/link")).unwrap();
        let ignore = IgnoreFile::parse("**/*.log\nsrc/secret\n").unwrap();
        let listing = scan(root, &ignore, &Selection::new(&["src".to_owned()]).unwrap()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("view");
        materialize(root, &listing, &dest).unwrap();
        assert_eq!(fs::read_to_string(dest.join("src/a.txt")).unwrap(), "a");
        assert_eq!(fs::read_link(dest.join("src/link")).unwrap(), Path::new("a.txt"));
        assert!(!dest.join("src/b.log").exists());
        assert!(!dest.join("src/secret").exists());
    }
}
