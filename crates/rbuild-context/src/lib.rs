/*!
Build-context handling for rbuild: what a build sees of its context
directory, how fast it knows what changed, and how it travels.

* [`scan`] walks the context on several threads, applying the
  `.dockerignore` ([`load_ignore`]) and a [`Selection`] of the COPY/ADD
  sources, so only what a build reads is visited.
* [`hash`] takes a blake3 digest of every selected entry in parallel; a
  [`StatCache`] kept between builds spares reading unchanged files.
* [`write_stream`] / [`read_stream`] carry the entries as a zstd tar that
  leaves out contents the receiver already has.

The rest of this page is about the matcher.

[`IgnoreFile::parse`] reads an ignore file the way Docker and BuildKit do
(moby's `ignorefile.ReadAll` followed by `patternmatcher.New`), and the
matching methods reproduce `patternmatcher` exactly, quirks included:

* [`IgnoreFile::matches`] is `MatchesOrParentMatches`: a pattern applies to a
  path when it matches the path or any of its parent directories, and the
  last applicable pattern wins.
* [`IgnoreFile::matches_with_parent`] is `MatchesUsingParentResults`, what a
  context walk uses: a directory's per-pattern results ([`MatchInfo`]) are
  handed to its children. It can disagree with `matches` (see the method).
* [`IgnoreFile::could_match_below`] tells a walk whether an excluded
  directory must still be entered because an exception may re-include
  something inside it.

Globs become regular expressions as patternmatcher builds them (`*` is
`[^/]*`, `?` is `[^/]`, `**` spans directories, `\x` is copied as a regexp
escape, `[...]` is copied as is). Those expressions are written for Go's
RE2 engine; the [`regex`] crate implements the same RE2 semantics (linear
time, no backreferences, same class and assertion meanings), which is why
it is used here. The few spellings in which the two dialects differ (Rust
nests classes, has `\<`, lacks `\Q…\E`, makes `\b` and `\d` Unicode-aware)
are translated so that every pattern keeps Go's meaning.

# Example

```
use rbuild_context::{IgnoreFile, MatchInfo};

let ignore = IgnoreFile::parse("# build output\ntarget\n*.md\n!README.md\n").unwrap();
assert!(ignore.matches("target/debug/app").unwrap());
assert!(ignore.matches("CHANGES.md").unwrap());
assert!(!ignore.matches("README.md").unwrap());
// `*` never crosses a `/`: `*.md` only names files at the root.
assert!(!ignore.matches("docs/guide.md").unwrap());

// During a walk, each directory's results are passed down to its entries.
let (excluded, info) = ignore.matches_with_parent("target", &MatchInfo::default()).unwrap();
assert!(excluded && !ignore.could_match_below("target"));
let (excluded, _) = ignore.matches_with_parent("target/debug", &info).unwrap();
assert!(excluded);
```
*/
#![deny(missing_docs)]

mod clean;
mod error;
mod glob;
mod goregex;
mod hash;
mod materialize;
mod select;
mod stream;
mod unpack;
mod walk;

use std::fmt;
use std::str::FromStr;

pub use error::{Error, Result};
pub use glob::path_match;
pub use hash::{BadDigest, ContextHashes, Digest, HashStats, Hashed, StatCache, hash};
pub use materialize::materialize;
pub use select::{Selection, context_path, follow_links};
pub use stream::{StreamError, StreamStats, read_stream, read_stream_into, read_tar, write_stream};
pub use unpack::{Compressed, ParentError, decompress, prepare_parents, relative_entry_path};
pub use walk::{
    Entry, EntryKind, Listing, Meta, SkipReason, Skipped, WalkError, list, load_ignore, scan,
};

/// One compiled line of an ignore file, kept so callers can explain a match.
#[derive(Clone, Debug)]
pub struct Pattern {
    line: usize,
    source: String,
    glob: String,
    exception: bool,
    matcher: Result<glob::Matcher, String>,
}

