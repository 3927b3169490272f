//! Layer blobs: an uncompressed layer tar compressed into the store in one
//! pass that yields both the blob's digest (for the manifest) and the tar's
//! digest (the config's `diff_id`).

use std::io::{self, Read, Write};
use std::path::Path;

use oci_spec::image::{Descriptor, Digest, MediaType};
use sha2::{Digest as _, Sha256};

use crate::blobs::{BlobWriter, Blobs, hex_digest};
use crate::error::{Result, io_err};
use crate::layer::{DiffOptions, LayerStats, diff};

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar+gzip`, what every tool reads.
    #[default]
    Gzip,
    /// `application/vnd.oci.image.layer.v1.tar+zstd`: smaller and faster,
    /// read by newer tools only.
    Zstd,
    /// `application/vnd.oci.image.layer.v1.tar`, no compression.
    None,
}

impl Compression {
    /// The layer media type a blob compressed this way carries.
    pub fn media_type(self) -> MediaType {
        match self {
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
            Compression::None => MediaType::ImageLayer,
        }
    }
}

/// A layer in the store: the blob's descriptor and the digest of the
/// uncompressed tar, which the image config lists in `rootfs.diff_ids`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// The compressed blob, as the manifest lists it.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
}

enum Encoder {
    Gzip(flate2::write::GzEncoder<BlobWriter>),
    Zstd(zstd::Encoder<'static, BlobWriter>),
    None(BlobWriter),
}

/// A writer taking an uncompressed layer tar: it hashes the tar (diff_id),
/// compresses it and streams the result into the store (blob digest).
pub struct LayerWriter {
    compression: Compression,
    encoder: Encoder,
    diff_hasher: Sha256,
    root: std::path::PathBuf,
    /// Input waiting for a full [`CHUNK`]: deflate's output depends on how
    /// its input is cut, so the encoder always gets the same cuts.
    pending: Vec<u8>,
}

/// The encoder's input comes in pieces of exactly this size (the last one
/// excepted), whatever sizes the caller writes, so the same tar gives the
/// same compressed bytes from `diff`, from a file or from a pipe.
const CHUNK: usize = 128 * 1024;

impl LayerWriter {
    /// Starts a layer blob in `blobs`. Gzip output is deterministic: no
    /// file name and mtime 0 in its header, so equal tars give equal
    /// digests.
    pub fn new(blobs: &Blobs, compression: Compression) -> Result<LayerWriter> {
        let blob = blobs.writer()?;
        let root = blobs.root().to_path_buf();
        let encoder = match compression {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(blob, flate2::Compression::default()),
            ),
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(blob, 3).map_err(io_err(&root))?),
            Compression::None => Encoder::None(blob),
        };
        Ok(LayerWriter {
            compression,
            encoder,
            diff_hasher: Sha256::new(),
            root,
            pending: Vec::with_capacity(CHUNK),
        })
    }

    fn feed(encoder: &mut Encoder, bytes: &[u8]) -> io::Result<()> {
        match encoder {
            Encoder::Gzip(w) => w.write_all(bytes),
            Encoder::Zstd(w) => w.write_all(bytes),
            Encoder::None(w) => w.write_all(bytes),
        }
    }

    /// Ends the compressed stream and stores the blob.
    pub fn finish(mut self) -> Result<Layer> {
        LayerWriter::feed(&mut self.encoder, &self.pending).map_err(io_err(&self.root))?;
        let blob = match self.encoder {
            Encoder::Gzip(gz) => gz.finish().map_err(io_err(&self.root))?,
            Encoder::Zstd(z) => z.finish().map_err(io_err(&self.root))?,
            Encoder::None(w) => w,
        }
        .finish()?;
        Ok(Layer {
            descriptor: blob.descriptor(self.compression.media_type()),
            diff_id: hex_digest(self.diff_hasher.finalize().as_slice()),
        })
    }
}

impl Write for LayerWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        self.diff_hasher.update(&buf[..n]);
        if self.pending.len() == CHUNK {
            LayerWriter::feed(&mut self.encoder, &self.pending)?;
            self.pending.clear();
        }
        Ok(n)
    }

    /// Does nothing: flushing the encoder would cut the deflate stream
    /// where the caller happened to flush, and the output would depend on it.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Compresses the uncompressed layer tar `tar` (a file, a pipe, the output
/// of [`diff`]) into `blobs`.
pub fn compress_layer<R: Read>(
    blobs: &Blobs,
    mut tar: R,
    compression: Compression,
) -> Result<Layer> {
    let mut writer = LayerWriter::new(blobs, compression)?;
    io::copy(&mut tar, &mut writer).map_err(io_err(blobs.root()))?;
    writer.finish()
}

/// The one call from a finished step's overlayfs upper directory (or any
/// directory holding a layer's files) to a stored layer: [`diff`] streamed
/// straight into a [`LayerWriter`], no uncompressed copy on disk.
pub fn layer_from_dir(
    blobs: &Blobs,
    upper: &Path,
    options: &DiffOptions,
    compression: Compression,
) -> Result<(Layer, LayerStats)> {
    let mut writer = LayerWriter::new(blobs, compression)?;
    let stats = diff(upper, &mut writer, options)?;
    Ok((writer.finish()?, stats))
}

/// The uncompressed tar of a stored layer, whatever its compression, to
/// apply it or write a root file system out.
pub fn open_layer(blobs: &Blobs, layer: &Layer) -> Result<Box<dyn Read>> {
    let path = blobs.path(layer.descriptor.digest())?;
    let file = std::fs::File::open(&path).map_err(io_err(&path))?;
    crate::import::decompressed(file, &path)
}
