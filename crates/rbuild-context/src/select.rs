//! Which paths of a context a build reads: the COPY/ADD sources, after
//! BuildKit's `FollowPaths`, so a build hashes and sends only those.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use crate::{Error, Result, clean, glob};

/// The set of context paths some COPY or ADD sources name; a source names
/// its path and, if that is a directory, everything below it.
#[derive(Clone, Debug)]
pub struct Selection {
    /// `None` selects the whole context (`COPY . /dst`).
    sources: Option<Vec<Source>>,
}

#[derive(Clone, Debug)]
struct Source {
    glob: String,
    matcher: glob::Matcher,
    /// `/`-separated parts, each compiled on its own for the descent check.
    parts: Vec<(String, glob::Matcher)>,
}

/// A COPY source as a path relative to the context root: cleaned as if
/// rooted at the context, so `..` stops at the root and no source can
/// name anything outside it (`../etc/passwd` is the context's
/// `etc/passwd`, as in BuildKit). `.` is the whole context.
pub fn context_path(source: &str) -> String {
    let rooted = clean::clean(&format!("/{source}"));
    match rooted.trim_start_matches('/') {
        "" => ".".to_owned(),
        rest => rest.to_owned(),
    }
}

/// The sources plus every symlink they pass through and that link's
/// target, resolved inside `root` (BuildKit's `fsutil.FollowLinks`), so a
/// walk selects what a copy through those links will read: `COPY lib/x /`
/// with `lib -> usr/lib` selects `lib` and `usr/lib/x`. Links are read with
/// lstat only; absolute targets are taken from `root`, and `..` stops there.
pub fn follow_links<S: AsRef<str>>(root: &Path, sources: &[S]) -> io::Result<Vec<String>> {
    let mut resolved = BTreeSet::new();
    for source in sources {
        let path = context_path(source.as_ref());
        if path == "." {
            return Ok(vec![".".to_owned()]);
        }
        follow(root, &path, &mut resolved, 0)?;
    }
    if resolved.contains(".") {
        return Ok(vec![".".to_owned()]);
    }
    Ok(resolved.into_iter().collect())
}

/// Links followed through one source before giving up (a loop of links
/// ends sooner, at the first path already resolved).
const MAX_FOLLOW: usize = 255;

fn follow(
    root: &Path,
    path: &str,
    resolved: &mut BTreeSet<String>,
    depth: usize,
) -> io::Result<()> {
    if depth > MAX_FOLLOW {
        return Err(io::Error::other(format!("{path}: too many levels of symlinks")));
    }
    let mut current = String::new();
    let mut rest = path;
    loop {
        let (part, tail) = rest.split_once('/').unwrap_or((rest, ""));
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
        rest = tail;
        let targets = link_targets(root, &current, true)?;
        if (rest.is_empty() || !targets.is_empty()) && resolved.contains(&current) {
            return Ok(());
        }
        if !targets.is_empty() {
            resolved.insert(current.clone());
            for target in targets {
                let next = context_path(&format!("{target}/{rest}"));
                if next == "." {
                    resolved.insert(next);
                } else {
                    follow(root, &next, resolved, depth + 1)?;
                }
            }
            return Ok(());
        }
        if rest.is_empty() {
            resolved.insert(current);
            return Ok(());
        }
    }
}

/// Where the symlink(s) at `path` point, as paths rooted at the context;
/// empty when `path` is no link. A wildcard in the last part reads every
/// match.
fn link_targets(root: &Path, path: &str, wildcards: bool) -> io::Result<Vec<String>> {
    let (dir, base) = path.rsplit_once('/').unwrap_or(("", path));
    if wildcards && base.contains(['*', '?', '[', '\\']) {
        let Ok(matcher) = glob::compile(base) else { return Ok(Vec::new()) };
        let entries = match std::fs::read_dir(root.join(dir)) {
            Ok(entries) => entries,
            Err(e)
                if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            if matcher.is_match(base, name) {
                let at = if dir.is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
                out.extend(link_targets(root, &at, false)?);
            }
        }
        return Ok(out);
    }
    let full = root.join(path);
    match std::fs::symlink_metadata(&full) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let link = std::fs::read_link(&full)?;
            let link = link.to_string_lossy();
            Ok(vec![if link.starts_with('/') {
                link.into_owned()
            } else {
                format!("/{dir}/{link}")
            }])
        }
        Ok(_) => Ok(Vec::new()),
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

