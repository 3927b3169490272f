//! Platforms as OCI spells them (`linux/amd64`, `linux/arm/v7`), for the
//! platform ARGs, `FROM --platform` and the image config.

use std::fmt;

/// An OS/architecture pair as OCI spells it, for the platform args
/// (`TARGETPLATFORM`…) and `FROM --platform`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`…
    pub arch: String,
    /// `v7` for `arm/v7`; empty when none.
    pub variant: String,
}

/// Go's (and so OCI's) name of a Rust target architecture.
pub fn go_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

impl Default for Platform {
    /// Linux on the host's architecture.
    fn default() -> Self {
        Platform::host()
    }
}

impl Platform {
    /// Linux on the architecture this binary runs on: what a RUN step can
    /// execute without emulation.
    pub fn host() -> Platform {
        let arch = go_arch(std::env::consts::ARCH);
        let variant = if arch == "arm" { "v7" } else { "" };
        Platform { os: "linux".into(), arch: arch.into(), variant: variant.into() }
    }

    /// Reads `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?.to_ascii_lowercase();
        let arch = parts.next().filter(|s| !s.is_empty())?.to_ascii_lowercase();
        let variant = parts.next().unwrap_or("").to_ascii_lowercase();
        if parts.next().is_some() {
            return None;
        }
        let (arch, variant) = match (arch.as_str(), variant.as_str()) {
            ("x86_64" | "x86-64", _) => ("amd64".to_owned(), variant),
            ("aarch64" | "arm64", "v8") => ("arm64".to_owned(), String::new()),
            ("aarch64", _) => ("arm64".to_owned(), variant),
            _ => (arch, variant),
        };
        Some(Platform { os, arch, variant })
    }
}

/// Checks a `--platform` value (buildx's comma-separated list): each must
/// be this machine's, as steps run without emulation here.
pub fn check_build_platforms(text: &str) -> Result<(), String> {
    let host = Platform::host();
    for one in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = Platform::parse(one)
            .ok_or_else(|| format!("invalid platform {one:?}: expected os/arch[/variant]"))?;
        // (`linux/amd64` and `linux/amd64/v1`… are one machine's.)
        if parsed.os != host.os || parsed.arch != host.arch {
            return Err(format!(
                "platform {one} cannot be built here: only this machine's {host} (steps run \
                 without emulation)"
            ));
        }
    }
    Ok(())
}

impl fmt::Display for Platform {
    /// `os/arch[/variant]`, as BuildKit formats `TARGETPLATFORM`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machines_platform_is_built() {
        let host = Platform::host().to_string();
        assert_eq!(check_build_platforms(&host), Ok(()));
        assert_eq!(check_build_platforms(&format!("{host},{host}")), Ok(()));
        let other = if host == "linux/arm64" { "linux/amd64" } else { "linux/arm64" };
        assert!(check_build_platforms(other).unwrap_err().contains("only this machine's"));
        assert!(check_build_platforms(&format!("{host},{other}")).is_err());
        assert!(check_build_platforms("amd64").unwrap_err().contains("invalid platform"));
    }

    #[test]
    fn parse_normalizes_as_containerd() {
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/arm64/v8").unwrap().to_string(), "linux/arm64");
        assert_eq!(Platform::parse("Linux/ARM/v7").unwrap().to_string(), "linux/arm/v7");
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("linux/a/b/c").is_none());
        assert_eq!(Platform::host().os, "linux");
    }
}
