//! Errors from reading a `.dockerignore` file and matching paths against it.

/// Result alias whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pattern as an error shows it: at most 80 characters, then how long it
/// was, so a huge pattern does not make a huge message.
pub(crate) fn shown(pattern: &str) -> String {
    let mut end = pattern.len().min(80);
    while !pattern.is_char_boundary(end) {
        end -= 1;
    }
    if end == pattern.len() {
        pattern.to_owned()
    } else {
        format!("{}… ({} bytes)", &pattern[..end], pattern.len())
    }
}

/// Why an ignore file was rejected or a path could not be matched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A pattern is not valid glob syntax, or its regexp form does not compile.
    #[error("line {line}: invalid pattern {pattern:?}: {reason}")]
    InvalidPattern {
        /// 1-based line of the ignore file holding the pattern.
        line: usize,
        /// The pattern as written on that line (trimmed).
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A line that is only `!` (or cleans down to it) names nothing to re-include.
    #[error("line {line}: illegal exclusion pattern \"!\"")]
    LoneExclamation {
        /// 1-based line of the ignore file.
        line: usize,
    },
    /// A [`MatchInfo`](crate::MatchInfo) from another ignore file was passed in.
    #[error("match info holds {got} results but the ignore file has {expected} patterns")]
    MatchInfoMismatch {
        /// Number of patterns in the ignore file.
        expected: usize,
        /// Number of per-pattern results in the match info.
        got: usize,
    },
}
