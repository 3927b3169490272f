//! What an ADD source names (a git repository, an http(s) download or a
//! context path), told apart once by BuildKit's rules; and credentials in
//! URLs (`https://user:token@host/…`) are cut out of
//! everything a build shows or keeps: history, reports, progress, errors
//! and cache records, as BuildKit's `RedactCredentials` does.

use std::borrow::Cow;

/// What replaces a password, or a user name that may be a token.
const MASK: &str = "xxxxx";

/// `text` with the user info of every `scheme://user:pass@host` in it
/// masked: `user:xxxxx@`, or `xxxxx@` when only a name (often a token) is
/// given. The bare `git@` of git URLs carries no secret and stays.
pub fn redact_credentials(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(i) if &authority[..i] != "git" => {
                let userinfo = &authority[..i];
                if let Some((user, _)) = userinfo.split_once(':') {
                    out.push_str(user);
                    out.push(':');
                }
                out.push_str(MASK);
                out.push_str(&authority[i..]);
                changed = true;
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    if changed { Cow::Owned(out) } else { Cow::Borrowed(text) }
}

/// A git repository as BuildKit's `ParseGitRef` tells it from a local path
/// or a plain download: `git@host:…`, `git://`, `ssh://`, or an http(s) URL
/// whose path (before `?` and `#`) ends in `.git`.
pub fn is_git(source: &str) -> bool {
    if source.starts_with("git@") || source.starts_with("git://") || source.starts_with("ssh://") {
        return true;
    }
    let Some(rest) = source.strip_prefix("https://").or_else(|| source.strip_prefix("http://"))
    else {
        return false;
    };
    let path = rest.split(['#', '?']).next().unwrap_or("");
    path.ends_with(".git") || path.ends_with(".git/")
}

/// An http(s) URL that ADD downloads (one that is not a git repository).
pub fn is_http(source: &str) -> bool {
    (source.starts_with("http://") || source.starts_with("https://")) && !is_git(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_downloads_and_paths_are_told_apart_once() {
        for git in [
            "git@github.com:o/r.git",
            "git://h/r",
            "ssh://git@h/r",
            "https://h/r.git",
            "https://h/r.git#main:sub",
            "https://h/r.git?x=1",
            "http://h/r.git/",
        ] {
            assert!(is_git(git) && !is_http(git), "{git}");
        }
        for http in ["https://h/a.tgz", "http://h/r.gitx", "https://h/a?f=r.git"] {
            assert!(is_http(http) && !is_git(http), "{http}");
        }
        for path in ["src/", "r.git", "./x.git"] {
            assert!(!is_http(path) && !is_git(path), "{path}");
        }
    }

    #[test]
    fn userinfo_is_masked_wherever_it_appears() {
        assert_eq!(
            redact_credentials("ADD https://me:s3cret@example.com/a.tgz /x"),
            "ADD https://me:xxxxx@example.com/a.tgz /x"
        );
        assert_eq!(
            redact_credentials("https://ghp_token@github.com/o/r.git#main"),
            "https://xxxxx@github.com/o/r.git#main"
        );
        assert_eq!(
            redact_credentials("a http://h/p?u=a@b c ssh://git@h/r ssh://me@h/r"),
            "a http://h/p?u=a@b c ssh://git@h/r ssh://xxxxx@h/r"
        );
        assert!(matches!(
            redact_credentials("git@github.com:o/r.git https://h/x"),
            Cow::Borrowed(_)
        ));
    }
}
