//! Credentials in URLs (`https://user:token@host/…`) are cut out of
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

#[cfg(test)]
mod tests {
    use super::*;

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
