//! Image names as Docker reads them, so `busybox`, `busybox:latest` and
//! `docker.io/library/busybox:latest` are one image in the store.

use crate::error::{Error, Result};

const DEFAULT_DOMAIN: &str = "docker.io";

/// The full form of an image reference: `[domain/]path[:tag][@digest]`
/// becomes `domain/path:tag` (or `domain/path@digest`), with Docker's
/// defaults: domain `docker.io`, `library/` before a one-part path on
/// docker.io, tag `latest` when neither tag nor digest is given. A first
/// part with a `.` or `:`, or `localhost`, is a domain. So `busybox` →
/// `docker.io/library/busybox:latest`, `busybox:local` →
/// `docker.io/library/busybox:local`, `localhost:5000/x` →
/// `localhost:5000/x:latest`. Store names go through this and so must
/// lookups.
pub fn normalize_name(name: &str) -> Result<String> {
    let bad = |why| Error::Name { name: name.to_owned(), why };
    let (rest, digest) = match name.split_once('@') {
        Some((rest, digest)) => {
            if digest.parse::<oci_spec::image::Digest>().is_err() {
                return Err(bad("the digest after @ is not algorithm:hex"));
            }
            (rest, Some(digest))
        }
        None => (name, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    let (domain, path) = match repo.split_once('/') {
        Some((first, path))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_owned(), path.to_owned())
        }
        _ => (DEFAULT_DOMAIN.to_owned(), repo.to_owned()),
    };
    let domain = if domain == "index.docker.io" { DEFAULT_DOMAIN.to_owned() } else { domain };
    if path.is_empty() {
        return Err(bad("no repository name"));
    }
    for part in path.split('/') {
        let ok = !part.is_empty()
            && part
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c))
            && part.bytes().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && part.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(bad(
                "repository parts are lowercase letters, digits and . _ - between them",
            ));
        }
    }
    if domain.is_empty()
        || !domain.bytes().all(|c| c.is_ascii_alphanumeric() || b".-:[]".contains(&c))
    {
        return Err(bad("the domain has characters a host name cannot have"));
    }
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.bytes().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
            && !tag.starts_with(['.', '-']);
        if !ok {
            return Err(bad(
                "a tag is up to 128 letters, digits, _ . - and starts with neither . nor -",
            ));
        }
    }
    Ok(match (tag, digest) {
        (_, Some(digest)) => match tag {
            Some(tag) => format!("{domain}/{path}:{tag}@{digest}"),
            None => format!("{domain}/{path}@{digest}"),
        },
        (Some(tag), None) => format!("{domain}/{path}:{tag}"),
        (None, None) => format!("{domain}/{path}:latest"),
    })
}

/// The short form users type and Docker prints: `docker.io/library/` and
/// `docker.io/` dropped (`docker.io/library/busybox:local` → `busybox:local`,
/// `docker.io/user/app:1` → `user/app:1`).
pub fn familiar_name(normalized: &str) -> &str {
    let Some(rest) = normalized.strip_prefix("docker.io/") else { return normalized };
    match rest.strip_prefix("library/") {
        Some(short) if !short.split(['@', ':']).next().unwrap_or_default().contains('/') => short,
        _ => rest,
    }
}
