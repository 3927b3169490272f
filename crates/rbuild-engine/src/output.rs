//! `--output`: where a built image goes besides the store.

use std::path::PathBuf;

use rbuild_image::Blobs;
use rbuild_image::oci_spec::image::Descriptor;

use crate::error::{BuildError, io};

/// `--output type=oci|docker|local|tar,dest=PATH` or
/// `type=image|registry,name=REF[,push=true]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// An OCI layout directory, or an OCI archive when `dest` ends in `.tar`.
    Oci(PathBuf),
    /// A `docker save` archive, for `docker load`.
    Docker(PathBuf),
    /// The image's file system, flattened into a directory.
    Local(PathBuf),
    /// The image's file system, flattened into a tar file.
    Tar(PathBuf),
    /// More names in the store (the `-t` names when there are none), each
    /// pushed to its registry after the build when `push`; `type=registry`
    /// is this with `push`.
    Image {
        /// The names (`name=a,b` in quotes, as buildx takes several).
        names: Vec<String>,
        /// Whether the caller pushes them.
        push: bool,
    },
}

const USAGE: &str =
    "expected type=oci|docker|local|tar,dest=PATH or type=image|registry,name=REF[,push=true]";

impl Output {
    /// Reads the value as `docker buildx build --output` takes it: CSV
    /// fields, so `"name=a,b"` in quotes gives two names.
    pub fn parse(text: &str) -> Result<Output, String> {
        let mut kind = None;
        let mut dest = None;
        let mut names = Vec::new();
        let mut push = None;
        let fields = rbuild_llb::csv_fields(text).map_err(|e| format!("--output {text:?}: {e}"))?;
        for field in &fields {
            match field.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_owned()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                Some(("name", v)) => names.extend(
                    v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned),
                ),
                Some(("push", v)) => {
                    push = Some(match v {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("--output {text:?}: push must be true or false")),
                    })
                }
                _ => return Err(format!("--output {text:?}: {USAGE}")),
            }
        }
        match kind.as_deref() {
            Some(k @ ("image" | "registry")) => {
                if dest.is_some() {
                    return Err(format!("--output {text:?}: type={k} takes name=, not dest="));
                }
                let push = push.unwrap_or(k == "registry");
                if k == "registry" && !push {
                    return Err(format!("--output {text:?}: type=registry always pushes"));
                }
                return Ok(Output::Image { names, push });
            }
            _ if !names.is_empty() || push.is_some() => {
                return Err(format!("--output {text:?}: name= and push= go with type=image"));
            }
            _ => {}
        }
        let dest = dest.ok_or_else(|| format!("--output {text:?}: dest=PATH is required"))?;
        Ok(match kind.as_deref() {
            Some("oci") => Output::Oci(dest),
            Some("docker") => Output::Docker(dest),
            Some("local") => Output::Local(dest),
            Some("tar") => Output::Tar(dest),
            _ => {
                return Err(format!(
                    "--output {text:?}: type must be oci, docker, local, tar, image or registry"
                ));
            }
        })
    }

    /// Writes the image `manifest` here; `tags` name it in archives.
    pub(crate) fn write(
        &self,
        blobs: &Blobs,
        manifest: &Descriptor,
        tags: &[String],
    ) -> Result<(), BuildError> {
        let tag = tags.first().map(String::as_str).unwrap_or("latest");
        let ref_name = tag.rsplit_once(':').map_or("latest", |(_, t)| t);
        match self {
            // Named with the -t names when the image was stored.
            Output::Image { .. } => {}
            Output::Oci(dest) if dest.extension().is_some_and(|e| e == "tar") => {
                rbuild_image::export_oci_archive(blobs, manifest, dest, ref_name)?
            }
            Output::Oci(dest) => rbuild_image::export_oci_layout(blobs, manifest, dest, ref_name)?,
            Output::Docker(dest) => {
                rbuild_image::export_docker_archive(blobs, manifest, tags, dest)?
            }
            // The layers merged in tar form: owners, xattrs and hard links
            // as the image has them, nothing unpacked.
            Output::Tar(dest) => {
                let layers = rbuild_image::read_layers(blobs, manifest.digest())?;
                rbuild_image::flatten_to_file(blobs, &layers, dest)?;
            }
            Output::Local(dest) => {
                let layers = rbuild_image::read_layers(blobs, manifest.digest())?;
                std::fs::create_dir_all(dest).map_err(io(format!("{}", dest.display())))?;
                for layer in &layers {
                    rbuild_image::apply_flat(rbuild_image::open_layer(blobs, layer)?, dest)
                        .map_err(rbuild_image::Error::from)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_and_registry_outputs_parse_as_buildx_takes_them() {
        let image = |names: &[&str], push| Output::Image {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            push,
        };
        assert_eq!(
            Output::parse("type=image,name=reg.example/app:1,push=true"),
            Ok(image(&["reg.example/app:1"], true))
        );
        assert_eq!(Output::parse("type=image"), Ok(image(&[], false)));
        assert_eq!(
            Output::parse(r#"type=registry,"name=a:1,b:2""#),
            Ok(image(&["a:1", "b:2"], true))
        );
        assert_eq!(Output::parse("type=oci,dest=o.tar"), Ok(Output::Oci("o.tar".into())));
        for bad in [
            "type=registry,push=false",
            "type=oci,dest=o,name=x",
            "type=image,dest=x",
            "type=image,push=yes",
            "type=image,compression=zstd",
            "type=oci",
        ] {
            assert!(Output::parse(bad).is_err(), "{bad}");
        }
        assert!(Output::parse("type=image,push=maybe").unwrap_err().contains("push must be"));
    }
}
