//! The build args every build has without an `ARG` line: BuildKit's
//! platform args, the proxy args and its own `BUILDKIT_*` settings. The
//! frontend gives them values; the linter knows them as defined.

/// The platform args BuildKit defines in every build, in its order
/// (`defaultArgs`), `TARGETSTAGE` last.
pub const PLATFORM_ARGS: [&str; 11] = [
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
];

/// The proxy args, accepted in either case and kept out of cache keys and
/// history (BuildKit's ProxyEnv).
pub const PROXY_ARGS: [&str; 5] =
    ["http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"];

/// Whether `name` is a proxy arg, in any case.
pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// Whether a build accepts `--build-arg name` without an `ARG`: proxies,
/// platform args, `SOURCE_DATE_EPOCH` and BuildKit's own `BUILDKIT_*`.
pub fn is_predefined_arg(name: &str) -> bool {
    is_proxy_arg(name)
        || name.starts_with("BUILDKIT_")
        || name == "SOURCE_DATE_EPOCH"
        || PLATFORM_ARGS.contains(&name)
}

/// Every predefined arg by name (proxies in both cases, the `BUILDKIT_*`
/// settings a Dockerfile reads), for tools that need the list.
pub fn predefined_args() -> Vec<String> {
    let mut names: Vec<String> = PLATFORM_ARGS.iter().map(|s| (*s).to_owned()).collect();
    for p in PROXY_ARGS {
        names.push(p.to_ascii_uppercase());
        names.push(p.to_owned());
    }
    names.extend(
        ["BUILDKIT_SYNTAX", "BUILDKIT_DOCKERFILE_CHECK", "SOURCE_DATE_EPOCH"].map(String::from),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_and_the_test_agree() {
        for name in predefined_args() {
            assert!(is_predefined_arg(&name), "{name}");
        }
        assert!(is_predefined_arg("Http_Proxy") && is_predefined_arg("BUILDKIT_INLINE_CACHE"));
        assert!(!is_predefined_arg("VERSION") && !is_predefined_arg("targetarch"));
    }
}
