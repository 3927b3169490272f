//! What a build leaves for `rbuild debug`: the record of the last build
//! (each step's state and the failed step's, kept or not) and failure
//! bundles, which carry a failed step to another machine.

use std::path::Path;

use rbuild_cache::{LayerRef, Store};
use rbuild_image::oci_spec::image::Digest;
use rbuild_image::{Blobs, Compression, History, Layer};
use rbuild_runtime::Secrets;
use serde::{Deserialize, Serialize};

use crate::BuildError;

/// The file of the store's state directory that records the last build.
pub(crate) const LAST_BUILD: &str = "last-build.json";

/// What a bundle's record says it is; another value is refused.
const BUNDLE_FORMAT: &str = "rbuild-failure-bundle/1";

/// The bundle's record of the failure, after the image's files.
pub(crate) const BUNDLE_RECORD: &str = "rbuild-failure.json";

/// The failed step's whole log in a bundle, secret values masked.
pub(crate) const BUNDLE_LOG: &str = "rbuild-failure.log";

/// The last build that ended in a store: what `rbuild debug last` opens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LastBuild {
    /// The Dockerfile, as messages name it.
    pub(crate) dockerfile: String,
    /// The image's manifest digest, when the build made one.
    pub(crate) image: Option<String>,
    /// Every step with files that ran or hit, stage by stage.
    pub(crate) steps: Vec<StepState>,
    /// The RUN that failed, if one did.
    pub(crate) failed: Option<FailedStep>,
}

/// A state a shell can open: where its files are and what it runs with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct StepState {
    /// The stage's name or index.
    pub(crate) stage: String,
    /// The instruction's first line.
    pub(crate) line: usize,
    /// Its last line.
    pub(crate) end_line: usize,
    /// As written.
    pub(crate) instruction: String,
    /// The committed snapshot holding the state, when one does.
    pub(crate) snapshot: Option<String>,
    /// The layers of the state, base first: what is unpacked when the
    /// snapshot is gone (or never was: a hit not unpacked).
    pub(crate) layers: Vec<LayerRef>,
    /// `KEY=value`, as a RUN there sees them.
    pub(crate) env: Vec<String>,
    /// Working directory.
    pub(crate) cwd: String,
    /// USER; empty is root.
    pub(crate) user: String,
    /// SHELL (`/bin/sh -c` when empty).
    pub(crate) shell: Vec<String>,
}

/// A RUN that failed. Its state is its upper directory over its parent:
/// kept as a snapshot of the store (`--on-failure=keep`), or as the last
/// layer of a bundle's image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct FailedStep {
    /// The step; its `snapshot` is the kept state (`None`: not kept), its
    /// `layers` the parent's.
    pub(crate) step: StepState,
    /// The command that failed.
    pub(crate) command: Vec<String>,
    /// Its exit code.
    pub(crate) code: i32,
    /// `--network` of the step.
    pub(crate) network: String,
    /// The ids of the secrets it mounted (never a value).
    pub(crate) secrets: Vec<String>,
    /// Its other mounts, described (`cache /root/.cache`): not reopened.
    pub(crate) mounts: Vec<String>,
}

/// A failure bundle's record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BundleRecord {
    /// [`BUNDLE_FORMAT`].
    pub(crate) format: String,
    /// The Dockerfile, as the build named it.
    pub(crate) dockerfile: String,
    /// The image of the failed state (the parent's layers and the step's
    /// upper directory as the last).
    pub(crate) manifest: String,
    /// The step; its `layers` are empty (the image has them).
    pub(crate) failed: FailedStep,
}

