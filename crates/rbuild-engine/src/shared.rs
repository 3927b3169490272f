//! The build cache shared across machines (`--cache-to`, `--cache-from`),
//! through any OCI registry or an OCI layout directory.
//!
//! Every exported step is one immutable object named by its cache key: an
//! OCI image manifest tagged `rbc1-<key>` whose config is the step's record
//! (the key, its components with values redacted, the layer's diff id and
//! size) and whose one layer is the step's layer. Two runners exporting the
//! same key write equivalent objects, so concurrent exports never corrupt
//! the cache and no index has to be kept consistent. Beside it, a tag
//! `rbs1-<hash of the step's identity>` points at the record a step last
//! exported, so another runner's miss can say what changed.
//!
//! Lookups are lazy: a key costs one HEAD when it misses; a hit fetches the
//! manifest and the record, and its layer only when a step runs on it or
//! the image needs its blob.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rbuild_image::oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest, MediaType};
use rbuild_image::{Blobs, Compression, Layer};
use rbuild_llb::{CacheKey, Component, Reference};
use serde::{Deserialize, Serialize};

use crate::events::Emitter;

/// `--cache-to`: where this build's cache records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheExport {
    /// The registry reference or directory.
    pub location: CacheLocation,
    /// Which steps are exported.
    pub mode: CacheMode,
    /// How layers are compressed in the cache.
    pub compression: Compression,
    /// A failed export is a warning, not a failed build.
    pub ignore_error: bool,
    /// Also export the contents of the build's `RUN --mount=type=cache`
    /// directories (`cache-mounts=true`); never by default.
    pub cache_mounts: bool,
    /// At most this many bytes of cache mounts; the largest are left out.
    pub cache_mounts_max_size: u64,
}

/// `--cache-from`: a cache to look keys up in after the local store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheImport {
    /// The registry reference or directory.
    pub location: CacheLocation,
}

/// Where a shared cache lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheLocation {
    /// A repository of an OCI registry (`ref=host/repo[:tag]`); records are
    /// tags of that repository.
    Registry(String),
    /// An OCI layout directory.
    Local(PathBuf),
}

/// Which steps `--cache-to` exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// The steps of the final image (its stage and the stages it is built
    /// on): BuildKit's default.
    #[default]
    Min,
    /// Every step of every stage the build needed.
    Max,
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry(r) => write!(f, "type=registry,ref={r}"),
            CacheLocation::Local(p) => write!(f, "type=local,{}", p.display()),
        }
    }
}

const TO_USAGE: &str = "expected type=registry,ref=REF or type=local,dest=DIR, then \
                        [,mode=min|max][,compression=gzip|zstd|uncompressed][,ignore-error=true]\
                        [,cache-mounts=true][,cache-mounts-max-size=SIZE]";
const FROM_USAGE: &str = "expected type=registry,ref=REF, type=local,src=DIR or REF";

/// Fields buildx users pass that mean nothing here: rbuild always writes
/// OCI image manifests, which every registry takes.
const IGNORED: [&str; 4] =
    ["oci-mediatypes", "image-manifest", "compression-level", "force-compression"];

fn fields(flag: &str, text: &str) -> Result<Vec<(String, String)>, String> {
    let fields = rbuild_llb::csv_fields(text).map_err(|e| format!("{flag} {text:?}: {e}"))?;
    // buildx takes a bare reference as type=registry,ref=REF.
    if fields.len() == 1 && !fields[0].contains('=') {
        return Ok(vec![("type".into(), "registry".into()), ("ref".into(), fields[0].clone())]);
    }
    fields
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_owned(), v.to_owned())),
            None => Err(format!("{flag} {text:?}: {f:?} is not KEY=VALUE")),
        })
        .collect()
}

fn flag_bool(flag: &str, text: &str, key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{flag} {text:?}: {key} must be true or false")),
    }
}

fn location(
    flag: &str,
    text: &str,
    kind: Option<&str>,
    reference: Option<String>,
    dir: Option<PathBuf>,
    usage: &str,
) -> Result<CacheLocation, String> {
    match (kind, reference, dir) {
        (Some("registry"), Some(r), None) => {
            Reference::parse(&r).map_err(|e| format!("{flag} {text:?}: ref={r}: {e}"))?;
            if r.contains('@') {
                return Err(format!(
                    "{flag} {text:?}: ref= takes a repository and tag, not a digest"
                ));
            }
            Ok(CacheLocation::Registry(r))
        }
        (Some("local"), None, Some(d)) => Ok(CacheLocation::Local(d)),
        (Some("inline"), _, _) => Err(format!(
            "{flag} {text:?}: the inline cache is not supported; use type=registry,ref=REF \
             (records beside the image, min or max)"
        )),
        (Some(k @ ("registry" | "local")), _, _) => {
            Err(format!("{flag} {text:?}: type={k}: {usage}"))
        }
        (Some(k), _, _) => Err(format!("{flag} {text:?}: unknown type {k:?}; {usage}")),
        (None, _, _) => Err(format!("{flag} {text:?}: {usage}")),
    }
}

