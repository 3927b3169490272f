//! `export` and `import`: an image as one flat root file system tar, and
//! such a tar (a file, a URL, stdin) as a one-layer image whose config
//! `--change` instructions set.

use std::io::{Read, Write};
use std::path::Path;

use rbuild_image::{Blobs, Compression, History, ImageConfig, ImageSpec};

use crate::Engine;
use crate::error::BuildError;

/// Where `import` reads the root file system tar from.
pub enum ImportSource<'a> {
    /// A file (plain or compressed tar).
    Path(&'a Path),
    /// An `http(s)://` URL, fetched into the store's downloads first.
    Url(&'a str),
    /// A stream: `import -` reads stdin.
    Reader(Box<dyn Read + 'a>),
}

/// What `import` made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The manifest's digest.
    pub manifest: String,
    /// The image id (its config's digest), what `docker import` prints.
    pub id: String,
}

impl Engine {
    /// `export`: the merged root file system of the image `name` (whiteouts
    /// applied, no history) as one tar, to the file `dest` (by temp file
    /// and rename) or, when `None`, to `out`.
    pub fn export<W: Write>(
        &self,
        name: &str,
        dest: Option<&Path>,
        out: W,
    ) -> Result<W, BuildError> {
        let _lock = self.store.lock_shared()?;
        let blobs = Blobs::new(self.store.root())?;
        let list = rbuild_image::images::list(&self.store, &blobs)?;
        let (image, _, _) = rbuild_image::images::find(&list, name)?;
        let manifest = image
            .record
            .manifest
            .parse()
            .map_err(|e| BuildError::Internal(format!("image record {name}: {e}")))?;
        let layers = rbuild_image::read_layers(&blobs, &manifest)?;
        match dest {
            Some(dest) => {
                rbuild_image::flatten_to_file(&blobs, &layers, dest)?;
                Ok(out)
            }
            None => Ok(rbuild_image::flatten(&blobs, &layers, out, Path::new("stdout"))?),
        }
    }

    /// `import`: the tar of `source` as a one-layer image for this
    /// machine's platform, its config set by `changes` (Dockerfile
    /// instructions: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
    /// STOPSIGNAL, USER, VOLUME, WORKDIR), its history one entry with
    /// `message` (docker's `Imported from …` by default), named `name` if
    /// given. The changes and the name are checked before anything is read.
    pub fn import(
        &self,
        source: ImportSource<'_>,
        name: Option<&str>,
        changes: &[String],
        message: Option<&str>,
    ) -> Result<Imported, BuildError> {
        let container =
            rbuild_frontend::apply_changes(&rbuild_llb::ContainerConfig::default(), changes)?;
        let name = name
            .map(rbuild_llb::normalize_reference)
            .transpose()
            .map_err(|e| BuildError::Unsupported(e.to_string()))?;
        if name.as_deref().is_some_and(|n| n.contains('@')) {
            return Err(BuildError::Unsupported(
                "an imported image is named by a tag, not a digest".into(),
            ));
        }
        let _lock = self.store.lock_shared()?;
        let blobs = Blobs::new(self.store.root())?;
        let (layer, from) = match source {
            ImportSource::Path(path) => {
                let file = std::fs::File::open(path).map_err(|e| BuildError::Io {
                    what: format!("cannot open {}", path.display()),
                    source: e,
                })?;
                (rbuild_image::layer_from_tar(&blobs, file, Compression::None, path)?, "-".into())
            }
            ImportSource::Url(url) => {
                let shown = rbuild_llb::redact_credentials(url).into_owned();
                let got = crate::fetch::fetch(
                    &self.store.downloads_dir(),
                    &self.store.tmp_dir(),
                    url,
                    None,
                )
                .map_err(|e| BuildError::Unsupported(e.to_string()))?;
                let file = std::fs::File::open(&got.path).map_err(|e| BuildError::Io {
                    what: format!("cannot open what {shown} gave"),
                    source: e,
                })?;
                let label = Path::new(&shown);
                (rbuild_image::layer_from_tar(&blobs, file, Compression::None, label)?, shown)
            }
            ImportSource::Reader(reader) => {
                let label = Path::new("stdin");
                (
                    rbuild_image::layer_from_tar(&blobs, reader, Compression::None, label)?,
                    "-".into(),
                )
            }
        };
        let now = rbuild_image::timestamp(None);
        let comment = message.map_or_else(|| format!("Imported from {from}"), str::to_owned);
        let mut config = ImageConfig::for_host();
        config.created = Some(now.clone());
        config.config = Some(container);
        config.history =
            vec![History { created: Some(now), comment: Some(comment), ..History::default() }];
        let spec = ImageSpec { config, layers: vec![layer], ..ImageSpec::default() };
        let manifest = rbuild_image::write_image(&blobs, &spec)?;
        let digest = manifest.digest().to_string();
        let record = rbuild_image::images::record(&self.store, &blobs, &digest, None, &[], &[])?;
        if let Some(name) = &name {
            self.store.tag(name, &digest)?;
        }
        Ok(Imported { manifest: digest, id: record.id })
    }
}
