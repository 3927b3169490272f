//! The store under `$RBUILD_ROOT`: `blobs/sha256/` (OCI-layout compatible,
//! written by rbuild-image), `snapshots/<id>/` (unpacked layers used as
//! overlay lower dirs), `cache/` (cache-key records), `steps/` (the last
//! record of each step, to explain the next miss), `images/` (names to
//! manifest digests), `manifests/` (one record per image, named or not:
//! what `images` lists and what GC keeps), `in-use/` (marks of the images
//! running builds use), `cache-mounts/`, `tmp/`. Every write goes to a temp
//! file beside its target, is fsynced and renamed, so a crash never leaves
//! a half-written record; a lock keeps prune away from running builds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use rbuild_llb::{CacheKey, Component};

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A record of the store is not what rbuild writes.
    #[error("{}: corrupt record: {why}", path.display())]
    Corrupt {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A name or id is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_owned(), source }
}

/// A snapshot's id: a short name, since overlay options must fit a page.
pub type SnapshotId = String;

/// The layer a cache record produced, as the image needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Digest of the compressed blob (`sha256:…`).
    pub digest: String,
    /// Digest of the uncompressed tar (`sha256:…`), for `rootfs.diff_ids`.
    pub diff_id: String,
    /// Size of the compressed blob.
    pub size: u64,
    /// Media type of the blob.
    pub media_type: String,
}

/// What one executed step left in the store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// The key it answers.
    pub key: CacheKey,
    /// What the key was made of, to explain a later miss.
    pub components: Vec<Component>,
    /// The snapshot holding the step's changes (its parent chain follows);
    /// `None` with a layer: the layer is unpacked when a step needs it.
    pub snapshot: Option<SnapshotId>,
    /// The layer made of those changes, once exported.
    pub layer: Option<LayerRef>,
    /// The instruction, for people reading the store and reports.
    pub instruction: String,
    /// Seconds the step took when it ran.
    pub seconds: f64,
    /// Bytes of the layer's contents.
    pub bytes: u64,
    /// Unix time the record was written.
    pub created: u64,
}

/// A held lock on the store; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    _lock: Flock<fs::File>,
}

/// A snapshot being written: its upper and work directories; commit it
/// once the step succeeded, or let it go.
#[derive(Debug)]
pub struct NewSnapshot {
    /// Its id.
    pub id: SnapshotId,
    /// The overlay upper dir: becomes the snapshot's contents.
    pub upper: PathBuf,
    /// The overlay work dir; removed on commit.
    pub work: PathBuf,
    /// Where the overlay is mounted while the step runs.
    pub merged: PathBuf,
    /// The snapshot below, if any.
    pub parent: Option<SnapshotId>,
}

#[derive(Serialize, Deserialize)]
struct SnapshotMeta {
    parent: Option<SnapshotId>,
}

/// An image the store holds, tagged or not: everything `images`, `rmi`
/// and GC need without opening a blob. A record with `id` empty has not
/// been filled from its blobs yet (rbuild-image fills it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The manifest's digest: what the record is of.
    pub manifest: String,
    /// The image id: its config's digest.
    #[serde(default)]
    pub id: String,
    /// The config's `created`, as written there (RFC 3339), if any.
    #[serde(default)]
    pub created: Option<String>,
    /// Unix time the store got the image.
    #[serde(default)]
    pub added: u64,
    /// Unix time a build last used it as a base; 0 for never.
    #[serde(default)]
    pub last_used: u64,
    /// Bytes of its manifest, config and layer blobs.
    #[serde(default)]
    pub size: u64,
    /// Every blob it needs besides the manifest: config, then layers.
    #[serde(default)]
    pub blobs: Vec<String>,
    /// `repository@digest` names a registry serves it by (the digest of
    /// an index, for a multi-platform pull).
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Other blobs kept with it (the index a repo digest names).
    #[serde(default)]
    pub extra_blobs: Vec<String>,
    /// The manifest of the image it was built on, if it was.
    #[serde(default)]
    pub parent: Option<String>,
    /// Its config's labels, for `images -f label=`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Marks images a running build uses; the mark goes when this drops.
