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

/// The images a build of `df` with `opts` would look up in a store or a
/// registry (normalized references, FROM and `--from`), found by planning
/// it against a store that has every image with an empty config. A client
/// that sends the build elsewhere learns from it whose logins to lend.
pub fn images_named(
    df: &rbuild_syntax::Dockerfile,
    opts: &BuildOptions,
) -> Result<std::collections::BTreeSet<String>, crate::FrontendError> {
    struct Asked(std::sync::Mutex<std::collections::BTreeSet<String>>);
    impl BaseImages for Asked {
        fn config(&self, reference: &str) -> Option<ContainerConfig> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(reference.to_owned());
            Some(ContainerConfig::default())
        }
    }
    let asked = Asked(Default::default());
    crate::plan(df, "", opts, &asked)?;
    Ok(asked.0.into_inner().unwrap_or_else(|p| p.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_named_are_the_needed_stages_bases_and_copy_sources_expanded() {
        let source = "ARG REG=reg.example:5000\n\
                      FROM ${REG}/team/base:1 AS base\n\
                      FROM busybox AS unused\n\
                      FROM base AS app\n\
                      COPY --from=other/tool:2 /t /t\n\
                      FROM scratch AS last\n\
                      COPY --from=1 /x /x\n";
        let df = rbuild_syntax::parse(source).unwrap();
        let mut opts = BuildOptions { target: Some("app".into()), ..BuildOptions::default() };
        opts.build_args.insert("REG".into(), Some("mirror.example".into()));
        let named: Vec<String> = images_named(&df, &opts).unwrap().into_iter().collect();
        assert_eq!(named, ["docker.io/other/tool:2", "mirror.example/team/base:1"]);
    }
}
