/*!
The build engine: a Dockerfile and its context in, an image in the store
(and any exports) out, with typed events on the way.

[`Engine::build`] reads and plans the Dockerfile (rbuild-frontend), turns
the plan into a graph of steps and solves it under the solver's cache
contract (rbuild-solver), running misses in the sandbox (rbuild-runtime) on
snapshots of the store (rbuild-cache), making layers and the image
(rbuild-image), fetching ADD's URLs and git repositories, and writing the
requested outputs. Everything it has to tell goes to an
[`EventSink`](rbuild_llb::EventSink) as [`Event`](rbuild_llb::Event)s.

# Example

```no_run
use rbuild_engine::{BuildRequest, Engine};
use rbuild_llb::{EventKind, Recorder};

let engine = Engine::open("/var/lib/rbuild")?.with_helper("/usr/local/bin/rbuild");
let request = BuildRequest::new("./app", "./app/Dockerfile").tag("app:1");
let events = Recorder::default();
let result = engine.build(&request, &events)?;
println!("{}", result.manifest);
for event in events.events() {
    if let EventKind::Step(step) = &event.kind {
        println!("{:.3}s {:?} {}", event.time, step.status, step.step.label());
    }
}
# Ok::<(), Box<dyn std::error::Error>>(())
```
*/
#![deny(missing_docs)]

mod build;
mod debug;
mod error;
mod events;
mod failure;
mod fetch;
mod git;
mod output;
mod rootfs;
mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rbuild_cache::Store;
use rbuild_llb::{Entitlement, EventSink, NetworkMode, StepReport};

pub use debug::{DebugAt, DebugTarget};
pub use error::{BuildError, StepError};
pub use events::Emitter;
pub use output::Output;
pub use rootfs::{ImportSource, Imported};
pub use shared::{CacheExport, CacheImport, CacheLocation, CacheMode};

pub use rbuild_runtime::Secrets;

/// Everything one build needs, as `docker build`'s flags say it.
#[derive(Clone)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: PathBuf,
    /// How messages name the Dockerfile when not by its path: a server
    /// names its client's file, never its own copy of it.
    pub dockerfile_name: Option<String>,
    /// `-t`: names the image gets in the store.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (`Some`) or `--build-arg K` (`None`: from the env).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--no-cache-filter`: the stages (by name) whose steps run again
    /// though the rest may come from the cache.
    pub no_cache_filter: Vec<String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network`: of every RUN without its own `--network`.
    pub network: Option<NetworkMode>,
    /// `--allow`: what steps may do beyond the sandbox when they ask
    /// (`--network=host` implies `network.host`, as with buildx).
    pub allow: BTreeSet<Entitlement>,
    /// `SOURCE_DATE_EPOCH`: every time in the image, for reproducible builds.
    pub source_date_epoch: Option<u64>,
    /// Values for `RUN --mount=type=secret`; never in a key, layer or log.
    pub secrets: Secrets,
    /// `--add-host`: names every RUN's /etc/hosts maps, after BuildKit's
    /// localhost lines (part of each RUN's key, as in BuildKit's).
    pub extra_hosts: Vec<rbuild_llb::ExtraHost>,
    /// `--ssh`: the agent sockets `RUN --mount=type=ssh` may reach, by id;
    /// a step gets none that the build was not given, as with BuildKit.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--output`s, written before the result is reported.
    pub outputs: Vec<Output>,
    /// `--pull`: when a base image comes from its registry.
    pub pull: PullPolicy,
    /// `--cache-to`: shared caches this build's steps are exported to.
    pub cache_to: Vec<CacheExport>,
    /// `--cache-from`: shared caches keys are looked up in, in order,
    /// after the store's own.
    pub cache_from: Vec<CacheImport>,
    /// `--log-dir`: every step's complete output, byte for byte, one file
    /// per step.
    pub log_dir: Option<PathBuf>,
    /// `--on-failure`: what a failed RUN leaves besides its report.
    pub on_failure: OnFailure,
    /// `--failure-bundle`: where the first failed RUN's state, command, env
    /// and log go as one file that `rbuild debug FILE` reopens anywhere.
    pub failure_bundle: Option<PathBuf>,
    /// How messages name `log_dir` and `failure_bundle`, when the caller
    /// writes them somewhere else first (a server, for its client's paths).
    pub shown_as: ShownAs,
    /// The registry credentials of the build's client (a server's request):
    /// when set, pulls and shared caches use these only, never this
    /// machine's logins.
    pub registry_auth: Option<rbuild_registry::RequestAuth>,
    /// Digests of context files the caller vouches for (a server that
    /// checked them as they came), instead of the store's stat cache for
    /// the context; not saved.
    pub stat_cache: Option<rbuild_context::StatCache>,
    /// Fired to stop the build (a server's client hung up): running steps
    /// are killed and the build fails with `BuildError::Cancelled`.
    pub cancel: rbuild_llb::Cancel,
}