impl LastBuild {
    /// The record of `store`, if a build has ended there.
    pub(crate) fn read(store: &Store) -> Result<LastBuild, BuildError> {
        let path = store.state_dir().join(LAST_BUILD);
        let bytes = std::fs::read(&path).map_err(|_| {
            BuildError::Unsupported(
                "no build has ended in this store since it was made or its build cache pruned"
                    .into(),
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            BuildError::Internal(format!("{}: not a build record: {e}", path.display()))
        })
    }

    /// Writes the record (temp file and rename: a reader sees this one or
    /// the one before).
    pub(crate) fn write(&self, store: &Store) -> Result<(), BuildError> {
        let bytes = serde_json::to_vec(self)?;
        rbuild_cache::write_atomic(&store.state_dir().join(LAST_BUILD), &bytes)?;
        Ok(())
    }
}

/// The shell a session opens by default: SHELL without its `-c` (`bash -o
/// pipefail -c` opens `bash -o pipefail`), `/bin/sh` when there is none.
pub(crate) fn interactive_shell(shell: &[String]) -> Vec<String> {
    match shell {
        [] => vec!["/bin/sh".to_owned()],
        [head @ .., last] if last == "-c" && !head.is_empty() => head.to_vec(),
        [first, ..] => vec![first.clone()],
    }
}

/// `command` run by the stage's SHELL, as a shell-form RUN would be.
pub(crate) fn shell_command(shell: &[String], command: &str) -> Vec<String> {
    let mut argv =
        if shell.is_empty() { vec!["/bin/sh".to_owned(), "-c".to_owned()] } else { shell.to_vec() };
    argv.push(command.to_owned());
    argv
}

/// What a failure bundle is made of.
pub(crate) struct BundleParts<'a> {
    /// The store's blobs: the parent's layers are there.
    pub(crate) blobs: &'a Blobs,
    /// The parent's layers and history.
    pub(crate) layers: Vec<Layer>,
    /// The parent's history.
    pub(crate) history: Vec<History>,
    /// The failed step's upper directory.
    pub(crate) upper: &'a Path,
    /// The step's history entry.
    pub(crate) created_by: Option<String>,
    /// The failure.
    pub(crate) failed: FailedStep,
    /// The Dockerfile, as named in messages.
    pub(crate) dockerfile: String,
    /// The step's whole log, when one was written.
    pub(crate) log: Option<&'a Path>,
    /// The build's secrets: their values are masked in the log.
    pub(crate) secrets: &'a Secrets,
    /// `SOURCE_DATE_EPOCH`.
    pub(crate) source_date_epoch: Option<u64>,
}

/// Writes the bundle of a failed RUN to `dest` (temp file and rename): a
/// `docker save` archive of the failed state as an image (its env, workdir
/// and user the step's; its command the shell), then the record and the
/// log. `docker load` takes it as it is.
pub(crate) fn write_bundle(parts: BundleParts<'_>, dest: &Path) -> Result<(), BuildError> {
    let (upper, _) = rbuild_image::layer_from_dir(
        parts.blobs,
        parts.upper,
        &rbuild_image::DiffOptions { source_date_epoch: parts.source_date_epoch },
        Compression::Gzip,
    )?;
    let step = &parts.failed.step;
    let mut config = rbuild_image::ImageConfig::for_host();
    config.config = Some(rbuild_llb::ContainerConfig {
        env: step.env.clone(),
        cmd: interactive_shell(&step.shell),
        working_dir: step.cwd.clone(),
        user: step.user.clone(),
        shell: step.shell.clone(),
        ..Default::default()
    });
    let created = rbuild_image::timestamp(parts.source_date_epoch);
    config.created = Some(created.clone());
    config.history = parts.history;
    config.history.push(History {
        created: Some(created),
        created_by: parts.created_by,
        author: None,
        comment: Some(format!("rbuild: failed with exit code {}", parts.failed.code)),
        empty_layer: false,
    });
    let mut layers = parts.layers;
    layers.push(upper);
    let spec = rbuild_image::ImageSpec {
        config,
        layers,
        source_date_epoch: parts.source_date_epoch,
        annotations: Default::default(),
    };
    let manifest = rbuild_image::write_image(parts.blobs, &spec)?;
    let mut failed = parts.failed;
    failed.step.snapshot = None;
    failed.step.layers.clear();
    let record = BundleRecord {
        format: BUNDLE_FORMAT.to_owned(),
        dockerfile: parts.dockerfile,
        manifest: manifest.digest().to_string(),
        failed,
    };
    let log = match parts.log {
        Some(path) => parts.secrets.mask(&std::fs::read(path).map_err(|e| BuildError::Io {
            what: format!("reading the step's log {}", path.display()),
            source: e,
        })?),
        None => Vec::new(),
    };
    rbuild_image::save_archive_with(
        parts.blobs,
        &[(manifest.digest().clone(), Vec::new())],
        rbuild_image::ArchiveFormat::Docker,
        dest,
        vec![
            (BUNDLE_LOG.to_owned(), log),
            (BUNDLE_RECORD.to_owned(), serde_json::to_vec_pretty(&record)?),
        ],
    )?;
    Ok(())
}