#[derive(Debug)]
pub struct InUse {
    path: PathBuf,
}

impl Drop for InUse {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

const DIRS: [&str; 13] = [
    "blobs/sha256",
    "manifests",
    "in-use",
    "sources",
    "snapshots",
    "cache",
    "steps",
    "images",
    "cache-mounts",
    "downloads",
    "context-files",
    "tmp",
    "state",
];

/// The start of a temp file's or directory's name: `KIND-PID-`, so that
/// what a crashed process left is told from what a running one is writing
/// ([`Store::clean_leftovers`]).
pub fn temp_prefix(kind: &str) -> String {
    format!("{kind}-{}-", std::process::id())
}

/// The process that made a temp entry named by [`temp_prefix`], if its name
/// says; `None` for other names.
fn owner_pid(name: &str) -> Option<i32> {
    name.split('-').nth(1)?.parse().ok()
}

/// Whether process `pid` still runs.
fn alive(pid: i32) -> bool {
    pid == std::process::id() as i32
        || !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        )
}

/// Removes the entries of `dir` named `PREFIX-PID-…` whose process is gone:
/// the temp files a crash left beside an output rbuild writes outside the
/// store (an export, say), found the next time that output is written.
pub fn clean_stale_temps(dir: &Path, prefix: &str) {
    let start = format!("{prefix}-");
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&start) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| !alive(p)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` atomically: temp file beside it, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(".tmp"))
        .tempfile_in(dir)
        .map_err(io_at(dir))?;
    tmp.write_all(bytes).map_err(io_at(path))?;
    tmp.as_file().sync_all().map_err(io_at(path))?;
    tmp.persist(path).map_err(|e| StoreError::Io { path: path.to_owned(), source: e.error })?;
    Ok(())
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Store {
    /// Where the store lives: `$RBUILD_ROOT`, else `/var/lib/rbuild` for
    /// root and `$XDG_DATA_HOME/rbuild` (or `~/.local/share/rbuild`) for
    /// others.
    pub fn default_root() -> PathBuf {
        if let Some(root) = std::env::var_os("RBUILD_ROOT").filter(|r| !r.is_empty()) {
            return PathBuf::from(root);
        }
        if nix::unistd::geteuid().is_root() {
            return PathBuf::from("/var/lib/rbuild");
        }
        let data = std::env::var_os("XDG_DATA_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."));
        data.join("rbuild")
    }

    /// Opens (creating) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let root = root.into();
        for dir in DIRS {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_at(&path))?;
        }
        Ok(Store { root })
    }

    /// The store's root: also the root of its OCI-layout blob store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Scratch space on the store's file system (renames into it are atomic).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where cache mounts live.
    pub fn cache_mounts_dir(&self) -> PathBuf {
        self.root.join("cache-mounts")
    }

    /// Files fetched by `ADD URL`, by digest, with the validators to
    /// revalidate them; build cache, so prune empties it.
    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Context files a remote client sent `rbuild serve`, by blake3 digest,
    /// so its next build sends only what changed; build cache, so prune
    /// empties it.
    pub fn context_files_dir(&self) -> PathBuf {
        self.root.join("context-files")
    }

    /// Per-step state directories (specs, status files) of running builds.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    fn lock(&self, arg: FlockArg) -> Result<StoreLock, StoreError> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let lock = Flock::lock(file, arg).map_err(|(_, e)| StoreError::Io {
            path: path.clone(),
            source: io::Error::from_raw_os_error(e as i32),
        })?;
        Ok(StoreLock { _lock: lock })
    }

    /// Held by every build: many at once, never during a prune.
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        self.lock(FlockArg::LockShared)
    }

    /// Held by prune: waits for running builds to finish.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        self.lock(FlockArg::LockExclusive)
    }

    // ---- snapshots ----

    /// Starts a snapshot on top of `parent`.
    pub fn create_snapshot(&self, parent: Option<&SnapshotId>) -> Result<NewSnapshot, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = format!(
            "{}-{}-{:?}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
        );
        let id = blake3::hash(seed.as_bytes()).to_hex()[..12].to_owned();
        // Made under a temp name with its owner (who writes it until it is
        // committed) and renamed: a snapshot always shows with its owner,
        // so a crash's leftover is one whose owner is gone.
        let snapshots = self.root.join("snapshots");
        let staging = snapshots.join(format!("{}{id}", temp_prefix(".new")));
        for d in ["fs", "w", "m"] {
            let d = staging.join(d);
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        let owner = staging.join("owner");
        fs::write(&owner, std::process::id().to_string()).map_err(io_at(&owner))?;
        let dir = snapshots.join(&id);
        fs::rename(&staging, &dir).map_err(io_at(&dir))?;
        let (upper, work, merged) = (dir.join("fs"), dir.join("w"), dir.join("m"));
        Ok(NewSnapshot { id, upper, work, merged, parent: parent.cloned() })
    }

    /// Makes a finished snapshot usable as a lower dir of later steps.
    pub fn commit_snapshot(&self, snapshot: NewSnapshot) -> Result<SnapshotId, StoreError> {
        let dir = self.root.join("snapshots").join(&snapshot.id);
        let _ = fs::remove_dir_all(&snapshot.work);
        let _ = fs::remove_dir(&snapshot.merged);
        let meta = serde_json::to_vec(&SnapshotMeta { parent: snapshot.parent.clone() })
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&dir.join("meta.json"), &meta)?;
        let _ = fs::remove_file(dir.join("owner"));
        Ok(snapshot.id)
    }

    /// Removes what crashed processes left behind, never what a running
    /// one is writing: unfinished snapshots whose owner is gone and their
    /// step state, temp files (`.tmp-PID-…`) in the store's directories,
    /// entries of `tmp/`, cache-mount staging directories. Every name says
    /// its owner ([`temp_prefix`]); one that does not is from an older
    /// rbuild and goes too. Needs no lock: builds run on beside it.
    pub fn clean_leftovers(&self) -> PruneStats {
        let mut stats = PruneStats::default();
        let mut remove = |path: &Path| {
            let bytes = du(path);
            let gone = if path.is_dir() { fs::remove_dir_all(path) } else { fs::remove_file(path) };
            if gone.is_ok() {
                stats.entries += 1;
                stats.bytes += bytes;
            }
        };
        let entries = |dir: &Path| -> Vec<(String, PathBuf)> {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        };
        let dead = |name: &str| owner_pid(name).is_none_or(|pid| !alive(pid));
        // Unfinished snapshots: no meta.json, an owner that is gone.
        let snapshots = self.root.join("snapshots");
        let being_written = |id: &str| {
            let dir = snapshots.join(id);
            !dir.join("meta.json").is_file()
                && fs::read_to_string(dir.join("owner"))
                    .ok()
                    .and_then(|o| o.trim().parse::<i32>().ok())
                    .is_some_and(alive)
        };
        for (name, path) in entries(&snapshots) {
            if name.starts_with(".new-") {
                if dead(&name) {
                    remove(&path);
                }
            } else if !path.join("meta.json").is_file() && !being_written(&name) {
                remove(&path);
            }
        }
        // Step state directories (named by their snapshot, made after it
        // and gone before it is committed) of no step running now; the
        // files beside them (stat caches) stay.
        for (name, path) in entries(&self.state_dir()) {
            let step_gone = path.is_dir() && !being_written(&name);
            if step_gone || (name.starts_with(".tmp") && dead(&name)) {
                remove(&path);
            }
        }
        for dir in ["blobs/sha256", "manifests", "cache", "steps", "images", "in-use", "sources"] {
            for (name, path) in entries(&self.root.join(dir)) {
                if name.starts_with(".tmp") && dead(&name) {
                    remove(&path);
                }
            }
        }
        for (name, path) in entries(&self.tmp_dir()) {
            if dead(&name) {
                remove(&path);
            }
        }
        for (_, cache) in entries(&self.cache_mounts_dir()) {
            for (name, path) in entries(&cache) {
                if (name.starts_with(".new-") || name.starts_with(".seed-")) && dead(&name) {
                    remove(&path);
                }
            }
        }
        stats
    }

    /// Throws away an unfinished snapshot (a failed or cancelled step).
    pub fn discard_snapshot(&self, snapshot: NewSnapshot) {
        let _ = fs::remove_dir_all(self.root.join("snapshots").join(&snapshot.id));
    }

    /// The contents directory of committed snapshot `id`.
    pub fn snapshot_dir(&self, id: &SnapshotId) -> PathBuf {
        self.root.join("snapshots").join(id).join("fs")
    }

    /// The contents directories of `id` and every snapshot below it,
    /// topmost first: the overlay lower dirs of a step on top of `id`.
    pub fn chain(&self, id: &SnapshotId) -> Result<Vec<PathBuf>, StoreError> {
        let mut out = Vec::new();
        let mut next = Some(id.clone());
        while let Some(id) = next {
            if out.len() > 10_000 {
                return Err(StoreError::Invalid(format!("snapshot chain of {id} loops")));
            }
            let meta_path = self.root.join("snapshots").join(&id).join("meta.json");
            let bytes = fs::read(&meta_path).map_err(io_at(&meta_path))?;
            let meta: SnapshotMeta = serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt { path: meta_path.clone(), why: e.to_string() })?;
            out.push(self.snapshot_dir(&id));
            next = meta.parent;
        }
        Ok(out)
    }

    // ---- cache records ----

    fn record_path(&self, key: &CacheKey) -> PathBuf {
        self.root.join("cache").join(format!("{key}.json"))
    }

    /// The record for `key`, if a build stored one; an unreadable record
    /// counts as absent (the step runs again and rewrites it).
    pub fn cache_get(&self, key: &CacheKey) -> Option<CacheRecord> {
        let path = self.record_path(key);
        let bytes = fs::read(&path).ok()?;
        let record: CacheRecord = serde_json::from_slice(&bytes).ok()?;
        // A record of a layer not unpacked yet (a hit imported from a shared
        // cache) is usable while its blob is in the store.
        let usable = match (&record.snapshot, &record.layer) {
            (Some(s), _) => self.chain(s).is_ok(),
            (None, Some(layer)) => layer
                .digest
                .strip_prefix("sha256:")
                .is_some_and(|hex| self.root.join("blobs/sha256").join(hex).is_file()),
            (None, None) => true,
        };
        if record.key != *key || !usable {
            return None;
        }
        // The record's mtime is when it was last used: prune trims the
        // least recently used first.
        let _ = fs::File::options()
            .append(true)
            .open(&path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        Some(record)
    }

    /// Forgets the record of `key` (`store check --repair` of a record
    /// whose layer or snapshot is gone).
    pub fn cache_remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        let path = self.record_path(key);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// The committed snapshots and the parent each names, for `store check`.
    pub fn snapshots(&self) -> Vec<(SnapshotId, Option<SnapshotId>)> {
        fs::read_dir(self.root.join("snapshots"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let id = e.file_name().to_string_lossy().into_owned();
                let meta: SnapshotMeta =
                    serde_json::from_slice(&fs::read(e.path().join("meta.json")).ok()?).ok()?;
                Some((id, meta.parent))
            })
            .collect()
    }

    /// Removes the snapshot `id` whole (`store check --repair`).
    pub fn remove_snapshot(&self, id: &SnapshotId) -> Result<(), StoreError> {
        let dir = self.root.join("snapshots").join(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_at(&dir)(e)),
        }
    }

    /// Stores `record` under its key.
    pub fn cache_put(&self, record: &CacheRecord) -> Result<(), StoreError> {
        let bytes =
            serde_json::to_vec_pretty(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&self.record_path(&record.key), &bytes)
    }

    fn step_path(&self, step: &str) -> PathBuf {
        let name = blake3::hash(step.as_bytes()).to_hex();
        self.root.join("steps").join(format!("{}.json", &name[..32]))
    }

    /// The components of the last build of `step` (an identity such as
    /// "context path, Dockerfile, stage, instruction number"), to explain
    /// why this build misses.
    pub fn last_components(&self, step: &str) -> Option<Vec<Component>> {
        serde_json::from_slice(&fs::read(self.step_path(step)).ok()?).ok()
    }

    /// Remembers the components of `step` in this build.
    pub fn set_last_components(
        &self,
        step: &str,
        components: &[Component],
    ) -> Result<(), StoreError> {
        let bytes =
            serde_json::to_vec(components).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&self.step_path(step), &bytes)
    }

    // ---- image names ----

    fn image_path(&self, name: &str) -> Result<PathBuf, StoreError> {
        if name.is_empty() || name.contains(['\0', '\n']) {
            return Err(StoreError::Invalid(format!("invalid image name {name:?}")));
        }
        // Names hold `/` and `:`; the file name is their digest, the name is inside.
        let file = blake3::hash(name.as_bytes()).to_hex();
        Ok(self.root.join("images").join(format!("{}.json", &file[..32])))
    }

    /// Points `name` (e.g. `app:1.0`) at a manifest digest; the image it
    /// pointed at before stays in the store, untagged. The image gets a
    /// record if it has none.
    pub fn tag(&self, name: &str, manifest: &str) -> Result<(), StoreError> {
        if self.image_record(manifest).is_none() {
            self.put_image(&ImageRecord {
                manifest: manifest.to_owned(),
                added: now(),
                ..ImageRecord::default()
            })?;
        }
        let path = self.image_path(name)?;
        let body = serde_json::json!({ "name": name, "manifest": manifest, "created": now() });
        write_atomic(&path, body.to_string().as_bytes())
    }

    /// The manifest digest `name` points at.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let bytes = fs::read(self.image_path(name).ok()?).ok()?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        (value["name"] == name).then(|| value["manifest"].as_str().map(str::to_owned))?
    }

    /// Every name and its manifest digest, sorted by name.
    pub fn images(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = fs::read_dir(self.root.join("images"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let value: serde_json::Value =
                    serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                Some((value["name"].as_str()?.to_owned(), value["manifest"].as_str()?.to_owned()))
            })
            .collect();
        out.sort();
        out
    }

    /// Removes a name (the image's blobs stay until a prune).
    pub fn untag(&self, name: &str) -> Result<bool, StoreError> {
        let path = self.image_path(name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Every name pointing at `manifest`, sorted.
    pub fn names_of(&self, manifest: &str) -> Vec<String> {
        self.images().into_iter().filter(|(_, m)| m == manifest).map(|(n, _)| n).collect()
    }

    // ---- image records ----

    fn record_file(&self, manifest: &str) -> Result<PathBuf, StoreError> {
        let hex = manifest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(format!("invalid manifest digest {manifest:?}")));
        }
        Ok(self.root.join("manifests").join(format!("{hex}.json")))
    }

    /// The record of the image whose manifest is `manifest`.
    pub fn image_record(&self, manifest: &str) -> Option<ImageRecord> {
        let bytes = fs::read(self.record_file(manifest).ok()?).ok()?;
        let record: ImageRecord = serde_json::from_slice(&bytes).ok()?;
        (record.manifest == manifest).then_some(record)
    }

    /// Writes (or replaces) an image's record.
    pub fn put_image(&self, record: &ImageRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&self.record_file(&record.manifest)?, &bytes)
    }

    /// Every image record, in no particular order; an unreadable one is
    /// skipped (GC keeps what it cannot read about).
    pub fn image_records(&self) -> Vec<ImageRecord> {
        fs::read_dir(self.root.join("manifests"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| serde_json::from_slice(&fs::read(e.path()).ok()?).ok())
            .collect()
    }

    /// Forgets an image (its names must be gone first); its blobs stay
    /// until a GC finds nothing else needs them.
    pub fn remove_image(&self, manifest: &str) -> Result<bool, StoreError> {
        let path = self.record_file(manifest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Notes that a build used `manifest` as a base just now.
    pub fn touch_image(&self, manifest: &str) -> Result<(), StoreError> {
        let Some(mut record) = self.image_record(manifest) else { return Ok(()) };
        record.last_used = now();
        self.put_image(&record)
    }

    /// Marks `manifests` as used by this process (a running build) until
    /// the returned guard drops; `rmi` will not delete them meanwhile.
    pub fn mark_in_use(&self, manifests: &[String]) -> Result<InUse, StoreError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name =
            format!("{}-{}.json", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let dir = self.root.join("in-use");
        fs::create_dir_all(&dir).map_err(io_at(&dir))?;
        let path = dir.join(name);
        let bytes =
            serde_json::to_vec(manifests).map_err(|e| StoreError::Invalid(e.to_string()))?;
        write_atomic(&path, &bytes)?;
        Ok(InUse { path })
    }

    /// The manifests running builds use (marks of processes that died are
    /// ignored and removed).
    pub fn in_use(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for entry in fs::read_dir(self.root.join("in-use")).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // A mark being written is a temp file beside its name: not ours
            // to judge, and not to remove.
            if !name.ends_with(".json") {
                continue;
            }
            let pid = name.split('-').next().and_then(|p| p.parse::<i32>().ok());
            if !pid.is_some_and(alive) {
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if let Ok(bytes) = fs::read(entry.path())
                && let Ok(list) = serde_json::from_slice::<Vec<String>>(&bytes)
            {
                out.extend(list);
            }
        }
        out
    }

    /// The exclusive lock if no build holds the store now, else `None`
    /// (GC then waits for a later chance instead of blocking).
    pub fn try_lock_exclusive(&self) -> Result<Option<StoreLock>, StoreError> {
        match self.lock(FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err(StoreError::Io { source, .. })
                if source.raw_os_error() == Some(nix::errno::Errno::EWOULDBLOCK as i32) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Every blob digest in the store (`sha256:…`), for GC.
    pub fn blob_digests(&self) -> Vec<String> {
        fs::read_dir(self.root.join("blobs/sha256"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|n| format!("sha256:{n}"))
            .collect()
    }

    /// Deletes a blob and what the store remembers of its sources; returns
    /// its size. Only GC calls this, under the exclusive lock.
    pub fn remove_blob(&self, digest: &str) -> Result<u64, StoreError> {
        let hex = self.sources_path(digest)?.file_name().map(|n| n.to_owned()).unwrap_or_default();
        let path = self.root.join("blobs/sha256").join(&hex);
        let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at(&path)(e)),
        }
        let _ = fs::remove_file(self.root.join("sources").join(&hex));
        Ok(size)
    }

    /// How many cache mounts there are and the bytes they hold.
    pub fn cache_mounts_usage(&self) -> (usize, u64) {
        let entries: Vec<PathBuf> = fs::read_dir(self.cache_mounts_dir())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        (entries.len(), entries.iter().map(|p| du(p)).sum())
    }

    /// Every readable cache record.
    pub fn cache_records(&self) -> Vec<CacheRecord> {
        fs::read_dir(self.root.join("cache"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| serde_json::from_slice::<CacheRecord>(&fs::read(e.path()).ok()?).ok())
            .collect()
    }

    /// The layer blobs the build cache's records refer to: GC keeps them.
    pub fn cache_layer_digests(&self) -> BTreeSet<String> {
        self.cache_records().into_iter().filter_map(|r| r.layer.map(|l| l.digest)).collect()
    }

    // ---- where blobs came from ----

    fn sources_path(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Invalid(format!("invalid blob digest {digest:?}")));
        }
        Ok(self.root.join("sources").join(hex))
    }

    /// Remembers that `repository` (`host/path`) holds the blob `digest`,
    /// so a push to another repository of that registry can mount it
    /// instead of uploading it.
    pub fn add_blob_source(&self, digest: &str, repository: &str) -> Result<(), StoreError> {
        let path = self.sources_path(digest)?;
        let mut known = self.blob_sources(digest);
        if known.iter().any(|r| r == repository) {
            return Ok(());
        }
        known.push(repository.to_owned());
        // The last few are enough to find one on the same registry.
        let start = known.len().saturating_sub(16);
        let body = known[start..].join("\n") + "\n";
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_at(dir))?;
        }
        write_atomic(&path, body.as_bytes())
    }

    /// The repositories known to hold the blob `digest`.
    pub fn blob_sources(&self, digest: &str) -> Vec<String> {
        let Ok(path) = self.sources_path(digest) else { return Vec::new() };
        fs::read_to_string(path)
            .map(|t| t.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }

    // ---- prune ----

    /// What a cache record takes: its snapshot's contents and its layer.
    pub fn record_bytes(record: &CacheRecord) -> u64 {
        record.bytes + record.layer.as_ref().map_or(0, |l| l.size)
    }

    /// Trims the build cache, least recently used first: every record
    /// last used before `older_than` (Unix time), then more until what is left
    /// takes at most `keep_bytes` (as [`record_bytes`](Store::record_bytes)
    /// counts). Snapshots no remaining record stands on go too, and
    /// unfinished ones a crash left. Waits for running builds.
    pub fn prune_cache(
        &self,
        keep_bytes: Option<u64>,
        older_than: Option<u64>,
    ) -> Result<PruneStats, StoreError> {
        let _lock = self.lock_exclusive()?;
        let mut stats = PruneStats::default();
        let mut records: Vec<(PathBuf, CacheRecord, u128)> = fs::read_dir(self.root.join("cache"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let record: CacheRecord = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
                let used = e
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(u128::from(record.created) * 1_000_000_000, |d| d.as_nanos());
                Some((e.path(), record, used))
            })
            .collect();
        // Most recently used first; the end of the list goes first.
        records.sort_by_key(|(_, r, used)| std::cmp::Reverse((*used, r.created)));
        let mut total: u64 = records.iter().map(|(_, r, _)| Store::record_bytes(r)).sum();
        while let Some((path, record, used)) = records.last() {
            let too_old = older_than.is_some_and(|t| *used < u128::from(t) * 1_000_000_000);
            let too_big = keep_bytes.is_some_and(|k| total > k);
            if !too_old && !too_big {
                break;
            }
            total -= Store::record_bytes(record);
            fs::remove_file(path).map_err(io_at(path))?;
            stats.entries += 1;
            stats.bytes += Store::record_bytes(record);
            records.pop();
        }
        // The snapshots the remaining records stand on, parents included.
        let mut keep = BTreeSet::new();
        for (_, record, _) in &records {
            let mut next = record.snapshot.clone();
            while let Some(id) = next {
                if !keep.insert(id.clone()) {
                    break;
                }
                let meta = self.root.join("snapshots").join(&id).join("meta.json");
                next = fs::read(&meta)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<SnapshotMeta>(&b).ok())
                    .and_then(|m| m.parent);
            }
        }
        let dir = self.root.join("snapshots");
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))?.flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&id) {
                fs::remove_dir_all(entry.path()).map_err(io_at(&entry.path()))?;
            }
        }
        Ok(stats)
    }

    /// Empties the build cache: cache records, step histories, snapshots,
    /// cache mounts and leftovers in tmp/ and state/; with `all`, also every
    /// image name and blob. Without `all`, blobs stay (images use them).
    /// Takes the exclusive lock, so it waits for running builds.
    pub fn prune(&self, all: bool) -> Result<PruneStats, StoreError> {
        let _lock = self.lock_exclusive()?;
        let mut stats = PruneStats::default();
        let mut dirs = vec![
            "cache",
            "steps",
            "snapshots",
            "cache-mounts",
            "downloads",
            "context-files",
            "tmp",
            "state",
        ];
        if all {
            dirs.extend(["images", "manifests", "blobs/sha256", "sources"]);
        }
        for dir in dirs {
            let path = self.root.join(dir);
            for entry in fs::read_dir(&path).map_err(io_at(&path))?.flatten() {
                let p = entry.path();
                stats.bytes += du(&p);
                stats.entries += 1;
                let result = if p.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
                result.map_err(io_at(&p))?;
            }
        }
        Ok(stats)
    }
}

/// What a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Top-level entries removed.
    pub entries: u64,
    /// Their bytes on disk.
    pub bytes: u64,
}

/// Bytes of the files under `path` (or of the file), links not followed.
pub fn disk_usage(path: &Path) -> u64 {
    du(path)
}

fn du(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path).into_iter().flatten().flatten().map(|e| du(&e.path())).sum()
}

/// Seconds since the epoch, for records.
pub fn unix_now() -> u64 {
    now()
}
