//! Image references as Docker reads them (`alpine` →
//! `docker.io/library/alpine:latest`): one parser, so FROM looks up, `-t`
//! stores and `load` names an image with the same spelling.

use std::fmt;

/// An image reference that did not parse, with Docker's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceError {
    /// What is wrong, naming the input.
    pub why: String,
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid reference format: {}", self.why)
    }
}

impl std::error::Error for ReferenceError {}

/// A parsed image reference, `domain/path[:tag][@digest]`, with Docker's
/// defaults applied: the domain `docker.io` (for `index.docker.io` too),
/// `library/` before a one-part path on docker.io, the tag `latest` when
/// neither tag nor digest is given. Its `Display` is the normalized form
/// the store keys images by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry host and port (`docker.io`, `localhost:5000`).
    pub domain: String,
    /// Repository path (`library/alpine`).
    pub path: String,
    /// Tag, if any (`latest` is filled in when there is no digest either).
    pub tag: Option<String>,
    /// `algorithm:hex` digest, if any.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `text` as `docker build` does before it looks an image up.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        let bad = || ReferenceError { why: format!("{text:?}") };
        let (name, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if name.is_empty() {
            return Err(bad());
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first, rest.to_owned())
            }
            _ => ("docker.io", name.to_owned()),
        };
        let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
        let path = if domain == "docker.io" && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError {
                why: format!("repository name ({path}) must be lowercase"),
            });
        }
        if !path.split('/').all(valid_component) || !valid_domain(domain) {
            return Err(bad());
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad());
        }
        if let Some(digest) = digest {
            let ok = digest.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && alg.chars().all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
            });
            if !ok {
                return Err(bad());
            }
        }
        let tag = match (tag, digest) {
            (Some(t), _) => Some(t.to_owned()),
            (None, None) => Some("latest".to_owned()),
            (None, Some(_)) => None,
        };
        Ok(Reference { domain: domain.to_owned(), path, tag, digest: digest.map(str::to_owned) })
    }

    /// `domain/path`, the repository without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short form users type and Docker prints: `docker.io/library/`
    /// and `docker.io/` dropped (`busybox:local`, `user/app:1`).
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        familiar_name(&full).to_owned()
    }
}

impl fmt::Display for Reference {
    /// The normalized form: `docker.io/library/alpine:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(text)
    }
}

/// The normalized spelling of `reference` ([`Reference::parse`], then
/// shown); `oci-layout://` references are returned unchanged, as they name
/// a directory, not a registry.
pub fn normalize_reference(reference: &str) -> Result<String, ReferenceError> {
    if reference.starts_with("oci-layout://") {
        return Ok(reference.to_owned());
    }
    Reference::parse(reference).map(|r| r.to_string())
}

/// The familiar form of an already normalized name (see
/// [`Reference::familiar`]).
pub fn familiar_name(normalized: &str) -> &str {
    let Some(rest) = normalized.strip_prefix("docker.io/") else { return normalized };
    match rest.strip_prefix("library/") {
        Some(short) if !short.split(['@', ':']).next().unwrap_or_default().contains('/') => short,
        _ => rest,
    }
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn valid_domain(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, port)) if !h.starts_with('[') || h.ends_with(']') => {
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return false;
            }
            h
        }
        _ => domain,
    };
    !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c))
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.chars().next().is_some_and(word)
        && tag.chars().all(|c| word(c) || c == '.' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::{familiar_name, normalize_reference as n};

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(n("alpine").unwrap(), "docker.io/library/alpine:latest");
        assert_eq!(n("alpine:3.20").unwrap(), "docker.io/library/alpine:3.20");
        assert_eq!(n("user/app").unwrap(), "docker.io/user/app:latest");
        assert_eq!(n("index.docker.io/library/busybox:1").unwrap(), "docker.io/library/busybox:1");
    }

    #[test]
    fn registries_ports_and_digests() {
        assert_eq!(n("localhost:5000/app").unwrap(), "localhost:5000/app:latest");
        assert_eq!(n("ghcr.io/o/r:v1").unwrap(), "ghcr.io/o/r:v1");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(n(&format!("alpine@{d}")).unwrap(), format!("docker.io/library/alpine@{d}"));
        assert_eq!(n(&format!("alpine:3@{d}")).unwrap(), format!("docker.io/library/alpine:3@{d}"));
    }

    #[test]
    fn invalid_names_are_errors() {
        assert!(n("Alpine").unwrap_err().to_string().contains("must be lowercase"));
        assert!(n("a b").is_err());
        assert!(n("alpine:").is_err());
        assert!(n("alpine@sha256:xyz").is_err());
        assert!(n("-a").is_err());
    }

    #[test]
    fn names_normalize_as_docker_reads_them() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:local", "docker.io/library/busybox:local"),
            ("docker.io/library/alpine:3.20", "docker.io/library/alpine:3.20"),
            ("index.docker.io/library/alpine", "docker.io/library/alpine:latest"),
            ("localhost/app:1", "localhost/app:1"),
            ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
            ("ghcr.io/o/r:v1.2", "ghcr.io/o/r:v1.2"),
        ];
        for (input, want) in cases {
            assert_eq!(n(input).unwrap(), want, "{input}");
        }
        for bad in ["", "Busybox", "busy box", "x:", "x:-tag", "a//b", "x@sha256:zz", "-x"] {
            assert!(n(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(n("oci-layout://dir:tag").unwrap(), "oci-layout://dir:tag");
    }

    #[test]
    fn familiar_names_drop_the_defaults() {
        assert_eq!(familiar_name("docker.io/library/busybox:local"), "busybox:local");
        assert_eq!(familiar_name("docker.io/user/app:latest"), "user/app:latest");
        assert_eq!(familiar_name("ghcr.io/o/r:v1"), "ghcr.io/o/r:v1");
        assert_eq!(familiar_name("docker.io/library/a/b:1"), "library/a/b:1");
        for typed in ["busybox", "busybox:local", "alpine:3.20", "user/app:1"] {
            let full = n(typed).unwrap();
            assert_eq!(n(familiar_name(&full)).unwrap(), full, "{typed}");
        }
        let r = super::Reference::parse("user/app:1").unwrap();
        assert_eq!(
            (r.repository().as_str(), r.familiar().as_str()),
            ("docker.io/user/app", "user/app:1")
        );
    }
}