/// A bundle read back: its record, its log, and its image now in `blobs`.
pub(crate) struct OpenedBundle {
    /// The record.
    pub(crate) record: BundleRecord,
    /// The log.
    pub(crate) log: Vec<u8>,
    /// The failed state's image.
    pub(crate) manifest: Digest,
}

/// Reads the bundle `path` into `blobs` (every blob checked against its
/// digest); a file that is not one, cut short or damaged says so of `path`.
pub(crate) fn open_bundle(blobs: &Blobs, path: &Path) -> Result<OpenedBundle, BuildError> {
    let shown = path.display();
    let bad = |why: String| {
        BuildError::Unsupported(format!("{shown}: not a usable failure bundle: {why}"))
    };
    let rbuild_image::ImportedWith { images, mut files } =
        rbuild_image::import_with(blobs, path, &[BUNDLE_RECORD, BUNDLE_LOG]).map_err(|e| {
            // The archive's own errors name it too: once is enough.
            let text = e.to_string();
            let prefix = format!("{shown}:");
            bad(text.strip_prefix(&prefix).map_or(text.clone(), |t| t.trim_start().to_owned()))
        })?;
    let log = files.pop().flatten();
    let record = files.pop().flatten().ok_or_else(|| {
        bad(format!(
            "it has no {BUNDLE_RECORD} (it is cut short, or not made by rbuild build \
             --failure-bundle)"
        ))
    })?;
    let record: BundleRecord =
        serde_json::from_slice(&record).map_err(|e| bad(format!("{BUNDLE_RECORD}: {e}")))?;
    if record.format != BUNDLE_FORMAT {
        return Err(bad(format!(
            "its format is {:?}; this rbuild reads {BUNDLE_FORMAT:?}",
            record.format
        )));
    }
    let manifest: Digest =
        record.manifest.parse().map_err(|e| bad(format!("{BUNDLE_RECORD}: manifest: {e}")))?;
    if !images.iter().any(|i| i.manifest.digest() == &manifest) {
        return Err(bad(format!("the image {manifest} its record names is not in it")));
    }
    Ok(OpenedBundle { record, log: log.unwrap_or_default(), manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_shell_is_shell_without_its_dash_c() {
        let v = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(interactive_shell(&[]), v(&["/bin/sh"]));
        assert_eq!(interactive_shell(&v(&["/bin/sh", "-c"])), v(&["/bin/sh"]));
        assert_eq!(
            interactive_shell(&v(&["/bin/bash", "-o", "pipefail", "-c"])),
            v(&["/bin/bash", "-o", "pipefail"])
        );
        assert_eq!(interactive_shell(&v(&["pwsh", "-Command"])), v(&["pwsh"]));
        assert_eq!(shell_command(&[], "ls"), v(&["/bin/sh", "-c", "ls"]));
        assert_eq!(shell_command(&v(&["/bin/bash", "-c"]), "ls"), v(&["/bin/bash", "-c", "ls"]));
    }
}