/// What a failed RUN leaves besides its report (`--on-failure`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Nothing: its state is thrown away.
    #[default]
    Report,
    /// Its state stays in the store (until `builder prune`), for `rbuild
    /// debug last`.
    Keep,
    /// A shell opens on this process's terminal in its state, then the
    /// build goes on to the report: the stage's SHELL, or this command run
    /// by it (`shell:CMD`).
    Shell(Option<String>),
}

/// When `FROM` fetches its image from the registry (`--pull`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Only when the store does not have it (the default).
    #[default]
    Missing,
    /// Re-resolve every tag (`--pull`): a HEAD per tag, layers only if new.
    Always,
    /// Never: an image not in the store is an error (`--pull=never`).
    Never,
}

impl PullPolicy {
    /// `--pull`'s value as given: `always` (or `true`, what a bare `--pull`
    /// means), `never`; anything else, or none, is `missing`.
    pub fn from_flag(value: Option<&str>) -> PullPolicy {
        match value {
            Some("always" | "true") => PullPolicy::Always,
            Some("never") => PullPolicy::Never,
            _ => PullPolicy::Missing,
        }
    }
}

impl BuildRequest {
    /// The Dockerfile as messages name it.
    pub fn dockerfile_label(&self) -> String {
        self.dockerfile_name.clone().unwrap_or_else(|| self.dockerfile.display().to_string())
    }

    /// A build of `dockerfile` with `context`, everything else default.
    pub fn new(context: impl Into<PathBuf>, dockerfile: impl Into<PathBuf>) -> BuildRequest {
        BuildRequest {
            context: context.into(),
            dockerfile: dockerfile.into(),
            dockerfile_name: None,
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            target: None,
            no_cache: false,
            no_cache_filter: Vec::new(),
            labels: BTreeMap::new(),
            network: None,
            allow: BTreeSet::new(),
            source_date_epoch: None,
            secrets: Secrets::new(),
            ssh: BTreeMap::new(),
            extra_hosts: Vec::new(),
            outputs: Vec::new(),
            pull: PullPolicy::Missing,
            cache_to: Vec::new(),
            cache_from: Vec::new(),
            stat_cache: None,
            registry_auth: None,
            log_dir: None,
            on_failure: OnFailure::Report,
            failure_bundle: None,
            shown_as: ShownAs::default(),
            cancel: rbuild_llb::Cancel::new(),
        }
    }

    /// Adds a `-t` name.
    pub fn tag(mut self, name: impl Into<String>) -> BuildRequest {
        self.tags.push(name.into());
        self
    }

    /// Every name the image gets in the store: the `-t` names, then those
    /// of `--output type=image,name=…`.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        for out in &self.outputs {
            if let Output::Image { names: more, .. } = out {
                for name in more {
                    if !names.contains(&name.as_str()) {
                        names.push(name);
                    }
                }
            }
        }
        names
    }

    /// The names to push after the build: `--output type=image,push=true`'s
    /// (or the `-t` names, for one without names).
    pub fn push_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for o in &self.outputs {
            if let Output::Image { names, push: true } = o {
                let these: Vec<&str> = if names.is_empty() {
                    self.tags.iter().map(String::as_str).collect()
                } else {
                    names.iter().map(String::as_str).collect()
                };
                for name in these {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
        }
        out
    }
}

/// What a build produced.
#[derive(Clone, Debug)]
pub struct BuildResult {
    /// The image manifest's digest.
    pub manifest: String,
    /// The manifest's size in bytes (an OCI image manifest).
    pub manifest_size: u64,
    /// The image id: the config's digest.
    pub config_digest: String,
    /// Every step, in Dockerfile order: cached or why it ran.
    pub steps: Vec<StepReport>,
    /// Seconds the build took.
    pub seconds: f64,
    /// The base images pulled, with the digests their tags resolved to.
    pub pulled: Vec<rbuild_llb::PulledImage>,
}

