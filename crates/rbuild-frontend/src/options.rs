//! What a build asks for, and how base images are looked up.

use std::collections::BTreeMap;
use std::fmt;

use rbuild_runtime::NetworkMode;

use crate::config::ImageConfig;

/// The inputs of a build besides the Dockerfile (`docker build`'s flags),
/// so that planning is a pure function of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg K=V` (`Some`) and `--build-arg K` (`None`: the value
    /// comes from `host_env`, and the arg is dropped when the host has none).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`: the stage to build; the last one when `None`.
    pub target: Option<String>,
    /// The platform built for, and the build platform (rbuild builds
    /// natively, so they are the same).
    pub platform: Platform,
    /// The environment of the `rbuild` process, for `--build-arg K`.
    pub host_env: BTreeMap<String, String>,
    /// `--label K=V`: set on the target image, over the Dockerfile's labels.
    pub labels: BTreeMap<String, String>,
    /// `--network`: the network of every RUN without a `--network` flag.
    pub network: NetworkMode,
}

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

impl Default for Platform {
    /// Linux on the host's architecture.
    fn default() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        let variant = if arch == "arm" { "v7" } else { "" };
        Self { os: "linux".into(), arch: arch.into(), variant: variant.into() }
    }
}

impl Platform {
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

/// The image store as the frontend sees it: the config of a base image by
/// reference, so FROM can inherit its env, user, workdir and ONBUILD.
pub trait BaseImages {
    /// The `config` of the image named `reference` (normalized, see
    /// [`normalize_reference`](crate::normalize_reference)); `None` when
    /// the store does not have it.
    fn config(&self, reference: &str) -> Option<ImageConfig>;

    /// Why `config` found nothing, when the source knows better than "not
    /// in the store" (an unreadable `oci-layout://` directory, a missing tag).
    fn why_missing(&self, reference: &str) -> Option<String> {
        let _ = reference;
        None
    }
}