impl Selection {
    /// Everything in the context.
    pub fn all() -> Selection {
        Selection { sources: None }
    }

    /// The paths named by `sources` (COPY/ADD sources, wildcards allowed),
    /// each cleaned with [`context_path`]; a source of `.` selects all.
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Result<Selection> {
        let mut compiled = Vec::new();
        for (index, raw) in sources.iter().enumerate() {
            let path = context_path(raw.as_ref());
            if path == "." {
                return Ok(Selection::all());
            }
            let bad = |reason: String| Error::InvalidPattern {
                line: index + 1,
                pattern: raw.as_ref().to_owned(),
                reason,
            };
            glob::validate(&path).map_err(|r| bad(r.to_owned()))?;
            let matcher = glob::compile(&path).map_err(bad)?;
            let parts = path
                .split('/')
                .map(|part| Ok((part.to_owned(), glob::compile(part).map_err(bad)?)))
                .collect::<Result<_>>()?;
            compiled.push(Source { glob: path, matcher, parts });
        }
        Ok(Selection { sources: Some(compiled) })
    }

    /// Whether every path is selected.
    pub fn is_all(&self) -> bool {
        self.sources.is_none()
    }

    /// Whether `path` or one of its parent directories is named by a source.
    pub fn selects(&self, path: &str) -> bool {
        let Some(sources) = &self.sources else { return true };
        let mut prefix = path;
        loop {
            if sources.iter().any(|s| s.matcher.is_match(&s.glob, prefix)) {
                return true;
            }
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => return false,
            }
        }
    }

    /// Whether a source could name something strictly below the directory
    /// `dir`, so a walk must enter it.
    pub fn could_select_below(&self, dir: &str) -> bool {
        let Some(sources) = &self.sources else { return true };
        sources.iter().any(|source| {
            let mut parts = source.parts.iter();
            for name in dir.split('/') {
                match parts.next() {
                    // The source ends above `dir`: `selects` decides.
                    None => return false,
                    Some((glob, _)) if glob.contains("**") => return true,
                    Some((glob, matcher)) if !matcher.is_match(glob, name) => return false,
                    Some(_) => {}
                }
            }
            parts.next().is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_never_leave_the_context() {
        assert_eq!(context_path("../../etc/passwd"), "etc/passwd");
        assert_eq!(context_path("/src/../.."), ".");
        assert_eq!(context_path("./a//b/"), "a/b");
        assert_eq!(context_path(".."), ".");
        assert_eq!(context_path(""), ".");
    }

    #[test]
    fn selection_follows_sources() {
        let sel = Selection::new(&["src/", "../conf/*.toml", "docs/**/README.md"]).unwrap();
        assert!(sel.selects("src") && sel.selects("src/a/b.rs"));
        assert!(!sel.selects("srcx/a") && !sel.selects("other"));
        assert!(sel.selects("conf/app.toml") && !sel.selects("conf/app.yaml"));
        assert!(sel.could_select_below("conf") && !sel.could_select_below("conf/x"));
        assert!(sel.could_select_below("docs") && sel.could_select_below("docs/a/b"));
        assert!(sel.selects("docs/a/b/README.md") && !sel.selects("docs/a/b/x.md"));
        assert!(!sel.could_select_below("node_modules"));
        assert!(!sel.could_select_below("src"), "below src is selected through `selects`");
        assert!(Selection::new(&["a", "./"]).unwrap().is_all());
        assert!(Selection::new(&["[z-a]"]).is_err());
    }

    #[test]
    fn links_on_the_way_select_their_targets_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::create_dir_all(root.join("conf")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.join("lib")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("conf/abs")).unwrap();
        std::os::unix::fs::symlink("../../../../x", root.join("conf/up.toml")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        std::os::unix::fs::symlink("..", root.join("conf/parent")).unwrap();
        let f = |sources: &[&str]| follow_links(root, sources).unwrap();
        assert_eq!(f(&["lib/x.so"]), ["lib", "usr/lib/x.so"]);
        assert_eq!(f(&["/lib/"]), ["lib", "usr/lib"]);
        assert_eq!(f(&["conf/abs/passwd"]), ["conf/abs", "etc/passwd"]);
        assert_eq!(f(&["conf/*.toml"]), ["conf/*.toml", "x"]);
        assert_eq!(f(&["src/a", "../src/b"]), ["src/a", "src/b"]);
        assert_eq!(f(&["loop/a"]), ["loop"]);
        assert_eq!(f(&["conf/parent"]), ["."]);
    }
}