impl CacheExport {
    /// Reads `--cache-to` as buildx takes it.
    pub fn parse(text: &str) -> Result<CacheExport, String> {
        let flag = "--cache-to";
        let (mut kind, mut reference, mut dir) = (None, None, None);
        let mut export = CacheExport {
            location: CacheLocation::Local(PathBuf::new()),
            mode: CacheMode::Min,
            compression: Compression::Gzip,
            ignore_error: false,
            cache_mounts: false,
            cache_mounts_max_size: 1 << 30,
        };
        for (key, value) in fields(flag, text)? {
            match key.as_str() {
                "type" => kind = Some(value),
                "ref" => reference = Some(value),
                "dest" => dir = Some(PathBuf::from(value)),
                "mode" => {
                    export.mode = match value.as_str() {
                        "min" => CacheMode::Min,
                        "max" => CacheMode::Max,
                        _ => return Err(format!("{flag} {text:?}: mode must be min or max")),
                    }
                }
                "compression" => {
                    export.compression = match value.as_str() {
                        "gzip" => Compression::Gzip,
                        "zstd" => Compression::Zstd,
                        "uncompressed" => Compression::None,
                        _ => {
                            return Err(format!(
                                "{flag} {text:?}: compression must be gzip, zstd or uncompressed"
                            ));
                        }
                    }
                }
                "ignore-error" => export.ignore_error = flag_bool(flag, text, &key, &value)?,
                "cache-mounts" => export.cache_mounts = flag_bool(flag, text, &key, &value)?,
                "cache-mounts-max-size" => {
                    export.cache_mounts_max_size = rbuild_llb::parse_size(&value)
                        .map_err(|e| format!("{flag} {text:?}: cache-mounts-max-size: {e}"))?;
                }
                k if IGNORED.contains(&k) => {}
                _ => return Err(format!("{flag} {text:?}: unknown field {key:?}; {TO_USAGE}")),
            }
        }
        export.location = location(flag, text, kind.as_deref(), reference, dir, TO_USAGE)?;
        Ok(export)
    }
}

impl CacheImport {
    /// Reads `--cache-from` as buildx takes it.
    pub fn parse(text: &str) -> Result<CacheImport, String> {
        let flag = "--cache-from";
        let (mut kind, mut reference, mut dir) = (None, None, None);
        for (key, value) in fields(flag, text)? {
            match key.as_str() {
                "type" => kind = Some(value),
                "ref" => reference = Some(value),
                "src" => dir = Some(PathBuf::from(value)),
                k if IGNORED.contains(&k) => {}
                _ => return Err(format!("{flag} {text:?}: unknown field {key:?}; {FROM_USAGE}")),
            }
        }
        Ok(CacheImport {
            location: location(flag, text, kind.as_deref(), reference, dir, FROM_USAGE)?,
        })
    }
}

/// The artifact type of a record's manifest.
pub(crate) const ARTIFACT_TYPE: &str = "application/vnd.rbuild.cache.v1";
/// The media type of a record (the manifest's config).
pub(crate) const RECORD_TYPE: &str = "application/vnd.rbuild.cache.record.v1+json";
/// The media type of a cache mount's record.
const MOUNT_TYPE: &str = "application/vnd.rbuild.cache.mount.v1+json";
const KEY_ANNOTATION: &str = "dev.rbuild.cache.key";
const DIFF_ID_ANNOTATION: &str = "dev.rbuild.cache.diff-id";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

fn record_tag(key: &CacheKey) -> String {
    format!("rbc1-{key}")
}

fn mount_tag(id: &str) -> String {
    let hash = blake3::hash(format!("rbuild cache mount\0{id}").as_bytes()).to_hex();
    format!("rbm1-{}", &hash[..32])
}

/// What a cache mount's record says (its id stays out: the tag is its hash).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct MountRecord {
    rbuild_cache_mount: u32,
    /// Bytes of its files.
    bytes: u64,
}

