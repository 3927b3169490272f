//! Image references normalized as Docker does (`alpine` →
//! `docker.io/library/alpine:latest`), so the store is asked one spelling.

/// Normalizes an image reference the way `docker build` does before it
/// looks an image up: the default registry `docker.io`, the `library/`
/// namespace for one-word names, and the tag `latest` when neither tag nor
/// digest is given. `oci-layout://` references are returned unchanged.
pub fn normalize_reference(reference: &str) -> Result<String, String> {
    if reference.starts_with("oci-layout://") {
        return Ok(reference.to_owned());
    }
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if name.is_empty() {
        return Err(format!("invalid reference format: {reference:?}"));
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
    let path =
        if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "invalid reference format: repository name ({path}) must be lowercase"
        ));
    }
    if !path.split('/').all(valid_component) || !valid_domain(domain) {
        return Err(format!("invalid reference format: {reference:?}"));
    }
    let mut out = format!("{domain}/{path}");
    if let Some(tag) = tag {
        if !valid_tag(tag) {
            return Err(format!("invalid reference format: {reference:?}"));
        }
        out.push(':');
        out.push_str(tag);
    }
    match digest {
        Some(digest) => {
            let ok = digest.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && alg.chars().all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
            });
            if !ok {
                return Err(format!("invalid reference format: {reference:?}"));
            }
            out.push('@');
            out.push_str(digest);
        }
        None if tag.is_none() => out.push_str(":latest"),
        None => {}
    }
    Ok(out)
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
    use super::normalize_reference as n;

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
        assert!(n("Alpine").unwrap_err().contains("must be lowercase"));
        assert!(n("a b").is_err());
        assert!(n("alpine:").is_err());
        assert!(n("alpine@sha256:xyz").is_err());
        assert!(n("-a").is_err());
    }
}
