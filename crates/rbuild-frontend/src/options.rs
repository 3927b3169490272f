//! What a build asks for, and how base images are looked up.

use std::collections::BTreeMap;

use rbuild_llb::{ContainerConfig, NetworkMode, Platform};

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

/// The image store as the frontend sees it: the config of a base image by
/// reference, so FROM can inherit its env, user, workdir and ONBUILD.
pub trait BaseImages {
    /// The `config` of the image named `reference` (normalized, see
    /// [`normalize_reference`](rbuild_llb::normalize_reference)); `None` when
    /// the store does not have it.
    fn config(&self, reference: &str) -> Option<ContainerConfig>;

    /// Why `config` found nothing, when the source knows better than "not
    /// in the store" (an unreadable `oci-layout://` directory, a missing tag).
    fn why_missing(&self, reference: &str) -> Option<String> {
        let _ = reference;
        None
    }
}