fn step_tag(identity: &str) -> String {
    let hash = blake3::hash(format!("rbuild step identity\0{identity}").as_bytes()).to_hex();
    format!("rbs1-{}", &hash[..32])
}

/// A record as it is shared: what another machine needs to use the step's
/// layer and to explain its own miss, and no more (values redacted).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SharedRecord {
    /// Format version.
    rbuild_cache: u32,
    key: CacheKey,
    /// Redacted ([`rbuild_llb::redact`]).
    components: Vec<Component>,
    layer: Option<SharedLayer>,
    /// The instruction's keyword (`RUN`), for people reading the registry.
    op: String,
    seconds: f64,
    /// Unix time the step ran, so another runner's image is dated alike.
    #[serde(default)]
    created: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct SharedLayer {
    /// The uncompressed tar's digest: the blob images hold.
    diff_id: String,
    /// The uncompressed tar's size.
    size: u64,
    /// Bytes of its contents.
    bytes: u64,
}

/// A step as a build exports it.
pub(crate) struct ExportStep {
    pub(crate) key: CacheKey,
    /// Its components, plain: redacted here.
    pub(crate) components: Vec<Component>,
    /// Its layer as the image holds it (uncompressed).
    pub(crate) layer: Option<Layer>,
    pub(crate) identity: String,
    pub(crate) op: String,
    pub(crate) seconds: f64,
    pub(crate) bytes: u64,
    pub(crate) created: u64,
}

/// A record found in a shared cache.
pub(crate) struct SharedHit {
    /// The step's layer as images hold it (uncompressed), if it made one.
    pub(crate) layer: Option<Layer>,
    pub(crate) seconds: f64,
    pub(crate) bytes: u64,
    /// Unix time the step ran; 0 when the record does not say.
    pub(crate) created: u64,
}

/// One registry repository or layout directory.
enum Backend {
    Registry { client: Box<rbuild_registry::Client>, repository: Reference },
    Dir { dir: PathBuf, blobs: Blobs },
}

/// What a lookup found: the manifest, its record, its layers.
struct Found<R> {
    manifest: Digest,
    record: R,
    layers: Vec<Descriptor>,
}

impl Backend {
    fn open(
        location: &CacheLocation,
        create: bool,
        auth: Option<&rbuild_registry::RequestAuth>,
    ) -> Result<Backend, String> {
        match location {
            CacheLocation::Registry(r) => {
                let mut repository = Reference::parse(r).map_err(|e| e.to_string())?;
                repository.tag = None;
                repository.digest = None;
                let client =
                    rbuild_registry::Client::for_request(auth).map_err(|e| e.to_string())?;
                Ok(Backend::Registry { client: Box::new(client), repository })
            }
            CacheLocation::Local(dir) => {
                if !create && !dir.join("index.json").is_file() {
                    return Err(format!("{}: no OCI layout here (no index.json)", dir.display()));
                }
                let blobs = Blobs::new(dir).map_err(|e| e.to_string())?;
                if create {
                    let layout = dir.join("oci-layout");
                    if !layout.exists() {
                        rbuild_cache::write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(Backend::Dir { dir: dir.clone(), blobs })
            }
        }
    }

    fn reference(repository: &Reference, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_owned()), ..repository.clone() }
    }

    /// The step record tagged `tag`, verified, or `None` when there is none.
    fn find(&self, tag: &str, local: &Blobs) -> Result<Option<Found<SharedRecord>>, String> {
        let Some(found) = self.find_raw(tag, RECORD_TYPE, local)? else { return Ok(None) };
        let record: SharedRecord = serde_json::from_slice(&found.record)
            .map_err(|e| format!("{tag}: not an rbuild cache record: {e}"))?;
        if record.rbuild_cache != 1 {
            return Ok(None);
        }
        if record.layer.is_some() != (found.layers.len() == 1) {
            return Err(format!("{tag}: the record and its manifest disagree on the layer"));
        }
        Ok(Some(Found { manifest: found.manifest, record, layers: found.layers }))
    }

