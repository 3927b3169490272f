//! The one error type of the image plumbing (blobs, images, exports,
//! imports); layer diff/apply keep their own [`LayerError`].

use std::io;
use std::path::{Path, PathBuf};

use crate::layer::LayerError;

/// Why a blob, image, export or import failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A file's content does not have the digest its name or descriptor
    /// promises.
    #[error("{}: expected digest {expected}, found {actual}", path.display())]
    DigestMismatch {
        /// The file (or archive entry) whose content was hashed.
        path: PathBuf,
        /// The digest the descriptor or file name promised.
        expected: String,
        /// The digest of the bytes actually read.
        actual: String,
    },
    /// A JSON document does not parse as what was expected.
    #[error("{}: expected {expected}: {source}", path.display())]
    Json {
        /// The file (or blob) holding the document.
        path: PathBuf,
        /// What the document should have been.
        expected: &'static str,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// An input is well-formed but not what is expected.
    #[error("{}: {why}", path.display())]
    Invalid {
        /// The file, archive or blob at fault.
        path: PathBuf,
        /// What was expected and what was found.
        why: String,
    },
    /// A blob the image refers to is not in the store.
    #[error("blob {digest} is missing from {}", root.display())]
    MissingBlob {
        /// The digest looked for.
        digest: String,
        /// The root of the blob store.
        root: PathBuf,
    },
    /// A value could not be turned into an OCI object.
    #[error("{what}: {source}")]
    Spec {
        /// The object being built.
        what: &'static str,
        /// What oci-spec refused.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// An image name does not follow the reference grammar.
    #[error(transparent)]
    Name(#[from] rbuild_llb::ReferenceError),
    /// Writing a layer from a directory failed.
    #[error(transparent)]
    Layer(#[from] LayerError),
}

/// The result of the image plumbing.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Maps an I/O error to [`Error::Io`] naming `path`.
pub(crate) fn io_err(path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Error {
    let path = path.as_ref().to_path_buf();
    move |source| Error::Io { path, source }
}

/// An [`Error::Invalid`] naming `path`.
pub(crate) fn invalid(path: impl AsRef<Path>, why: impl Into<String>) -> Error {
    Error::Invalid { path: path.as_ref().to_path_buf(), why: why.into() }
}
