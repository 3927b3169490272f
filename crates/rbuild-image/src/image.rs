//! Images in the store: config and manifest written as canonical JSON (so
//! equal inputs give equal digests) and read back by manifest digest.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use oci_spec::image::{Descriptor, Digest, ImageManifest, ImageManifestBuilder, MediaType};
use serde::Serialize;
use serde_json::Value;

use crate::blobs::Blobs;
use crate::compress::Layer;
use crate::config::{ImageConfig, parse_rfc3339, rfc3339};
use crate::error::{Error, Result, invalid};

/// What makes an image: its config, its layers bottom first, and the
/// manifest's annotations. History lives in `config.history`.
#[derive(Clone, Debug, Default)]
pub struct ImageSpec {
    /// The config; [`write_image`] fills `rootfs` from `layers`.
    pub config: ImageConfig,
    /// The layers, bottom first (the base image's, then the build's).
    pub layers: Vec<Layer>,
    /// `SOURCE_DATE_EPOCH`: `created` of the image and of every history
    /// entry is clamped to it.
    pub source_date_epoch: Option<u64>,
    /// Annotations of the manifest (none by default).
    pub annotations: BTreeMap<String, String>,
}

impl ImageSpec {
    /// The image whose manifest has digest `manifest`, as the start of a
    /// build on it (`FROM image`): its config (history included) and
    /// layers. `FROM scratch` starts from `ImageConfig::for_host()` and no
    /// layers instead.
    pub fn from_image(blobs: &Blobs, manifest: &Digest) -> Result<ImageSpec> {
        let m = read_manifest(blobs, manifest)?;
        let config = read_config_blob(blobs, m.config().digest())?;
        Ok(ImageSpec {
            layers: read_layers(blobs, manifest)?,
            config,
            source_date_epoch: None,
            annotations: BTreeMap::new(),
        })
    }
}

/// `value` as JSON with every object's keys sorted and no whitespace: the
/// same value always gives the same bytes, whatever map types made it.
pub fn canonical_json<T: Serialize>(value: &T) -> serde_json::Result<Vec<u8>> {
    let value = serde_json::to_value(value)?;
    let mut out = Vec::new();
    write_canonical(&value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// Writes the config and the manifest of `spec` into `blobs` and returns
/// the manifest's descriptor (its digest names the image). The config's
/// `rootfs.diff_ids` are set from the layers; if it has history, its
/// non-empty entries must match the layers one for one.
pub fn write_image(blobs: &Blobs, spec: &ImageSpec) -> Result<Descriptor> {
    let mut config = spec.config.clone();
    config.rootfs.kind = "layers".to_owned();
    config.rootfs.diff_ids = spec.layers.iter().map(|l| l.diff_id.clone()).collect();
    if let Some(epoch) = spec.source_date_epoch {
        clamp(&mut config.created, epoch);
        for entry in &mut config.history {
            clamp(&mut entry.created, epoch);
        }
    }
    let with_layer = config.history.iter().filter(|h| !h.empty_layer).count();
    if !config.history.is_empty() && with_layer != spec.layers.len() {
        return Err(invalid(
            blobs.root(),
            format!(
                "image has {} layers but {with_layer} history entries with a layer",
                spec.layers.len()
            ),
        ));
    }
    for layer in &spec.layers {
        if !blobs.has(layer.descriptor.digest()) {
            return Err(Error::MissingBlob {
                digest: layer.descriptor.digest().to_string(),
                root: blobs.root().to_path_buf(),
            });
        }
    }
    let config_bytes = json_bytes(&config, "image config")?;
    let config_blob = blobs.put_bytes(&config_bytes)?;
    let mut builder = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_blob.descriptor(MediaType::ImageConfig))
        .layers(spec.layers.iter().map(|l| oci_descriptor(&l.descriptor)).collect::<Vec<_>>());
    if !spec.annotations.is_empty() {
        builder =
            builder.annotations(spec.annotations.clone().into_iter().collect::<HashMap<_, _>>());
    }
    let manifest =
        builder.build().map_err(|source| Error::Spec { what: "image manifest", source })?;
    write_manifest(blobs, &manifest)
}

/// `descriptor` under the OCI media type of its content: a base image
/// pulled with Docker's layer types gives an OCI manifest with the same
/// blobs, not a mix of both.
pub fn oci_descriptor(descriptor: &Descriptor) -> Descriptor {
    let media = match descriptor.media_type().as_ref() {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
        "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
        "application/vnd.docker.container.image.v1+json" => MediaType::ImageConfig,
        _ => descriptor.media_type().clone(),
    };
    let mut out = descriptor.clone();
    out.set_media_type(media);
    out
}

/// Stores `manifest` as canonical JSON and returns its descriptor.
pub fn write_manifest(blobs: &Blobs, manifest: &ImageManifest) -> Result<Descriptor> {
    let bytes = json_bytes(manifest, "image manifest")?;
    Ok(blobs.put_bytes(&bytes)?.descriptor(MediaType::ImageManifest))
}

fn json_bytes<T: Serialize>(value: &T, what: &'static str) -> Result<Vec<u8>> {
    canonical_json(value).map_err(|source| Error::Json {
        path: PathBuf::from(what),
        expected: "a value that serializes",
        source,
    })
}

fn clamp(created: &mut Option<String>, epoch: u64) {
    let later = created.as_deref().and_then(parse_rfc3339).is_none_or(|t| t > epoch as i64);
    if later {
        *created = Some(rfc3339(epoch));
    }
}

/// Reads the manifest with digest `manifest` from `blobs` (digest checked).
pub fn read_manifest(blobs: &Blobs, manifest: &Digest) -> Result<ImageManifest> {
    let bytes = blobs.read(manifest)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: blobs.path(manifest).unwrap_or_default(),
        expected: "an OCI image manifest",
        source,
    })
}

/// Reads the config of the image whose manifest has digest `manifest`.
pub fn read_config(blobs: &Blobs, manifest: &Digest) -> Result<ImageConfig> {
    let manifest = read_manifest(blobs, manifest)?;
    read_config_blob(blobs, manifest.config().digest())
}

/// Reads the image config blob with digest `config`.
pub fn read_config_blob(blobs: &Blobs, config: &Digest) -> Result<ImageConfig> {
    let bytes = blobs.read(config)?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: blobs.path(config).unwrap_or_default(),
        expected: "an OCI image config",
        source,
    })
}

/// The layers of the image whose manifest has digest `manifest`, with
/// their diff_ids from its config, bottom first (what a build based on it
/// starts from).
pub fn read_layers(blobs: &Blobs, manifest: &Digest) -> Result<Vec<Layer>> {
    let m = read_manifest(blobs, manifest)?;
    let config = read_config_blob(blobs, m.config().digest())?;
    if config.rootfs.diff_ids.len() != m.layers().len() {
        return Err(invalid(
            blobs.path(manifest)?,
            format!(
                "manifest lists {} layers but its config {} diff_ids",
                m.layers().len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    Ok(m.layers()
        .iter()
        .zip(config.rootfs.diff_ids)
        .map(|(descriptor, diff_id)| Layer { descriptor: descriptor.clone(), diff_id })
        .collect())
}