    /// The manifest tagged `tag` whose config is of `config_type`, with the
    /// config's bytes, verified by digest.
    fn find_raw(
        &self,
        tag: &str,
        config_type: &str,
        local: &Blobs,
    ) -> Result<Option<Found<Vec<u8>>>, String> {
        let (manifest, manifest_bytes, config_bytes) = match self {
            Backend::Registry { client, repository } => {
                let reference = Backend::reference(repository, tag);
                let resolved = match client.resolve(&reference, None, local) {
                    Ok(r) => r,
                    Err(rbuild_registry::Error::NotFound { .. }) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                let digest = resolved.manifest.digest().clone();
                let bytes = local.read(&digest).map_err(|e| e.to_string())?;
                let config = local.read(resolved.config.digest()).map_err(|e| e.to_string())?;
                (digest, bytes, config)
            }
            Backend::Dir { dir, blobs } => {
                let Some(digest) = dir_index(dir)?.remove(tag) else { return Ok(None) };
                let bytes = blobs.read(&digest).map_err(|e| e.to_string())?;
                let manifest: ImageManifest =
                    serde_json::from_slice(&bytes).map_err(|e| format!("{tag}: {e}"))?;
                let config = blobs.read(manifest.config().digest()).map_err(|e| e.to_string())?;
                (digest, bytes, config)
            }
        };
        let manifest_value: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| format!("{tag}: not an image manifest: {e}"))?;
        if manifest_value.config().media_type().to_string() != config_type {
            return Err(format!("{tag}: not an rbuild cache record"));
        }
        let layers = manifest_value.layers().clone();
        Ok(Some(Found { manifest, record: config_bytes, layers }))
    }

    /// The digest of the manifest tagged `tag`, if there is one (one HEAD).
    fn digest_of(&self, tag: &str) -> Result<Option<Digest>, String> {
        match self {
            Backend::Registry { client, repository } => client
                .manifest_digest(&Backend::reference(repository, tag))
                .map_err(|e| e.to_string()),
            Backend::Dir { dir, .. } => Ok(dir_index(dir)?.remove(tag)),
        }
    }

    /// Puts the blob `blob` into `local`, checked against its digest.
    fn fetch(&self, blob: &Descriptor, local: &Blobs) -> Result<(), String> {
        match self {
            Backend::Registry { client, repository } => client
                .fetch_blob(repository, blob, local, &rbuild_registry::Quiet)
                .map_err(|e| e.to_string()),
            Backend::Dir { blobs, .. } => copy_blob(blobs, local, blob.digest()),
        }
    }

    /// Publishes the manifest `manifest` of `local` (its config and layers
    /// first) under each of `tags`.
    fn publish(&self, local: &Blobs, manifest: &Digest, tags: &[String]) -> Result<(), String> {
        match self {
            Backend::Registry { client, repository } => {
                for tag in tags {
                    let target = Backend::reference(repository, tag);
                    // Runners pushing the same blob at once can make the
                    // registry refuse a manifest for a blob it is still
                    // committing (distribution: MANIFEST_BLOB_UNKNOWN).
                    // Records are keyed and immutable, so trying again
                    // (HEADs first, uploads only of what is missing) is safe.
                    let mut attempt = 0;
                    loop {
                        let pushed = client.push(
                            local,
                            manifest,
                            &target,
                            &|_| Vec::new(),
                            &rbuild_registry::Quiet,
                        );
                        match pushed {
                            Ok(_) => break,
                            Err(rbuild_registry::Error::Registry { .. }) if attempt < 4 => {
                                attempt += 1;
                                std::thread::sleep(std::time::Duration::from_millis(
                                    100 << attempt,
                                ));
                            }
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                }
                Ok(())
            }
            Backend::Dir { dir, blobs } => {
                let bytes = local.read(manifest).map_err(|e| e.to_string())?;
                let parsed: ImageManifest =
                    serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                for blob in parsed.layers().iter().chain(std::iter::once(parsed.config())) {
                    copy_blob(local, blobs, blob.digest())?;
                }
                copy_blob(local, blobs, manifest)?;
                let descriptor =
                    Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, manifest.clone());
                update_dir_index(dir, &descriptor, tags)
            }
        }
    }
}

fn copy_blob(from: &Blobs, to: &Blobs, digest: &Digest) -> Result<(), String> {
    if to.has(digest) {
        return Ok(());
    }
    let file = from.open(digest).map_err(|e| e.to_string())?;
    to.put_reader_verified(file, digest, Path::new(digest.as_ref()))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The tags of a layout directory's index.json and what they name.
fn dir_index(dir: &Path) -> Result<HashMap<String, Digest>, String> {
    let path = dir.join("index.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let index: ImageIndex =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(index
        .manifests()
        .iter()
        .filter_map(|d| {
            let name = d.annotations().as_ref()?.get(REF_NAME)?;
            Some((name.clone(), d.digest().clone()))
        })
        .collect())
}

/// Adds `tags` → `descriptor` to a layout directory's index.json, under a
/// lock so runners sharing the directory never lose each other's entries.
fn update_dir_index(dir: &Path, descriptor: &Descriptor, tags: &[String]) -> Result<(), String> {
    let lock_path = dir.join("index.json.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;
    // Released when `file` closes, at the end of this function.
    file.lock().map_err(|e| format!("{}: {e}", lock_path.display()))?;
    let path = dir.join("index.json");
    let mut value: serde_json::Value = match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display()))?,
        Err(_) => serde_json::json!({ "schemaVersion": 2, "manifests": [] }),
    };
    let manifests = value["manifests"]
        .as_array_mut()
        .ok_or_else(|| format!("{}: no manifests list", path.display()))?;
    manifests.retain(|m| {
        let name = m["annotations"][REF_NAME].as_str().unwrap_or("");
        !tags.iter().any(|t| t == name)
    });
    for tag in tags {
        let mut entry = serde_json::to_value(descriptor).map_err(|e| e.to_string())?;
        entry["annotations"] = serde_json::json!({ REF_NAME: tag });
        manifests.push(entry);
    }
    value["mediaType"] = serde_json::json!("application/vnd.oci.image.index.v1+json");
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    rbuild_cache::write_atomic(&path, &bytes).map_err(|e| e.to_string())
}