impl Pattern {
    /// 1-based line of the ignore file, for diagnostics.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The cleaned glob without its `!`, as it is matched against paths.
    pub fn glob(&self) -> &str {
        &self.glob
    }

    /// Whether this is a `!` exception that re-includes what it matches.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    fn is_match(&self, path: &str) -> Result<bool> {
        match &self.matcher {
            Ok(matcher) => Ok(matcher.is_match(&self.glob, path)),
            Err(reason) => Err(Error::InvalidPattern {
                line: self.line,
                pattern: error::shown(&self.source),
                reason: reason.clone(),
            }),
        }
    }

    /// The glob without a trailing `/**` or `/*`, as fsutil's descent check uses it.
    fn without_trailing_glob(&self) -> &str {
        let glob = self.glob.strip_suffix("/**").unwrap_or(&self.glob);
        glob.strip_suffix("/*").unwrap_or(glob)
    }
}

impl fmt::Display for Pattern {
    /// Writes the pattern back in ignore-file form, `!` included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exception {
            f.write_str("!")?;
        }
        f.write_str(&self.glob)
    }
}

/// The longest `.dockerignore` pattern taken: twice PATH_MAX.
const MAX_PATTERN: usize = 8192;

/// A parsed `.dockerignore`: the patterns in file order, ready to match paths.
#[derive(Clone, Debug, Default)]
pub struct IgnoreFile {
    patterns: Vec<Pattern>,
    has_exceptions: bool,
    only_literal_exceptions: bool,
}

/// Walk state: per-pattern results of a directory, passed to its children
/// (patternmatcher's `MatchesUsingParentResults`); the default is the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// Lines of `text` as Go's `bufio.ScanLines` yields them.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = text.is_empty();
    body.split('\n').filter(move |_| !empty).map(|line| line.strip_suffix('\r').unwrap_or(line))
}