/// The names a build's messages give its log directory and failure
/// bundle instead of the paths it writes (`None`: the paths themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShownAs {
    /// The log directory's name.
    pub log_dir: Option<PathBuf>,
    /// The failure bundle's name.
    pub failure_bundle: Option<PathBuf>,
}

impl BuildRequest {
    /// How messages name the log `path` (a file of `log_dir`).
    pub(crate) fn shown_log(&self, path: &Path) -> PathBuf {
        match (&self.shown_as.log_dir, path.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => path.to_owned(),
        }
    }

    /// How messages name the failure bundle `dest`.
    pub(crate) fn shown_bundle<'a>(&'a self, dest: &'a Path) -> &'a Path {
        self.shown_as.failure_bundle.as_deref().unwrap_or(dest)
    }
}

/// One image a `load` brought in; its `Display` is docker's line for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// The name the archive gave it (normalized), if any.
    pub name: Option<String>,
    /// Its manifest's digest.
    pub manifest: String,
    /// Its id: the config's digest.
    pub id: String,
}

impl std::fmt::Display for Loaded {
    /// `Loaded image: app:1`, or, untagged, `Loaded image ID: sha256:…`
    /// (docker names such an image by its id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "Loaded image: {}", rbuild_llb::familiar_name(name)),
            None => write!(f, "Loaded image ID: {}", self.id),
        }
    }
}