/// A layer's fetch, done once.
type Fetch = OnceLock<Result<(), String>>;

/// A `--cache-from` source as a build uses it.
struct Source {
    location: CacheLocation,
    backend: Result<Backend, String>,
    /// Set at its first failure: the rest of the build does without it.
    broken: AtomicBool,
}

/// The shared caches one build reads, and the layers its hits left to
/// fetch.
pub(crate) struct SharedCache {
    sources: Vec<Source>,
    /// Layers of hits not fetched yet: uncompressed digest → (source, blob).
    pending: Mutex<HashMap<String, (usize, Descriptor, Digest)>>,
    /// One fetch per layer, whatever the number of steps needing it.
    fetched: Mutex<HashMap<String, Arc<Fetch>>>,
    /// Cache mounts looked up, once per id.
    restored: Mutex<HashMap<String, Arc<OnceLock<()>>>>,
    /// The build's own registry credentials, for exports too.
    auth: Option<rbuild_registry::RequestAuth>,
}

impl SharedCache {
    /// The caches `imports` name, opened lazily (a registry is not asked
    /// anything before the first key).
    pub(crate) fn new(
        imports: &[CacheImport],
        auth: Option<&rbuild_registry::RequestAuth>,
    ) -> SharedCache {
        let sources = imports
            .iter()
            .map(|i| Source {
                location: i.location.clone(),
                backend: Backend::open(&i.location, false, auth),
                broken: AtomicBool::new(false),
            })
            .collect();
        SharedCache {
            auth: auth.cloned(),
            sources,
            pending: Mutex::default(),
            fetched: Mutex::default(),
            restored: Mutex::default(),
        }
    }

    fn usable(&self, events: &Emitter<'_>) -> impl Iterator<Item = (usize, &Source, &Backend)> {
        self.sources.iter().enumerate().filter_map(move |(i, s)| {
            if s.broken.load(Ordering::Relaxed) {
                return None;
            }
            match &s.backend {
                Ok(b) => Some((i, s, b)),
                Err(e) => {
                    self.give_up(s, e, events);
                    None
                }
            }
        })
    }

    fn give_up(&self, source: &Source, why: &str, events: &Emitter<'_>) {
        if !source.broken.swap(true, Ordering::Relaxed) {
            events.warning(&format!(
                "--cache-from {}: {why}; the build goes on without it",
                source.location
            ));
        }
    }

    /// The record of `key` in the first source that has it.
    pub(crate) fn lookup(
        &self,
        key: &CacheKey,
        local: &Blobs,
        events: &Emitter<'_>,
    ) -> Option<SharedHit> {
        for (i, source, backend) in self.usable(events) {
            match backend.find(&record_tag(key), local) {
                Ok(None) => continue,
                Err(e) => {
                    self.give_up(source, &e, events);
                    continue;
                }
                Ok(Some(found)) if found.record.key != *key => {
                    self.give_up(
                        source,
                        &format!("the record tagged for {key} is of another key"),
                        events,
                    );
                    continue;
                }
                Ok(Some(found)) => {
                    let layer = match (&found.record.layer, found.layers.first()) {
                        (Some(l), Some(blob)) => {
                            let Ok(diff_id) = Digest::from_str(&l.diff_id) else {
                                self.give_up(source, &format!("bad diff id in {key}"), events);
                                continue;
                            };
                            self.pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(diff_id.to_string(), (i, blob.clone(), diff_id.clone()));
                            Some(Layer {
                                descriptor: Descriptor::new(
                                    Compression::None.media_type(),
                                    l.size,
                                    diff_id.clone(),
                                ),
                                diff_id,
                            })
                        }
                        _ => None,
                    };
                    return Some(SharedHit {
                        layer,
                        seconds: found.record.seconds,
                        bytes: found.record.layer.as_ref().map_or(0, |l| l.bytes),
                        created: found.record.created,
                    });
                }
            }
        }
        None
    }

