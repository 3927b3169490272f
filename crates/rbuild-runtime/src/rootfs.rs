//! Paths inside a rootfs, resolved the way the container will see them:
//! symlinks are followed relative to the rootfs, never the host, and `..`
//! stops at its root.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// Resolves `path` (absolute inside the container) under `root` without
/// leaving it: the result is `root` joined with a path that holds no
/// symlink (its last part may not exist yet).
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<PathBuf> {
    let mut parts: Vec<PathBuf> = Vec::new();
    let mut pending: Vec<std::ffi::OsString> =
        Path::new(path).components().rev().filter_map(normal).collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            parts.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&parts);
        candidate.push(&part);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!("{path}: too many levels of symlinks")));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    parts.clear();
                }
                pending.extend(target.components().rev().filter_map(normal));
            }
            _ => parts.push(PathBuf::from(part)),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(parts);
    Ok(out)
}

fn normal(c: Component<'_>) -> Option<std::ffi::OsString> {
    match c {
        Component::Normal(p) => Some(p.to_owned()),
        Component::ParentDir => Some("..".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("run/secrets")).unwrap();
        std::os::unix::fs::symlink("/run", root.join("var-run")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("run/up")).unwrap();
        std::os::unix::fs::symlink("/", root.join("loop")).unwrap();
        std::os::unix::fs::symlink("self", root.join("self")).unwrap();
        let r = |p| resolve_in_root(root, p).unwrap();
        assert_eq!(r("/var-run/secrets/x"), root.join("run/secrets/x"));
        assert_eq!(r("/run/up/passwd"), root.join("etc/passwd"));
        assert_eq!(r("/../../etc/hosts"), root.join("etc/hosts"));
        assert_eq!(r("/loop/loop/etc"), root.join("etc"));
        assert!(resolve_in_root(root, "/self/x").is_err());
    }
}
