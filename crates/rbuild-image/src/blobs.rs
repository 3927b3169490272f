//! A content-addressed blob store laid out like an OCI image layout
//! (`<root>/blobs/sha256/<hex>`), so the store and an exported layout
//! share one shape and an export can hard-link.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use oci_spec::image::{Descriptor, Digest, DigestAlgorithm, MediaType, Sha256Digest};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result, invalid, io_err};

/// A blob as the store knows it: what a descriptor needs besides its media
/// type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Blob {
    /// `sha256:<hex>` of the content.
    pub digest: Digest,
    /// Length of the content in bytes.
    pub size: u64,
}

impl Blob {
    /// The OCI descriptor of this blob with `media_type`, as manifests and
    /// indexes list it.
    pub fn descriptor(&self, media_type: MediaType) -> Descriptor {
        Descriptor::new(media_type, self.size, self.digest.clone())
    }
}

/// The content-addressed store under one root directory; cheap to clone.
#[derive(Clone, Debug)]
pub struct Blobs {
    root: PathBuf,
}

impl Blobs {
    /// Opens (creating if needed) the store whose blobs live in
    /// `<root>/blobs/sha256`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Blobs> {
        let root = root.into();
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Blobs { root })
    }

    /// The blobs of an existing layout at `root`, read only: nothing is
    /// created there (an import must not change what it reads).
    pub(crate) fn existing(root: &Path) -> Blobs {
        Blobs { root: root.to_path_buf() }
    }

    /// The root directory (the one holding `blobs/`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives (whether or not it is there yet).
    /// Only sha256 digests have a place: any other algorithm is refused.
    pub fn path(&self, digest: &Digest) -> Result<PathBuf> {
        if *digest.algorithm() != DigestAlgorithm::Sha256 {
            return Err(invalid(&self.root, format!("unsupported digest algorithm in {digest}")));
        }
        Ok(self.root.join("blobs").join("sha256").join(digest.digest()))
    }

    /// Whether the blob with `digest` is in the store.
    pub fn has(&self, digest: &Digest) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Opens the blob with `digest` for reading.
    pub fn open(&self, digest: &Digest) -> Result<File> {
        let path = self.path(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => {
                Error::MissingBlob { digest: digest.to_string(), root: self.root.clone() }
            }
            _ => io_err(&path)(e),
        })
    }

    /// Reads a (small) blob whole and checks it still has its digest:
    /// manifests and configs are read this way.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.path(digest)?;
        let mut bytes = Vec::new();
        self.open(digest)?.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let actual = sha256_digest(&bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                path,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// A writer that streams a new blob into a temp file beside its final
    /// place; [`BlobWriter::finish`] names it by its digest.
    pub fn writer(&self) -> Result<BlobWriter> {
        let dir = self.root.join("blobs").join("sha256");
        let file = tempfile::Builder::new()
            .prefix(&rbuild_cache::temp_prefix(".tmp"))
            .tempfile_in(&dir)
            .map_err(io_err(&dir))?;
        Ok(BlobWriter {
            blobs: self.clone(),
            file: io::BufWriter::new(file),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Stores everything `reader` yields as one blob.
    pub fn put_reader<R: Read>(&self, mut reader: R) -> Result<Blob> {
        let mut writer = self.writer()?;
        let at = writer.temp_path();
        io::copy(&mut reader, &mut writer).map_err(io_err(at))?;
        writer.finish()
    }

    /// Stores everything `reader` yields, but only if it hashes to
    /// `expected` (imports trust no name): on a mismatch nothing is stored.
    /// `source` names the input in errors.
    pub fn put_reader_verified<R: Read>(
        &self,
        reader: R,
        expected: &Digest,
        source: &Path,
    ) -> Result<Blob> {
        self.path(expected)?;
        let mut writer = self.writer()?;
        let mut reader = reader;
        io::copy(&mut reader, &mut writer).map_err(io_err(source))?;
        writer.finish_verified(expected, source)
    }

    /// Stores `bytes` as one blob.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Blob> {
        let digest = sha256_digest(bytes);
        if self.has(&digest) {
            return Ok(Blob { digest, size: bytes.len() as u64 });
        }
        self.put_reader(bytes)
    }
}

/// A blob being written: hashes as it goes, lands under its digest on
/// [`finish`](BlobWriter::finish) (temp file, fsync, rename), and vanishes
/// if dropped unfinished.
pub struct BlobWriter {
    blobs: Blobs,
    file: io::BufWriter<tempfile::NamedTempFile>,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter {
    fn temp_path(&self) -> PathBuf {
        self.file.get_ref().path().to_path_buf()
    }

    /// Syncs the content, renames it to `blobs/sha256/<hex>` and returns
    /// its digest and size. Two writers of the same content both succeed:
    /// the second rename replaces equal bytes with equal bytes.
    pub fn finish(self) -> Result<Blob> {
        let digest = hex_digest(self.hasher.clone().finalize().as_slice());
        self.land(digest)
    }

    /// Like [`finish`](BlobWriter::finish), but the content must hash to
    /// `expected`; `source` names the input in the error.
    pub fn finish_verified(self, expected: &Digest, source: &Path) -> Result<Blob> {
        let digest = hex_digest(self.hasher.clone().finalize().as_slice());
        if digest != *expected {
            return Err(Error::DigestMismatch {
                path: source.to_path_buf(),
                expected: expected.to_string(),
                actual: digest.to_string(),
            });
        }
        self.land(digest)
    }

    fn land(self, digest: Digest) -> Result<Blob> {
        let temp = self.temp_path();
        let file = self.file.into_inner().map_err(|e| io_err(&temp)(e.into_error()))?;
        let size = self.size;
        let target = self.blobs.path(&digest)?;
        if target.is_file() {
            // Already stored (by us earlier or by a concurrent build).
            return Ok(Blob { digest, size });
        }
        file.as_file().sync_all().map_err(io_err(&temp))?;
        file.persist(&target).map_err(|e| io_err(&target)(e.error))?;
        if let Some(dir) = target.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
        }
        Ok(Blob { digest, size })
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    hex_digest(Sha256::digest(bytes).as_slice())
}

/// The OCI digest of a finished sha256 hash.
pub(crate) fn hex_digest(hash: &[u8]) -> Digest {
    let mut hex = String::with_capacity(64);
    for byte in hash {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    let sha = Sha256Digest::from_str(&hex).unwrap_or_else(|_| unreachable!("64 hex digits"));
    Digest::from(sha)
}
