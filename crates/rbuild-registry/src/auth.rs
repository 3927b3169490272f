//! Registry authentication: the `WWW-Authenticate` challenge (Basic or
//! Bearer), and tokens from the realm the challenge names, by GET with
//! Basic credentials or by the OAuth2 POST for identity tokens, cached per
//! host and scope set until they expire.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What a registry's 401 asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// `Basic realm="…"`: send the credentials on every request.
    Basic,
    /// `Bearer realm="…",service="…"`: get a token from `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter, if any.
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value (RFC 7235: scheme, then
/// comma-separated `key="value"` or `key=token` parameters).
pub(crate) fn parse_challenge(header: &str) -> Option<(Challenge, BTreeMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some((Challenge::Basic, params)),
        "bearer" => {
            let realm = params.get("realm")?.clone();
            let service = params.get("service").cloned();
            Some((Challenge::Bearer { realm, service }, params))
        }
        _ => None,
    }
}

fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    out
}

/// The access a request needs, as token scopes
/// (`repository:<name>:pull,push`), sorted so equal sets are equal keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Pull access to `repository`.
    pub fn pull(repository: &str) -> Scopes {
        Scopes(vec![format!("repository:{repository}:pull")])
    }

    /// Pull and push access to `repository`.
    pub fn push(repository: &str) -> Scopes {
        Scopes(vec![format!("repository:{repository}:pull,push")])
    }

    /// These scopes and pull access to `repository` too (the source of a
    /// cross-repository mount).
    pub fn and_pull(mut self, repository: &str) -> Scopes {
        let scope = format!("repository:{repository}:pull");
        if !self.0.iter().any(|s| s.starts_with(&format!("repository:{repository}:"))) {
            self.0.push(scope);
            self.0.sort();
        }
        self
    }

    /// The scope strings.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// One text for cache keys.
    pub(crate) fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: String,
    pub(crate) expires: Instant,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// Reads a token endpoint's JSON answer (`token` or `access_token`,
    /// `expires_in` seconds, default 60); a token is dropped 10 s before
    /// it expires so none dies in flight.
    pub(crate) fn from_response(body: &[u8], now: Instant) -> Option<(Token, Option<String>)> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let token = value
            .get("token")
            .or_else(|| value.get("access_token"))
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())?
            .to_owned();
        let lifetime =
            value.get("expires_in").and_then(serde_json::Value::as_u64).unwrap_or(60).max(10);
        let refresh =
            value.get("refresh_token").and_then(serde_json::Value::as_str).map(str::to_owned);
        let expires = now + Duration::from_secs(lifetime.saturating_sub(10).max(1));
        Some((Token { value: token, expires }, refresh))
    }

    pub(crate) fn fresh(&self, now: Instant) -> bool {
        now < self.expires
    }
}

/// Adds `key=value` to a URL's query, percent-encoding the value.
pub(crate) fn push_query(url: &mut String, key: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(key);
    url.push('=');
    url.push_str(&form_encode(value));
}

/// `application/x-www-form-urlencoded` escaping of one value.
pub(crate) fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_quoted_and_escaped_parameters() {
        let (c, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            }
        );
        assert_eq!(params["scope"], "repository:samalba/my-app:pull,push");
        assert_eq!(params["error"], "insufficient_scope");
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#).unwrap().0, Challenge::Basic);
        assert_eq!(
            parse_challenge(r#"Bearer realm=x, service="a\"b""#).unwrap().1["service"],
            "a\"b"
        );
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge("Bearer service=x").is_none());
    }

    #[test]
    fn scopes_sort_and_a_mount_source_is_added_once() {
        let s = Scopes::push("team/app").and_pull("base/img").and_pull("team/app");
        assert_eq!(s.key(), "repository:base/img:pull repository:team/app:pull,push");
    }

    #[test]
    fn token_response_shapes_and_expiry() {
        let now = Instant::now();
        let (t, _) = Token::from_response(br#"{"token":"abc","expires_in":300}"#, now).unwrap();
        assert_eq!(t.value, "abc");
        assert!(t.fresh(now + Duration::from_secs(289)));
        assert!(!t.fresh(now + Duration::from_secs(291)));
        let (t, refresh) =
            Token::from_response(br#"{"access_token":"x","refresh_token":"r"}"#, now).unwrap();
        assert_eq!((t.value.as_str(), refresh.as_deref()), ("x", Some("r")));
        assert!(Token::from_response(b"<html>", now).is_none());
        assert!(format!("{t:?}").contains("***") && !format!("{t:?}").contains('x'));
    }

    #[test]
    fn form_encoding() {
        let mut url = "https://a/token".to_owned();
        push_query(&mut url, "scope", "repository:a/b:pull,push");
        push_query(&mut url, "service", "r s");
        assert_eq!(url, "https://a/token?scope=repository%3Aa%2Fb%3Apull%2Cpush&service=r%20s");
    }
}
