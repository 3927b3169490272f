//! The one error type of the registry client. Every variant names what the
//! user asked for (a reference or a host) and never a credential.

use std::path::PathBuf;

/// Why a pull, push, login or lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry answered, but not with what was asked for.
    #[error("{what}: {status}{}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Registry {
        /// The reference or URL path (credentials never included).
        what: String,
        /// The HTTP status, with its reason.
        status: String,
        /// The registry's error code and message (`MANIFEST_UNKNOWN: …`).
        code: Option<String>,
    },
    /// The registry could not be reached or the connection broke.
    #[error("{what}: {why}")]
    Transport {
        /// The reference or host.
        what: String,
        /// What the connection did.
        why: String,
    },
    /// The registry refused the credentials, or wants some and none are
    /// configured.
    #[error("{what}: {why}")]
    Auth {
        /// The reference or host.
        what: String,
        /// What the registry said (never the credential).
        why: String,
    },
    /// The reference has no manifest there.
    #[error("{reference}: not found{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NotFound {
        /// The reference.
        reference: String,
        /// The registry's message, if any.
        detail: Option<String>,
    },
    /// What the registry sent is not what it promised or not what an image
    /// is: a wrong digest, a truncated blob, an HTML page, a schema 1
    /// manifest, an oversized or unparsable document.
    #[error("{what}: {why}")]
    Invalid {
        /// The reference or blob.
        what: String,
        /// What was expected and what came.
        why: String,
    },
    /// An index has no manifest for the requested platform.
    #[error("{reference}: no image for platform {wanted} (the index has: {available})")]
    NoPlatform {
        /// The reference.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index lists.
        available: String,
    },
    /// Every mirror and then the primary failed.
    #[error("{primary} (mirrors also failed: {})", mirrors.join("; "))]
    Mirrors {
        /// The primary's error.
        primary: Box<Error>,
        /// Each mirror's error, in the order tried.
        mirrors: Vec<String>,
    },
    /// A credential store, a helper or the docker config file failed.
    #[error("{}: {why}", path.display())]
    Credentials {
        /// The file or helper.
        path: PathBuf,
        /// What went wrong (never the secret).
        why: String,
    },
    /// A registry configuration file (daemon.json, registries.conf,
    /// rbuild's own) does not parse.
    #[error("{}: {why}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What was expected.
        why: String,
    },
    /// The reference does not follow the grammar.
    #[error(transparent)]
    Reference(#[from] rbuild_llb::ReferenceError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] rbuild_image::Error),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Whether another endpoint (the next mirror, then the primary) may
    /// still have what this one did not.
    pub(crate) fn try_next_endpoint(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::NotFound { .. } | Error::Auth { .. } => true,
            Error::Registry { status, .. } => status.starts_with('5') || status.starts_with("429"),
            _ => false,
        }
    }
}

/// The result of the registry client.
pub type Result<T, E = Error> = std::result::Result<T, E>;
