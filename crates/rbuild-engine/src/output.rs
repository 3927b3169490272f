//! `--output`: where a built image goes besides the store.

use std::path::PathBuf;

use rbuild_cache::Store;
use rbuild_image::Blobs;
use rbuild_image::oci_spec::image::Descriptor;

use crate::error::{BuildError, io};

/// `--output type=oci|docker|local|tar,dest=PATH`.
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
}

impl Output {
    /// Reads `type=…,dest=…` as `docker build --output` takes it.
    pub fn parse(text: &str) -> Result<Output, String> {
        let mut kind = None;
        let mut dest = None;
        for field in text.split(',') {
            match field.split_once('=') {
                Some(("type", v)) => kind = Some(v.to_owned()),
                Some(("dest", v)) => dest = Some(PathBuf::from(v)),
                _ => {
                    return Err(format!(
                        "--output {text:?}: expected type=oci|docker|local|tar,dest=PATH"
                    ));
                }
            }
        }
        let dest = dest.ok_or_else(|| format!("--output {text:?}: dest=PATH is required"))?;
        Ok(match kind.as_deref() {
            Some("oci") => Output::Oci(dest),
            Some("docker") => Output::Docker(dest),
            Some("local") => Output::Local(dest),
            Some("tar") => Output::Tar(dest),
            _ => return Err(format!("--output {text:?}: type must be oci, docker, local or tar")),
        })
    }

    /// Writes the image `manifest` here; `tags` name it in archives.
    pub(crate) fn write(
        &self,
        store: &Store,
        blobs: &Blobs,
        manifest: &Descriptor,
        tags: &[String],
    ) -> Result<(), BuildError> {
        let tag = tags.first().map(String::as_str).unwrap_or("latest");
        let ref_name = tag.rsplit_once(':').map_or("latest", |(_, t)| t);
        match self {
            Output::Oci(dest) if dest.extension().is_some_and(|e| e == "tar") => {
                rbuild_image::export_oci_archive(blobs, manifest, dest, ref_name)?
            }
            Output::Oci(dest) => rbuild_image::export_oci_layout(blobs, manifest, dest, ref_name)?,
            Output::Docker(dest) => {
                rbuild_image::export_docker_archive(blobs, manifest, tags, dest)?
            }
            Output::Local(dest) | Output::Tar(dest) => {
                let layers = rbuild_image::read_layers(blobs, manifest.digest())?;
                let root = if matches!(self, Output::Local(_)) {
                    dest.clone()
                } else {
                    store.tmp_dir().join(format!("rootfs-{}", std::process::id()))
                };
                std::fs::create_dir_all(&root).map_err(io(format!("{}", root.display())))?;
                for layer in &layers {
                    rbuild_image::apply_flat(rbuild_image::open_layer(blobs, layer)?, &root)
                        .map_err(rbuild_image::Error::from)?;
                }
                if let Output::Tar(file) = self {
                    rbuild_image::tar_dir(&root, file)?;
                    std::fs::remove_dir_all(&root).map_err(io(format!("{}", root.display())))?;
                }
            }
        }
        Ok(())
    }
}
