/*!
Image plumbing for rbuild: the layers a build produces and consumes, and the
images made of them.

* [`diff`] turns the upper directory of a finished RUN step into an OCI
  layer tar (whiteouts for deletions, opaque-directory markers, hard links,
  xattrs, deterministic order, `SOURCE_DATE_EPOCH` clamping).
* [`apply`] unpacks an OCI layer into a snapshot directory that overlayfs
  can stack, turning whiteouts back into overlayfs' own, and refuses any
  entry that would land outside it.
* [`Blobs`] is the content-addressed store (`<root>/blobs/sha256/<hex>`,
  the OCI layout's shape); [`layer_from_dir`] and [`compress_layer`] store
  a layer as a gzip (or zstd) blob, giving its descriptor and diff_id in one
  pass.
* [`write_image`] writes an [`ImageConfig`] and its manifest as canonical
  JSON; [`read_manifest`], [`read_config`] and [`read_layers`] read them
  back.
* [`images`] is the image store as docker users know it: listing from
  records, names and ids resolved as the docker CLI does, `rmi`, and
  garbage collection by reachability.
* [`export_oci_layout`], [`export_oci_archive`] and
  [`export_docker_archive`] write an image out; [`import`] reads `docker
  save` archives and OCI archives or layouts in.

Image names: the store keys images by `rbuild_llb::Reference`'s normalized
form (`busybox` → `docker.io/library/busybox:latest`).

# Example

From a finished step's upper directory to an image and its exports:

```rust,no_run
use std::path::Path;
use rbuild_image::{
    Blobs, Compression, DiffOptions, History, ImageConfig, ImageSpec, export_oci_layout,
    layer_from_dir, timestamp, write_image,
};

# fn main() -> Result<(), Box<dyn std::error::Error>> {
let epoch = Some(1_700_000_000);
let blobs = Blobs::new("/var/lib/rbuild")?;
let options = DiffOptions { source_date_epoch: epoch };
let (layer, _stats) = layer_from_dir(&blobs, Path::new("/upper"), &options, Compression::Gzip)?;
let mut config = ImageConfig::for_host();
config.created = Some(timestamp(epoch));
config.history.push(History {
    created: Some(timestamp(epoch)),
    created_by: Some("RUN make".into()),
    ..History::default()
});
let spec = ImageSpec { config, layers: vec![layer], source_date_epoch: epoch, ..ImageSpec::default() };
let manifest = write_image(&blobs, &spec)?;
export_oci_layout(&blobs, &manifest, Path::new("out"), "latest")?;
# Ok(())
# }
```
*/
#![deny(missing_docs)]

mod apply;
mod blobs;
mod compress;
mod config;
mod error;
mod export;
pub mod filters;
mod flatten;
mod image;
pub mod images;
mod import;
mod layer;

/// oci-spec's types (descriptors, digests, manifests) are part of this API.
pub use oci_spec;

pub use apply::{ApplyStats, apply, apply_flat};
pub use blobs::{Blob, BlobWriter, Blobs, sha256_digest};
pub use compress::{Compression, Layer, LayerWriter, compress_layer, layer_from_dir, open_layer};
pub use config::{History, ImageConfig, RootFs, parse_rfc3339, rfc3339, timestamp};
pub use error::{Error, Result};
pub use export::{
    ANNOTATION_IMAGE_NAME, ArchiveFormat, export_docker_archive, export_oci_archive,
    export_oci_layout, save_archive, save_archive_with, write_archive,
};
pub use flatten::{flatten, flatten_to_file};
pub use image::{
    ImageSpec, canonical_json, oci_descriptor, read_config, read_config_blob, read_layers,
    read_manifest, write_image, write_manifest,
};
pub use import::{ImportedImage, ImportedWith, import, import_with, layer_from_tar};
pub use layer::{
    DiffOptions, LayerError, LayerStats, OPAQUE_WHITEOUT, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX,
    diff,
};
