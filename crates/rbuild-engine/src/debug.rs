//! `rbuild debug`: a shell on this terminal in the state after any step of
//! an image's history (or of the last image built here), on a layer thrown
//! away after.

use std::path::PathBuf;

use rbuild_image::oci_spec::image::Digest;
use rbuild_image::{Blobs, Layer};
use rbuild_llb::{Cancel, NetworkMode};
use rbuild_runtime::{Executor, ExitStatus, RootFs, Secrets, StepSpec};

use crate::build::{applied_snapshot, layer_key};
use crate::{BuildError, Engine};

/// The file naming the last image built in a store.
pub(crate) const LAST_BUILD: &str = "last-build";

impl Engine {
    /// Runs `command` on this terminal in the state after step `step`
    /// (1-based, oldest first, as the image's history holds them; the last
    /// by default) of `image` (a name, an id, or `last`: the last image
    /// built in this store), with the image's env, workdir and user. The
    /// layers are unpacked into the store's snapshots (build cache) once.
    pub fn debug(
        &self,
        image: &str,
        step: Option<usize>,
        command: &[String],
    ) -> Result<ExitStatus, BuildError> {
        let store = self.store();
        let _lock = store.lock_shared()?;
        let blobs = Blobs::new(store.root())?;
        let name = if image == "last" {
            std::fs::read_to_string(store.state_dir().join(LAST_BUILD))
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    BuildError::Unsupported("no build has finished in this store yet".into())
                })?
        } else {
            image.to_owned()
        };
        let list = self.images()?;
        let (found, _, _) = rbuild_image::images::find(&list, &name)?;
        let bad = |e: String| BuildError::Internal(format!("image {name}: {e}"));
        let manifest_digest: Digest =
            found.record.manifest.parse().map_err(|e| bad(format!("{e}")))?;
        let manifest = rbuild_image::read_manifest(&blobs, &manifest_digest)?;
        let config = rbuild_image::read_config_blob(&blobs, manifest.config().digest())?;
        let steps = config.history.len();
        let layers = match step {
            None => manifest.layers().len(),
            Some(n) if n >= 1 && n <= steps => {
                config.history[..n].iter().filter(|h| !h.empty_layer).count()
            }
            Some(n) => {
                return Err(BuildError::Unsupported(format!(
                    "--step {n}: {name} has {steps} steps in its history (1 to {steps})"
                )));
            }
        };
        let mut parent = None;
        let mut parent_key = None;
        for (i, descriptor) in manifest.layers().iter().take(layers).enumerate() {
            let diff_id = config
                .rootfs
                .diff_ids
                .get(i)
                .ok_or_else(|| bad("fewer diff ids than layers".into()))?;
            let layer = Layer { descriptor: descriptor.clone(), diff_id: diff_id.clone() };
            let keyed = layer_key(parent_key, &layer, false);
            parent_key = Some(keyed.0);
            let what = format!("layer {} of {name}", i + 1);
            parent =
                Some(applied_snapshot((store, &blobs), parent.as_ref(), &layer, keyed, &what)?);
        }
        let lowers = match &parent {
            Some(id) => store.chain(id)?,
            None => Vec::new(),
        };
        let dir = tempfile::Builder::new()
            .prefix(&rbuild_cache::temp_prefix("debug"))
            .tempdir_in(store.tmp_dir())
            .map_err(|e| BuildError::Io {
                what: "cannot make the shell's layer".into(),
                source: e,
            })?;
        let run = config.config.unwrap_or_default();
        let spec = StepSpec {
            args: command.to_vec(),
            env: run.env,
            cwd: run.working_dir,
            user: run.user,
            hostname: "rbuild-debug".into(),
            network: NetworkMode::Default,
            netns: None,
            terminal: true,
            rootfs: RootFs {
                lowers,
                upper: dir.path().join("upper"),
                work: dir.path().join("work"),
                merged: dir.path().join("merged"),
            },
            mounts: Vec::new(),
            secrets: Vec::new(),
            copy: None,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            hosts: PathBuf::from("/etc/hosts"),
        };
        let state = dir.path().join("state");
        Executor::new(self.helper.clone())
            .run_interactive(&spec, &Secrets::new(), &state, &Cancel::new())
            .map_err(|e| BuildError::Unsupported(format!("the shell could not start: {e}")))
    }
}
