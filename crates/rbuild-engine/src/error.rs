//! What can go wrong in a build, typed: a located Dockerfile error, a
//! failed step (with its line), a refused request, or the store, image,
//! context and file system errors underneath.

use std::path::PathBuf;

/// Why a build did not produce an image.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile could not be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadDockerfile {
        /// The Dockerfile's path as the user gave it.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The Dockerfile does not parse or plan: the message names its file,
    /// line and column, with the source line and a caret.
    #[error("{rendered}")]
    Dockerfile {
        /// The Dockerfile's path as the user gave it.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The bare message.
        message: String,
        /// `FILE:LINE:COLUMN: message` with the line and a caret.
        rendered: String,
    },
    /// A step failed.
    #[error(transparent)]
    Step(#[from] StepError),
    /// The request asks for something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// An `import --change` is not an instruction import takes.
    #[error(transparent)]
    Change(#[from] rbuild_frontend::ChangeError),
    /// The build was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] rbuild_cache::StoreError),
    /// Reading or writing an image failed.
    #[error(transparent)]
    Image(#[from] rbuild_image::Error),
    /// An image-store operation (records, rmi, GC) failed.
    #[error(transparent)]
    Images(#[from] rbuild_image::images::ImageStoreError),
    /// Reading the build context failed.
    #[error(transparent)]
    Context(#[from] rbuild_context::Error),
    /// Walking the build context failed.
    #[error(transparent)]
    Walk(#[from] rbuild_context::WalkError),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A registry refused or failed a pull or push.
    #[error(transparent)]
    Registry(#[from] rbuild_registry::Error),
    /// A layer could not be unpacked or fetched: a hostile or damaged
    /// layer, or a shared cache that lost it.
    #[error("{0}")]
    Layer(String),
    /// An invariant of the engine did not hold (a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// `--cache-to` could not write the cache (the image is built).
    #[error(
        "cannot export the cache to {location}: {why} (add ignore-error=true to --cache-to to \
         build anyway)"
    )]
    CacheExport {
        /// The `--cache-to` location.
        location: String,
        /// What failed.
        why: String,
    },
}

/// A failed step, with what the user needs to see.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The command ran and exited non-zero.
    #[error(
        "{dockerfile}:{line}: {instruction}\n  the command exited with code {code}{tail}{}",
        log.as_ref().map(|l| format!("\n  full log: {}", l.display())).unwrap_or_default()
    )]
    RunFailed {
        /// The Dockerfile's path.
        dockerfile: String,
        /// The instruction's first line.
        line: usize,
        /// The instruction as written.
        instruction: String,
        /// The exit code.
        code: i32,
        /// The last lines of output, formatted.
        tail: String,
        /// The file holding all of its output (`--log-dir`).
        log: Option<std::path::PathBuf>,
    },
    /// The step could not run, or its inputs could not be had.
    #[error("{dockerfile}:{line}: {instruction}\n  {message}")]
    Failed {
        /// The Dockerfile's path.
        dockerfile: String,
        /// The instruction's first line.
        line: usize,
        /// The instruction as written.
        instruction: String,
        /// What went wrong.
        message: String,
    },
}

impl StepError {
    /// The short form progress shows: the exit code, or the message.
    pub fn summary(&self) -> String {
        match self {
            StepError::RunFailed { code, .. } => format!("exit code {code}"),
            StepError::Failed { message, .. } => message.clone(),
        }
    }
}

/// Why a source (an ADD URL, a git repository) could not be had: one
/// message, credentials masked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct SourceError(pub(crate) String);

impl From<std::io::Error> for SourceError {
    fn from(e: std::io::Error) -> Self {
        SourceError(e.to_string())
    }
}

impl From<serde_json::Error> for SourceError {
    fn from(e: serde_json::Error) -> Self {
        SourceError(e.to_string())
    }
}

impl From<rbuild_cache::StoreError> for SourceError {
    fn from(e: rbuild_cache::StoreError) -> Self {
        SourceError(e.to_string())
    }
}

/// `return Err(SourceError(format!(…)))`.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::SourceError(format!($($arg)*)))
    };
}
pub(crate) use fail;

/// An I/O error with what was being done, as a [`BuildError`].
pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}
