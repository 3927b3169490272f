//! Which paths of a context a build reads: the COPY/ADD sources, after
//! BuildKit's `FollowPaths`, so a build hashes and sends only those.

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
}