    /// The redacted components the step `identity` last had where another
    /// machine exported it.
    pub(crate) fn step_history(
        &self,
        identity: &str,
        local: &Blobs,
        events: &Emitter<'_>,
    ) -> Option<Vec<Component>> {
        for (_, source, backend) in self.usable(events) {
            match backend.find(&step_tag(identity), local) {
                Ok(Some(found)) => return Some(found.record.components),
                Ok(None) => {}
                Err(e) => self.give_up(source, &e, events),
            }
        }
        None
    }

    /// Makes sure the blob of `layer` is in `local`: fetched from the
    /// source of the hit that named it and uncompressed, checked against
    /// its diff id, when it is not.
    pub(crate) fn ensure_blob(
        &self,
        local: &Blobs,
        layer: &Layer,
    ) -> Result<(), crate::BuildError> {
        let digest = layer.descriptor.digest();
        if local.has(digest) {
            return Ok(());
        }
        let Some((source, blob, diff_id)) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest.to_string())
            .cloned()
        else {
            return Err(crate::BuildError::Internal(format!("layer {digest} is not in the store")));
        };
        let once = self
            .fetched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(digest.to_string())
            .or_default()
            .clone();
        let result = once.get_or_init(|| {
            let s = &self.sources[source];
            let backend = s.backend.as_ref().map_err(Clone::clone)?;
            backend.fetch(&blob, local)?;
            if blob.digest() != &diff_id {
                let compressed = Layer { descriptor: blob.clone(), diff_id: diff_id.clone() };
                let reader =
                    rbuild_image::open_layer(local, &compressed).map_err(|e| e.to_string())?;
                local
                    .put_reader_verified(reader, &diff_id, Path::new(diff_id.as_ref()))
                    .map_err(|e| format!("layer {diff_id}: {e}"))?;
            }
            Ok(())
        });
        result.clone().map_err(|why| {
            let location = &self.sources[source].location;
            crate::BuildError::Layer(format!(
                "--cache-from {location}: cannot fetch layer {digest}: {why}"
            ))
        })
    }
}