impl IgnoreFile {
    /// Reads ignore-file text (BOM, `#` comments, trimming, `!`, path
    /// cleaning, leading `/`) and checks each glob, as Docker does.
    pub fn parse(text: &str) -> Result<IgnoreFile> {
        let mut patterns = Vec::new();
        for (index, raw) in lines(text).enumerate() {
            let line = index + 1;
            let raw = if index == 0 { raw.strip_prefix('\u{feff}').unwrap_or(raw) } else { raw };
            if raw.starts_with('#') {
                continue;
            }
            let source = raw.trim();
            if source.is_empty() {
                continue;
            }
            // Paths are at most PATH_MAX (4096) bytes: a pattern twice that
            // long is refused when read, naming its line, rather than
            // costing time and memory at every match and failing there.
            if source.len() > MAX_PATTERN {
                return Err(Error::InvalidPattern {
                    line,
                    pattern: error::shown(source),
                    reason: format!(
                        "it is {} bytes long; patterns are limited to {MAX_PATTERN} bytes \
                         (twice the longest path)",
                        source.len()
                    ),
                });
            }
            // ignorefile.ReadAll's normalisation.
            let (exception, body) = match source.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, source),
            };
            let mut body = if body.is_empty() { String::new() } else { clean::clean(body) };
            if body.len() > 1 && body.starts_with('/') {
                body.remove(0);
            }
            let entry = if exception { format!("!{body}") } else { body };
            // patternmatcher.New's own normalisation of that entry.
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let entry = clean::clean(entry);
            let (exception, glob) = match entry.strip_prefix('!') {
                Some("") => return Err(Error::LoneExclamation { line }),
                Some(rest) => (true, rest.to_owned()),
                None => (false, entry),
            };
            glob::validate(&glob).map_err(|reason| Error::InvalidPattern {
                line,
                pattern: error::shown(source),
                reason: reason.to_owned(),
            })?;
            let matcher = glob::compile(&glob);
            patterns.push(Pattern { line, source: source.to_owned(), glob, exception, matcher });
        }
        let exceptions = || patterns.iter().filter(|p| p.exception);
        let has_exceptions = exceptions().next().is_some();
        let only_literal_exceptions = exceptions()
            .all(|p| !p.without_trailing_glob().contains(['*', '[', ']', '?', '^', '\\']));
        Ok(IgnoreFile { patterns, has_exceptions, only_literal_exceptions })
    }

    /// The patterns in file order, to explain or display what is ignored.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether `path` (relative, slash-separated) is excluded when checked on
    /// its own (`MatchesOrParentMatches`); errors if a used pattern is bad.
    pub fn matches(&self, path: &str) -> Result<bool> {
        let parent = clean::dir(path);
        let ancestors: Vec<&str> = if parent == "." {
            Vec::new()
        } else {
            parent
                .match_indices('/')
                .map(|(i, _)| &parent[..i])
                .chain(std::iter::once(parent.as_str()))
                .collect()
        };
        let mut excluded = false;
        for pattern in &self.patterns {
            if pattern.exception != excluded {
                continue;
            }
            let hit = pattern.is_match(path)?
                || ancestors.iter().any(|dir| pattern.is_match(dir).unwrap_or(false));
            if hit {
                excluded = !pattern.exception;
            }
        }
        Ok(excluded)
    }

    /// Whether `path` is excluded when reached by a walk whose parent
    /// directory produced `parent` (`MatchesUsingParentResults`), plus the
    /// results to hand to `path`'s own children.
    ///
    /// A pattern that matched a parent counts as matched for the child
    /// without being tried again; a non-exception pattern skipped for the
    /// parent (because it was already excluded) counts as not matched. So
    /// `**`, `!**/*.rs`, `target` keeps `target/x.rs` in a walk although
    /// [`matches`](Self::matches) excludes it.
    pub fn matches_with_parent(&self, path: &str, parent: &MatchInfo) -> Result<(bool, MatchInfo)> {
        let inherited = &parent.parent_matched;
        if !inherited.is_empty() && inherited.len() != self.patterns.len() {
            return Err(Error::MatchInfoMismatch {
                expected: self.patterns.len(),
                got: inherited.len(),
            });
        }
        let mut excluded = false;
        let mut results = vec![false; self.patterns.len()];
        for (index, pattern) in self.patterns.iter().enumerate() {
            let mut hit = inherited.get(index).copied().unwrap_or(false);
            if !hit {
                if pattern.exception != excluded {
                    continue;
                }
                hit = pattern.is_match(path)?;
                if !hit && inherited.is_empty() {
                    // No walk state (a root entry, or a caller starting
                    // mid-tree): check the ancestors like `matches` does.
                    let dir = clean::dir(path);
                    if dir != "." {
                        hit = dir
                            .match_indices('/')
                            .map(|(i, _)| &dir[..i])
                            .chain(std::iter::once(dir.as_str()))
                            .any(|d| pattern.is_match(d).unwrap_or(false));
                    }
                }
            }
            results[index] = hit;
            if hit {
                excluded = !pattern.exception;
            }
        }
        Ok((excluded, MatchInfo { parent_matched: results }))
    }

    /// Whether an exception could re-include something below the excluded
    /// directory `dir`, so a walk must still descend into it (fsutil's check).
    pub fn could_match_below(&self, dir: &str) -> bool {
        if !self.has_exceptions {
            return false;
        }
        if !self.only_literal_exceptions {
            return true;
        }
        let dir_slash = format!("{dir}/");
        self.patterns
            .iter()
            .filter(|p| p.exception)
            .any(|p| format!("{}/", p.without_trailing_glob()).starts_with(&dir_slash))
    }
}

impl FromStr for IgnoreFile {
    type Err = Error;

