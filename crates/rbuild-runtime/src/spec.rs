//! What one step is: the plain value the executor hands to its helper
//! process (as JSON in the step's state directory).

use std::path::PathBuf;

use rbuild_llb::NetworkMode;
use serde::{Deserialize, Serialize};

/// Everything the helper needs to run one step, and nothing secret: secret
/// mounts name a file, never hold its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSpec {
    /// argv; `args[0]` without a `/` is looked up in the step's `PATH`.
    pub args: Vec<String>,
    /// `KEY=value` pairs, exactly as the command sees them.
    pub env: Vec<String>,
    /// Working directory inside the rootfs; created when missing.
    pub cwd: String,
    /// `USER` as written: name, uid, `name:group` or `uid:gid`; empty is root.
    pub user: String,
    /// The hostname the step sees.
    pub hostname: String,
    /// Which network the step gets.
    pub network: NetworkMode,
    /// The namespace the default network joins; the executor sets it.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// The command's stdin, stdout and stderr are a terminal (the slave of
    /// the pty the executor hands the helper as descriptor 3), its
    /// controlling terminal: a shell in a step's state
    /// ([`Executor::run_interactive`](crate::Executor::run_interactive)).
    #[serde(default)]
    pub terminal: bool,
    /// The overlay: parent snapshots and the new one.
    pub rootfs: RootFs,
    /// Extra mounts (`RUN --mount`), in order.
    pub mounts: Vec<Mount>,
    /// Secrets the step sees, as files or env variables. Their values
    /// never enter the spec: the executor hands them to the helper through
    /// a pipe, and the helper keeps the files on a tmpfs of its own.
    #[serde(default)]
    pub secrets: Vec<SecretMount>,
    /// A file operation to do on the rootfs instead of running `args`.
    #[serde(default)]
    pub copy: Option<CopyAction>,
    /// Host files bound read-only at /etc/resolv.conf and /etc/hosts.
    pub resolv_conf: PathBuf,
    /// See `resolv_conf`.
    pub hosts: PathBuf,
}

/// The root file system of a step: an overlay of read-only parent
/// snapshots (topmost first) under a writable upper directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Parent snapshot directories, topmost first; may be empty.
    pub lowers: Vec<PathBuf>,
    /// Receives every change the step makes: the new layer.
    pub upper: PathBuf,
    /// overlayfs' work directory, on the same file system as `upper`.
    pub work: PathBuf,
    /// Where the overlay is mounted (inside the helper's mount namespace).
    pub merged: PathBuf,
}

/// One extra mount inside the step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Mount {
    /// A host directory or file (a cache mount's directory, a stage's
    /// snapshot, a secret's file, the ssh agent socket).
    Bind {
        /// Host path.
        source: PathBuf,
        /// Path inside the rootfs.
        target: String,
        /// Mounted read-only.
        readonly: bool,
    },
    /// A merged view of read-only directories: read-only, or writable with
    /// the writes discarded with `scratch` (`RUN --mount=type=bind,rw`).
    Overlay {
        /// Read-only layers, topmost first.
        lowers: Vec<PathBuf>,
        /// Upper and work directories live here; thrown away after.
        scratch: PathBuf,
        /// Path inside the rootfs.
        target: String,
        /// Writes fail (EROFS) instead of being discarded.
        #[serde(default)]
        readonly: bool,
    },
    /// An empty tmpfs.
    Tmpfs {
        /// Path inside the rootfs.
        target: String,
        /// Size limit in bytes; 0 for the kernel default (half of RAM).
        size: u64,
    },
}

impl Mount {
    /// The path inside the rootfs.
    pub fn target(&self) -> &str {
        match self {
            Mount::Bind { target, .. } | Mount::Overlay { target, .. } => target,
            Mount::Tmpfs { target, .. } => target,
        }
    }
}

/// Where a step finds one secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMount {
    /// The secret's id, to look its value up.
    pub id: String,
    /// File path in the step, if the secret is a file.
    pub target: Option<String>,
    /// Env variable name, if the secret is an env variable.
    pub env: Option<String>,
    /// File mode.
    pub mode: u32,
    /// File owner.
    pub uid: u32,
    /// File group.
    pub gid: u32,
}

/// A COPY done by the helper on the mounted rootfs, so overlayfs copies up
/// parent directories with their metadata and destination symlinks resolve
/// through every layer below.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyAction {
    /// What to copy and how.
    pub spec: crate::copy::CopySpec,
    /// Where the sources come from.
    pub source: CopySource,
}

/// The tree a COPY reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CopySource {
    /// The build context: only what .dockerignore lets through.
    Context {
        /// The context directory.
        dir: PathBuf,
        /// The .dockerignore text that applies.
        dockerignore: String,
    },
    /// Another stage or image: its snapshot chain, topmost first, mounted
    /// read-only.
    Layers {
        /// The snapshot directories.
        lowers: Vec<PathBuf>,
    },
}