impl SharedCache {
    /// Fills the cache mount `id` from the first source that exported it,
    /// when this machine has none yet: before the first RUN that mounts it.
    /// A failure is a warning (the mount starts empty, as it would have).
    pub(crate) fn restore_mount(
        &self,
        mounts: &rbuild_runtime::CacheMounts,
        id: &str,
        owner: rbuild_runtime::CacheOwner,
        local: &Blobs,
        events: &Emitter<'_>,
    ) {
        if self.sources.is_empty() || mounts.existing(id, owner).is_some() {
            return;
        }
        let once = self
            .restored
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(owner.cache_identity(id))
            .or_default()
            .clone();
        once.get_or_init(|| {
            for (_, source, backend) in self.usable(events) {
                let tag = mount_tag(&owner.cache_identity(id));
                let found = match backend.find_raw(&tag, MOUNT_TYPE, local) {
                    Ok(Some(found)) => found,
                    Ok(None) => continue,
                    Err(e) => {
                        self.give_up(source, &e, events);
                        continue;
                    }
                };
                let Some(blob) = found.layers.first() else { return };
                let restored = backend.fetch(blob, local).and_then(|()| {
                    let layer = Layer { descriptor: blob.clone(), diff_id: blob.digest().clone() };
                    let other = |e: String| std::io::Error::other(e);
                    mounts
                        .seed(id, owner, |dir| {
                            let tar = rbuild_image::open_layer(local, &layer)
                                .map_err(|e| other(e.to_string()))?;
                            rbuild_image::apply_flat(tar, dir)
                                .map(|_| ())
                                .map_err(|e| other(e.to_string()))
                        })
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                if let Err(e) = restored {
                    events.warning(&format!(
                        "--cache-from {}: cache mount {id}: {e}; it starts empty",
                        source.location
                    ));
                }
                return;
            }
        });
    }
}

/// Exports the cache mounts `mounts` (id, owner, directory), each as one object
/// tagged `rbm1-<hash of the id>` whose layer holds the directory's files
/// (last writer wins: a cache mount is a cache, not a result). While they
/// add up to more than `cache-mounts-max-size`, the largest is left out,
/// with a warning. Returns how many were exported.
pub(crate) fn export_mounts(
    export: &CacheExport,
    mounts: &[(String, rbuild_runtime::CacheOwner, PathBuf)],
    local: &Blobs,
    shared: &SharedCache,
    epoch: Option<u64>,
    events: &Emitter<'_>,
) -> Result<usize, String> {
    if mounts.is_empty() {
        return Ok(0);
    }
    let backend = Backend::open(&export.location, true, shared.auth.as_ref())?;
    let mut sized: Vec<(u64, &String, &rbuild_runtime::CacheOwner, &PathBuf)> = mounts
        .iter()
        .map(|(id, owner, dir)| (rbuild_cache::disk_usage(dir), id, owner, dir))
        .collect();
    sized.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut total: u64 = sized.iter().map(|s| s.0).sum();
    while total > export.cache_mounts_max_size {
        let Some((size, id, _, _)) = sized.pop() else { break };
        total -= size;
        events.warning(&format!(
            "--cache-to {}: cache mount {id} ({size} bytes) left out: the cache mounts are over \
             cache-mounts-max-size ({} bytes)",
            export.location, export.cache_mounts_max_size
        ));
    }
    for (_, id, owner, dir) in &sized {
        let options = rbuild_image::DiffOptions { source_date_epoch: epoch };
        let (layer, stats) = rbuild_image::layer_from_dir(local, dir, &options, export.compression)
            .map_err(|e| format!("cache mount {id}: {e}"))?;
        let record = MountRecord { rbuild_cache_mount: 1, bytes: stats.content_bytes };
        let layers = serde_json::json!([layer.descriptor]);
        let manifest = put_manifest(local, MOUNT_TYPE, &record, layers, None)?;
        backend.publish(local, &manifest, &[mount_tag(&owner.cache_identity(id))])?;
    }
    Ok(sized.len())
}

/// What one export did.
#[derive(Debug, Default)]
pub(crate) struct Exported {
    /// Records written.
    pub(crate) written: usize,
    /// Records the cache already had.
    pub(crate) present: usize,
}

/// Exports `steps` to `export`'s location: each record not there yet (its
/// layer compressed as asked), and each step's history tag.
pub(crate) fn export(
    export: &CacheExport,
    steps: &[ExportStep],
    local: &Blobs,
    shared: &SharedCache,
) -> Result<Exported, String> {
    let backend = Backend::open(&export.location, true, shared.auth.as_ref())?;
    let done = Mutex::new(Exported::default());
    let next = Mutex::new(steps.iter());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..steps.len().clamp(1, 4) {
            scope.spawn(|| {
                loop {
                    if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                        return;
                    }
                    let Some(step) = next.lock().unwrap_or_else(|p| p.into_inner()).next() else {
                        return;
                    };
                    match export_step(&backend, export, step, local, shared) {
                        Ok(true) => done.lock().unwrap_or_else(|p| p.into_inner()).written += 1,
                        Ok(false) => done.lock().unwrap_or_else(|p| p.into_inner()).present += 1,
                        Err(e) => {
                            failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    Ok(done.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Exports one step; `true` when its record was written, `false` when the
/// cache had it (then only its history tag moves).
fn export_step(
    backend: &Backend,
    export: &CacheExport,
    step: &ExportStep,
    local: &Blobs,
    shared: &SharedCache,
) -> Result<bool, String> {
    let tag = record_tag(&step.key);
    let history = step_tag(&step.identity);
    // Already there: two HEADs when the step's history points at it too.
    if let Some(digest) = backend.digest_of(&tag)? {
        if backend.digest_of(&history)?.as_ref() == Some(&digest) {
            return Ok(false);
        }
        if let Some(found) = backend.find(&tag, local)? {
            backend.publish(local, &found.manifest, &[history])?;
            return Ok(false);
        }
    }
    let mut layers = Vec::new();
    let mut shared_layer = None;
    if let Some(layer) = &step.layer {
        shared.ensure_blob(local, layer).map_err(|e| e.to_string())?;
        let blob = match export.compression {
            Compression::None => layer.clone(),
            c => {
                let reader = rbuild_image::open_layer(local, layer).map_err(|e| e.to_string())?;
                rbuild_image::compress_layer(local, reader, c).map_err(|e| e.to_string())?
            }
        };
        let mut value = serde_json::to_value(&blob.descriptor).map_err(|e| e.to_string())?;
        value["annotations"] = serde_json::json!({ DIFF_ID_ANNOTATION: layer.diff_id.to_string() });
        layers.push(value);
        shared_layer = Some(SharedLayer {
            diff_id: layer.diff_id.to_string(),
            size: layer.descriptor.size(),
            bytes: step.bytes,
        });
    }
    let record = SharedRecord {
        rbuild_cache: 1,
        key: step.key,
        components: rbuild_llb::redact(&step.components),
        layer: shared_layer,
        op: step.op.clone(),
        seconds: step.seconds,
        created: step.created,
    };
    let annotations = serde_json::json!({ KEY_ANNOTATION: step.key.to_string() });
    let manifest =
        put_manifest(local, RECORD_TYPE, &record, serde_json::json!(layers), Some(annotations))?;
    backend.publish(local, &manifest, &[tag, history])?;
    Ok(true)
}

/// Puts in `local` a shared-cache object: `record` as the config (of
/// `config_type`), `layers` and `annotations` in an OCI image manifest of
/// rbuild's artifact type; returns the manifest's digest.
fn put_manifest(
    local: &Blobs,
    config_type: &str,
    record: &impl Serialize,
    layers: serde_json::Value,
    annotations: Option<serde_json::Value>,
) -> Result<Digest, String> {
    let record_bytes = rbuild_image::canonical_json(record).map_err(|e| e.to_string())?;
    let config = local.put_bytes(&record_bytes).map_err(|e| e.to_string())?;
    let mut manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": ARTIFACT_TYPE,
        "config": { "mediaType": config_type, "digest": config.digest.to_string(), "size": config.size },
        "layers": layers,
    });
    if let Some(annotations) = annotations {
        manifest["annotations"] = annotations;
    }
    let bytes = rbuild_image::canonical_json(&manifest).map_err(|e| e.to_string())?;
    Ok(local.put_bytes(&bytes).map_err(|e| e.to_string())?.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_flags_parse_as_buildx_takes_them() {
        let to = CacheExport::parse(
            "type=registry,ref=localhost:5000/app:cache,mode=max,ignore-error=true",
        )
        .unwrap();
        assert_eq!(to.location, CacheLocation::Registry("localhost:5000/app:cache".into()));
        assert_eq!(
            (to.mode, to.compression, to.ignore_error),
            (CacheMode::Max, Compression::Gzip, true)
        );
        let to = CacheExport::parse("type=local,dest=/tmp/c,compression=zstd,oci-mediatypes=true")
            .unwrap();
        assert_eq!(to.location, CacheLocation::Local("/tmp/c".into()));
        assert_eq!((to.mode, to.compression), (CacheMode::Min, Compression::Zstd));
        assert!(!to.cache_mounts && to.cache_mounts_max_size == 1 << 30, "off by default, 1 GiB");
        let to =
            CacheExport::parse("type=local,dest=/c,cache-mounts=true,cache-mounts-max-size=200MB")
                .unwrap();
        assert!(to.cache_mounts && to.cache_mounts_max_size == 200 << 20);
        let from = CacheImport::parse("localhost:5000/app:cache").unwrap();
        assert_eq!(from.location, CacheLocation::Registry("localhost:5000/app:cache".into()));
        let from = CacheImport::parse("type=local,src=/tmp/c").unwrap();
        assert_eq!(from.location, CacheLocation::Local("/tmp/c".into()));
        for (bad, says) in [
            ("type=registry", "type=registry"),
            ("type=registry,ref=x,mode=all", "mode must be min or max"),
            ("type=local,dest=/d,colour=red", "unknown field \"colour\""),
            ("type=inline", "inline cache is not supported"),
            ("type=s3,ref=x", "unknown type \"s3\""),
            (
                "type=registry,ref=a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                "not a digest",
            ),
        ] {
            let e = CacheExport::parse(bad).unwrap_err();
            assert!(e.contains(says) && e.contains("--cache-to"), "{bad}: {e}");
        }
        let e = CacheImport::parse("type=local,dest=/d").unwrap_err();
        assert!(e.contains("unknown field \"dest\""), "{e}");
    }
}