/// How a failed build reads on screen and in the error event: a failed step
/// under "build failed", anything else with the chain of its causes
/// (`cannot read x: Permission denied`).
pub fn error_message(error: &BuildError) -> String {
    if let BuildError::Step(step) = error {
        return format!("build failed\n{step}");
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

/// An image store and build cache on disk, and the builds that use it.
pub struct Engine {
    store: Store,
    pub(crate) helper: PathBuf,
}

impl Engine {
    /// Opens (making it when missing) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Engine, BuildError> {
        Ok(Engine { store: Store::open(root)?, helper: PathBuf::from("/proc/self/exe") })
    }

    /// Runs RUN and COPY steps through `helper`: a program that calls
    /// `rbuild_runtime::helper_main` for `rbuild_runtime::HELPER_COMMAND`
    /// before anything else (the `rbuild` binary does); by default the
    /// running program itself.
    pub fn with_helper(mut self, helper: impl Into<PathBuf>) -> Engine {
        self.helper = helper.into();
        self
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// The store, for the commands that manage it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Builds `request` into the store, sending progress to `sink`, and
    /// writes its outputs; the last event is the result. Holds the store's
    /// shared lock, so builds run side by side and prune waits.
    pub fn build(
        &self,
        request: &BuildRequest,
        sink: &dyn EventSink,
    ) -> Result<BuildResult, BuildError> {
        let events = Emitter::new(sink);
        let outcome = self.build_and_export(request, &events);
        let built = match outcome {
            Ok(built) => built,
            Err(error) => {
                events.emit(rbuild_llb::EventKind::Error { message: error_message(&error) });
                return Err(error);
            }
        };
        let result = BuildResult {
            manifest: built.manifest_descriptor.digest().to_string(),
            manifest_size: built.manifest_descriptor.size(),
            config_digest: built.config_digest,
            steps: built.steps,
            seconds: events.elapsed(),
            pulled: built.pulled,
        };
        events.result(rbuild_llb::BuildSummary {
            image: request.names().first().map(|n| (*n).to_owned()),
            manifest: result.manifest.clone(),
            manifest_size: result.manifest_size,
            id: result.config_digest.clone(),
            seconds: result.seconds,
            steps: result.steps.clone(),
            pulled: result.pulled.clone(),
        });
        Ok(result)
    }

    fn build_and_export(
        &self,
        request: &BuildRequest,
        events: &Emitter<'_>,
    ) -> Result<build::Built, BuildError> {
        let _lock = self.store.lock_shared()?;
        // What crashed builds left is removed beside this one, not before it.
        let store = self.store.clone();
        let cleaner = std::thread::spawn(move || store.clean_leftovers());
        let built = build::build(request, &self.store, &self.helper, events);
        let _ = cleaner.join();
        let built = built?;
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        for out in &request.outputs {
            out.write(&blobs, &built.manifest_descriptor, &request.tags)?;
        }
        Ok(built)
    }

    /// `pull`: `reference` from its registry through `client` into the
    /// store, recorded and tagged; returns what it resolved to and whether
    /// the name already pointed at that image.
    pub fn pull(
        &self,
        client: &rbuild_registry::Client,
        reference: &rbuild_llb::Reference,
        platform: Option<&rbuild_llb::Platform>,
        progress: &dyn rbuild_registry::Progress,
    ) -> Result<(rbuild_registry::Resolved, bool), BuildError> {
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let _lock = self.store.lock_shared()?;
        let resolved = client.pull(reference, platform, &blobs, progress)?;
        let name = reference.to_string();
        // Where each blob came from, for cross-repository mounts on push
        // (never a mirror: a push goes to the registry itself).
        if resolved.endpoints.first().is_some_and(|e| !e.mirror) {
            let repo = resolved.reference.repository();
            for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
                let _ = self.store.add_blob_source(blob.digest().as_ref(), &repo);
            }
        }
        let known = self.store.resolve(&name);
        let manifest = resolved.manifest.digest().to_string();
        rbuild_image::images::record(
            &self.store,
            &blobs,
            &manifest,
            None,
            &[resolved.repo_digest()],
            &resolved.index().into_iter().collect::<Vec<_>>(),
        )?;
        self.store.tag(&name, &manifest)?;
        let up_to_date = known.as_deref() == Some(manifest.as_str());
        Ok((resolved, up_to_date))
    }

    /// `push`: the store's image `reference` names to that registry
    /// through `client`. `Ok(None)`: the store has no image of that name.
    pub fn push(
        &self,
        client: &rbuild_registry::Client,
        reference: &rbuild_llb::Reference,
        progress: &dyn rbuild_registry::Progress,
    ) -> Result<Option<rbuild_registry::Pushed>, BuildError> {
        let Some(manifest) = self.store.resolve(&reference.to_string()) else { return Ok(None) };
        let manifest: rbuild_image::oci_spec::image::Digest = manifest
            .parse()
            .map_err(|e| BuildError::Internal(format!("the store names {manifest}: {e}")))?;
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let _lock = self.store.lock_shared()?;
        let sources =
            |d: &rbuild_image::oci_spec::image::Digest| self.store.blob_sources(d.as_ref());
        let pushed = client.push(&blobs, &manifest, reference, &sources, progress)?;
        if let Ok(manifest) = rbuild_image::read_manifest(&blobs, &manifest) {
            let repo = reference.repository();
            for blob in std::iter::once(manifest.config()).chain(manifest.layers()) {
                let _ = self.store.add_blob_source(blob.digest().as_ref(), &repo);
            }
        }
        Ok(Some(pushed))
    }

    /// Every image of the store with its names, newest first.
    pub fn images(&self) -> Result<Vec<rbuild_image::images::Image>, BuildError> {
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        Ok(rbuild_image::images::list(&self.store, &blobs)?)
    }

    /// `rmi`: what was untagged and deleted, and why each argument that
    /// failed did; then a GC when no build holds the store.
    pub fn remove_images(
        &self,
        args: &[String],
        force: bool,
        no_prune: bool,
    ) -> Result<
        (Vec<rbuild_image::images::Removed>, Vec<rbuild_image::images::ImageStoreError>),
        BuildError,
    > {
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let (done, errors) =
            rbuild_image::images::remove(&self.store, &blobs, args, force, no_prune);
        if done.iter().any(|d| matches!(d, rbuild_image::images::Removed::Deleted(_))) {
            rbuild_image::images::gc(&self.store, &blobs)?;
        }
        Ok((done, errors))
    }

    /// `save`: the images `names` give ([`rbuild_image::images::for_save`])
    /// as one archive, to the file `dest` (by temp file and rename) or, when
    /// `None`, to `out`. Holds the store shared, so no GC takes a blob
    /// while it is read.
    pub fn save<W: std::io::Write>(
        &self,
        names: &[String],
        format: rbuild_image::ArchiveFormat,
        dest: Option<&Path>,
        out: W,
    ) -> Result<W, BuildError> {
        let _lock = self.store.lock_shared()?;
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let list = rbuild_image::images::list(&self.store, &blobs)?;
        let chosen: Vec<(rbuild_image::oci_spec::image::Digest, Vec<String>)> =
            rbuild_image::images::for_save(&list, names)?
                .into_iter()
                .map(|(image, names)| {
                    let digest = image.record.manifest.parse().map_err(|e| {
                        BuildError::Internal(format!("image record {}: {e}", image.record.manifest))
                    })?;
                    Ok((digest, names))
                })
                .collect::<Result<_, BuildError>>()?;
        match dest {
            Some(dest) => {
                rbuild_image::save_archive(&blobs, &chosen, format, dest)?;
                Ok(out)
            }
            None => {
                Ok(rbuild_image::write_archive(&blobs, &chosen, format, out, Path::new("stdout"))?)
            }
        }
    }

    /// [`Engine::load`] of an archive read from `input` (`docker load`
    /// from stdin), spooled to the store's temp directory first.
    pub fn load_reader(&self, mut input: impl std::io::Read) -> Result<Vec<Loaded>, BuildError> {
        let tmp = self.store.tmp_dir();
        let io =
            |what: &str, e: std::io::Error| BuildError::Io { what: what.to_owned(), source: e };
        std::fs::create_dir_all(&tmp).map_err(|e| io("cannot create the store's tmp", e))?;
        let mut file = tempfile::Builder::new()
            .prefix(&rbuild_cache::temp_prefix("load"))
            .tempfile_in(&tmp)
            .map_err(|e| io("cannot create the store's tmp", e))?;
        std::io::copy(&mut input, &mut file).map_err(|e| io("cannot read the archive", e))?;
        self.load(file.path())
    }

    /// Imports a `docker save` archive, an OCI archive or an OCI layout,
    /// tagging the images it names.
    pub fn load(&self, input: &Path) -> Result<Vec<Loaded>, BuildError> {
        let _lock = self.store.lock_shared()?;
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let mut loaded = Vec::new();
        for image in rbuild_image::import(&blobs, input)? {
            let manifest = image.manifest.digest().to_string();
            let record =
                rbuild_image::images::record(&self.store, &blobs, &manifest, None, &[], &[])?;
            if let Some(name) = &image.name {
                self.store.tag(name, &manifest)?;
            }
            loaded.push(Loaded { name: image.name, manifest, id: record.id });
        }
        Ok(loaded)
    }

    /// `tag SOURCE TARGET` ([`rbuild_image::images::tag`]) in this store;
    /// returns the target's normalized name.
    pub fn tag(&self, source: &str, target: &str) -> Result<String, BuildError> {
        let list = self.images()?;
        Ok(rbuild_image::images::tag(&self.store, &list, source, target)?)
    }

    /// Trims the build cache, least recently used first, to `keep_bytes`
    /// and of what was last used before `older_than`; then frees the layer
    /// blobs only the removed records held. Waits for running builds.
    pub fn prune_cache(
        &self,
        keep_bytes: Option<u64>,
        older_than: Option<u64>,
    ) -> Result<rbuild_cache::PruneStats, BuildError> {
        let mut stats = self.store.prune_cache(keep_bytes, older_than)?;
        let left = self.store.clean_leftovers();
        stats.entries += left.entries;
        stats.bytes += left.bytes;
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        rbuild_image::images::gc(&self.store, &blobs)?;
        Ok(stats)
    }

    /// `store check [--repair]`: every blob, image, name, cache record and
    /// snapshot verified ([`rbuild_image::images::check`]); waits for
    /// running builds.
    pub fn check_store(
        &self,
        repair: bool,
    ) -> Result<rbuild_image::images::CheckReport, BuildError> {
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        let report = rbuild_image::images::check(&self.store, &blobs, repair)?;
        if repair && report.repaired > 0 {
            rbuild_image::images::gc(&self.store, &blobs)?;
        }
        Ok(report)
    }

    /// Empties the build cache, and with `all` every image too; waits for
    /// running builds.
    pub fn prune(&self, all: bool) -> Result<rbuild_cache::PruneStats, BuildError> {
        let mut stats = self.store.prune(all)?;
        // Layers only the build cache held go too.
        let blobs = rbuild_image::Blobs::new(self.store.root())?;
        if let Some(gc) = rbuild_image::images::gc(&self.store, &blobs)? {
            stats.bytes += gc.bytes;
            stats.entries += gc.blobs;
        }
        Ok(stats)
    }
}
