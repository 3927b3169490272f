//! Paths inside a rootfs, resolved the way the container will see them:
//! symlinks are followed relative to the rootfs, never the host, and `..`
//! stops at its root.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
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

/// What a path names in a stack of overlay lower directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InLayers {
    /// A directory: the real directory in each lower that merges into it, top first.
    Dir(Vec<PathBuf>),
    /// Anything else (a file, fifo, device): the top-most entry, which hides the rest.
    Other(PathBuf),
}

/// Resolves `path` in the merged view of `lowers` (top first) the way the
/// overlay would show it, without following any symlink on the host:
/// links are read from the layer that shows them and followed inside the
/// stack, whiteouts hide what lies below, an opaque directory ends the
/// merge. `None` when the path does not exist in the merged view.
pub fn resolve_in_layers(lowers: &[PathBuf], path: &str) -> io::Result<Option<InLayers>> {
    // stack[i]: the directories merging into the i-th directory of the walk.
    let mut stack: Vec<Vec<PathBuf>> = vec![lowers.to_vec()];
    let mut pending: Vec<std::ffi::OsString> =
        Path::new(path).components().rev().filter_map(normal).collect();
    let mut file: Option<PathBuf> = None;
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if file.is_some() {
            return Ok(None); // a path through a non-directory
        }
        if part == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let dirs = stack.last().map(Vec::as_slice).unwrap_or_default();
        let mut merged = Vec::new();
        let mut link = None;
        for dir in dirs {
            let candidate = dir.join(&part);
            let meta = match fs::symlink_metadata(&candidate) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let kind = meta.file_type();
            let whiteout = kind.is_char_device() && meta.rdev() == 0;
            if !kind.is_dir() || whiteout {
                if merged.is_empty() && !whiteout {
                    if kind.is_symlink() {
                        link = Some(fs::read_link(&candidate)?);
                    } else {
                        file = Some(candidate);
                    }
                }
                break;
            }
            let opaque = xattr::get(&candidate, OPAQUE).ok().flatten().as_deref() == Some(b"y");
            merged.push(candidate);
            if opaque {
                break;
            }
        }
        if let Some(target) = link {
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::other(format!("{path}: too many levels of symlinks")));
            }
            if target.is_absolute() {
                stack.truncate(1);
            }
            pending.extend(target.components().rev().filter_map(normal));
        } else if !merged.is_empty() {
            stack.push(merged);
        } else if file.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(match file {
        Some(file) => InLayers::Other(file),
        None => InLayers::Dir(stack.pop().unwrap_or_default()),
    }))
}

/// The xattr overlayfs marks a directory with that hides what lies below it.
const OPAQUE: &str = "trusted.overlay.opaque";

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

    #[test]
    fn layers_merge_like_the_overlay_and_never_leave_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        let (top, mid, low) =
            (dir.path().join("top"), dir.path().join("mid"), dir.path().join("low"));
        for l in [&top, &mid, &low] {
            fs::create_dir_all(l).unwrap();
        }
        // low: data/a, links pointing out, gone/; mid: data/, gone whited out, hidden/ opaque
        fs::create_dir_all(low.join("data")).unwrap();
        fs::write(low.join("data/a"), "a").unwrap();
        std::os::unix::fs::symlink("/usr/share", low.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../..", low.join("up")).unwrap();
        fs::create_dir_all(low.join("gone/sub")).unwrap();
        fs::create_dir_all(low.join("hidden")).unwrap();
        fs::create_dir_all(mid.join("data")).unwrap();
        nix::sys::stat::mknod(
            &mid.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .ok();
        fs::create_dir_all(mid.join("hidden")).unwrap();
        let opaque = xattr::set(mid.join("hidden"), OPAQUE, b"y").is_ok();
        // top: link -> data (relative), abs -> /data, file
        std::os::unix::fs::symlink("data", top.join("link")).unwrap();
        std::os::unix::fs::symlink("/../../data", top.join("abs")).unwrap();
        fs::write(top.join("file"), "f").unwrap();
        let lowers = vec![top.clone(), mid.clone(), low.clone()];
        let r = |p| resolve_in_layers(&lowers, p).unwrap();
        let data = InLayers::Dir(vec![mid.join("data"), low.join("data")]);
        assert_eq!(r("/data"), Some(data.clone()));
        assert_eq!(r("/link"), Some(data.clone()));
        assert_eq!(r("abs/"), Some(data));
        assert_eq!(r("/link/a"), Some(InLayers::Other(low.join("data/a"))));
        assert_eq!(r("/file"), Some(InLayers::Other(top.join("file"))));
        assert_eq!(r("/file/x"), None);
        assert_eq!(r("/nothing"), None);
        assert_eq!(r("/"), Some(InLayers::Dir(lowers.clone())));
        // Links never reach the host: they resolve inside the stack.
        assert_eq!(r("/escape/doc"), None);
        assert_eq!(r("/up/up/link/a"), Some(InLayers::Other(low.join("data/a"))));
        if nix::unistd::Uid::effective().is_root() {
            assert_eq!(r("/gone/sub"), None);
        }
        if opaque {
            assert_eq!(r("/hidden"), Some(InLayers::Dir(vec![mid.join("hidden")])));
        }
    }
}