    /// Same as [`IgnoreFile::parse`].
    fn from_str(text: &str) -> Result<Self> {
        IgnoreFile::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> IgnoreFile {
        IgnoreFile::parse(text).unwrap()
    }

    #[test]
    fn escaped_letter_is_a_regexp_escape() {
        // `a\b` is `a` then a word boundary, not the letters a, b.
        let file = ignore(r"a\b");
        assert!(file.matches("a").unwrap());
        assert!(!file.matches("ab").unwrap());
    }

    #[test]
    fn bang_class_does_not_negate() {
        let file = ignore("[!a]");
        assert!(file.matches("!").unwrap());
        assert!(file.matches("a").unwrap());
        assert!(!file.matches("b").unwrap());
    }

    #[test]
    fn bad_regexp_fails_only_when_used() {
        let file = ignore("[Local-Only]/");
        let err = file.matches("x").unwrap_err();
        assert!(matches!(err, Error::InvalidPattern { line: 1, .. }), "{err}");
        // An exception is never tried while nothing is excluded.
        let file = ignore("!a[z-a]");
        assert!(!file.matches("x").unwrap());
    }

    #[test]
    fn error_messages_name_line_and_pattern() {
        let err = IgnoreFile::parse("# c\nok\n[\n").unwrap_err();
        assert_eq!(err.to_string(), "line 3: invalid pattern \"[\": unclosed character class");
        let err = IgnoreFile::parse("foo\n  !  \n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: illegal exclusion pattern \"!\"");
        assert!(IgnoreFile::parse("!/").is_err());
    }

    #[test]
    fn reading_rules() {
        let file = ignore("\u{feff}/a//b/\r\n#c\n  ! ./d/../e  \n\n");
        let shown: Vec<String> = file.patterns().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["a/b", "!e"]);
        assert_eq!(file.patterns()[1].line(), 3);
        assert!(file.patterns()[1].is_exception());
    }

    #[test]
    fn walk_diverges_from_per_file() {
        let file = ignore("**\n!**/*.rs\n!Cargo.*\ntarget\n");
        assert!(file.matches("target/x.rs").unwrap());
        let (dir_excluded, info) =
            file.matches_with_parent("target", &MatchInfo::default()).unwrap();
        assert!(dir_excluded);
        let (excluded, _) = file.matches_with_parent("target/x.rs", &info).unwrap();
        assert!(!excluded);
    }

    #[test]
    fn a_pattern_no_path_can_match_is_refused_when_read_and_shown_short() {
        let long = "a*".repeat(50_000);
        let err = IgnoreFile::parse(&format!("ok\n{long}\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("line 2: invalid pattern"), "{text}");
        assert!(text.contains("100000 bytes") && text.len() < 400, "{text}");
        assert!(IgnoreFile::parse(&"x".repeat(MAX_PATTERN)).is_ok());
    }

    #[test]
    fn descent_check() {
        let file = ignore("foo\n!foo/bar/**\n");
        assert!(file.could_match_below("foo"));
        assert!(file.could_match_below("foo/bar"));
        assert!(!file.could_match_below("foobar"));
        assert!(!file.could_match_below("baz"));
        assert!(!ignore("foo\n").could_match_below("foo"));
        assert!(ignore("foo\n!*.md\n").could_match_below("foo"));
    }

    #[test]
    fn parents_come_from_go_dir() {
        // Go's filepath.Dir cleans, so the parent of `./d/x` is `d`, not `./d`.
        assert!(!ignore(".**d").matches("./d/x").unwrap());
        assert!(ignore("d").matches("./d/x").unwrap());
    }

    #[test]
    fn go_regexp_escapes_are_checked() {
        // Go rejects `\b` inside a class, but only once the pattern is tried.
        let file = ignore("*[\\b]");
        assert!(file.matches("c").is_err());
        assert!(ignore("[\\d]").matches("7").unwrap());
    }

    #[test]
    fn foreign_match_info_is_rejected() {
        let (_, info) = ignore("a\nb\n").matches_with_parent("x", &MatchInfo::default()).unwrap();
        assert!(ignore("a\n").matches_with_parent("x/y", &info).is_err());
    }
}
