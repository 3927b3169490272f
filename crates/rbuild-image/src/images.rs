//! The image store as docker users know it: images listed from their
//! records (tagged, dangling, or parents of others), names resolved as the
//! docker CLI resolves them (a name, a full or short id, `name@digest`),
//! `rmi` that untags first and deletes when nothing refers any more, and
//! garbage collection by reachability.
//!
//! Records live in the store (`rbuild_cache::ImageRecord`); this module
//! fills them from the blobs once (id, created, size, blobs, labels) so
//! listing never opens a blob again.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr as _;

use oci_spec::image::Digest;
use rbuild_cache::{ImageRecord, Store, StoreError};

use crate::blobs::Blobs;
use crate::image::{read_config_blob, read_manifest};

/// Why an image-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageStoreError {
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob could not be read.
    #[error(transparent)]
    Image(#[from] crate::Error),
    /// Nothing in the store has that name or id.
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// The operation would break something; `-f` may or may not help (the
    /// message says).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A name given to tag, pull or push is not one docker would take.
    #[error(transparent)]
    Reference(#[from] rbuild_llb::ReferenceError),
    /// A tag names one image, so it cannot carry a digest (docker's rule).
    #[error("refusing to create a tag with a digest reference: {0}")]
    DigestTag(String),
}

type Result<T> = std::result::Result<T, ImageStoreError>;

/// One image with its names, as `images` and `inspect` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Its record.
    pub record: ImageRecord,
    /// The names pointing at it, sorted.
    pub names: Vec<String>,
    /// Whether another image was built on it.
    pub has_children: bool,
}

impl Image {
    /// Untagged and nothing built on it: what `-f dangling=true` lists and
    /// `image prune` removes.
    pub fn dangling(&self) -> bool {
        self.names.is_empty() && !self.has_children
    }
}

/// Fills `record` from its manifest and config blobs (a no-op when done).
pub fn fill(blobs: &Blobs, record: &mut ImageRecord) -> Result<bool> {
    if !record.id.is_empty() {
        return Ok(false);
    }
    let digest = Digest::from_str(&record.manifest).map_err(|e| {
        ImageStoreError::Store(StoreError::Invalid(format!("{}: {e}", record.manifest)))
    })?;
    let manifest_size = std::fs::metadata(blobs.path(&digest)?).map(|m| m.len()).unwrap_or(0);
    let manifest = read_manifest(blobs, &digest)?;
    let config = read_config_blob(blobs, manifest.config().digest())?;
    record.id = manifest.config().digest().to_string();
    record.created = config.created.clone();
    record.size = manifest_size
        + manifest.config().size()
        + manifest.layers().iter().map(|l| l.size()).sum::<u64>();
    record.blobs = std::iter::once(manifest.config().digest().to_string())
        .chain(manifest.layers().iter().map(|l| l.digest().to_string()))
        .collect();
    record.labels = config.config.as_ref().map(|c| c.labels.clone()).unwrap_or_default();
    Ok(true)
}

/// Records `manifest` as an image of the store (filled), with what a
/// build or a pull knows of it: the image it was built on, the
/// `repo@digest` names a registry serves it by and the blobs to keep
/// with it (an index).
pub fn record(
    store: &Store,
    blobs: &Blobs,
    manifest: &str,
    parent: Option<&str>,
    repo_digests: &[String],
    extra_blobs: &[String],
) -> Result<ImageRecord> {
    let mut record = store.image_record(manifest).unwrap_or_else(|| ImageRecord {
        manifest: manifest.to_owned(),
        added: rbuild_cache::unix_now(),
        ..ImageRecord::default()
    });
    fill(blobs, &mut record)?;
    if parent.is_some() {
        record.parent = parent.map(str::to_owned);
    }
    for (list, more) in
        [(&mut record.repo_digests, repo_digests), (&mut record.extra_blobs, extra_blobs)]
    {
        for item in more {
            if !list.contains(item) {
                list.push(item.clone());
            }
        }
    }
    store.put_image(&record)?;
    Ok(record)
}

/// Every image of the store with its names, newest first. Names whose
/// image has no record yet (a store from before records) get one; records
/// are filled from their blobs the first time and written back.
pub fn list(store: &Store, blobs: &Blobs) -> Result<Vec<Image>> {
    let names = store.images();
    let mut records: BTreeMap<String, ImageRecord> =
        store.image_records().into_iter().map(|r| (r.manifest.clone(), r)).collect();
    for (_, manifest) in &names {
        if !records.contains_key(manifest) {
            records.insert(
                manifest.clone(),
                ImageRecord { manifest: manifest.clone(), ..ImageRecord::default() },
            );
        }
    }
    let mut by_manifest: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, manifest) in &names {
        by_manifest.entry(manifest.as_str()).or_default().push(name.clone());
    }
    let parents: BTreeSet<String> = records.values().filter_map(|r| r.parent.clone()).collect();
    let mut out = Vec::with_capacity(records.len());
    for (manifest, mut record) in records {
        // An image whose blobs are gone is not listed (a GC or crash left
        // its record); its names still resolve to nothing usable.
        match fill(blobs, &mut record) {
            Ok(true) => {
                let _ = store.put_image(&record);
            }
            Ok(false) => {}
            Err(_) => continue,
        }
        out.push(Image {
            names: by_manifest.remove(manifest.as_str()).unwrap_or_default(),
            has_children: parents.contains(&manifest),
            record,
        });
    }
    out.sort_by(|a, b| {
        created_secs(&b.record).cmp(&created_secs(&a.record)).then(a.record.id.cmp(&b.record.id))
    });
    Ok(out)
}

/// Seconds since the epoch of an image's `created` (0 when unknown).
pub fn created_secs(record: &ImageRecord) -> i64 {
    record.created.as_deref().and_then(crate::parse_rfc3339).unwrap_or(0)
}

/// `tag SOURCE TARGET`, as the docker CLI checks it: the target first
/// (a reference without a digest), then the source ([`find`]); the
/// target's normalized name then points at the source's manifest.
/// Returns that name.
pub fn tag(store: &Store, images: &[Image], source: &str, target: &str) -> Result<String> {
    let reference = rbuild_llb::Reference::parse(target)?;
    if reference.digest.is_some() {
        return Err(ImageStoreError::DigestTag(target.to_owned()));
    }
    let (image, _, _) = find(images, source)?;
    let name = reference.to_string();
    store.tag(&name, &image.record.manifest)?;
    Ok(name)
}

/// How an argument named an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamedBy {
    /// By one of its names (`app:1`, `app@sha256:…`).
    Name,
    /// By its id, full or a prefix of it.
    Id,
}

/// The image `text` names, as the docker CLI finds it: a name in the
/// store (normalized: `app` is `docker.io/library/app:latest`), else an
/// id (`sha256:…` or a unique prefix of the hex, or a manifest digest).
pub fn find<'a>(images: &'a [Image], text: &str) -> Result<(&'a Image, NamedBy, Option<String>)> {
    if let Ok(reference) = rbuild_llb::Reference::parse(text) {
        let name = reference.to_string();
        if let Some(image) = images.iter().find(|i| i.names.contains(&name)) {
            return Ok((image, NamedBy::Name, Some(name)));
        }
        if reference.digest.is_some() {
            let digest = reference.digest.clone().unwrap_or_default();
            let repo = reference.repository();
            if let Some(image) = images.iter().find(|i| {
                i.record.manifest == digest
                    || i.record.repo_digests.iter().any(|r| *r == format!("{repo}@{digest}"))
            }) {
                return Ok((image, NamedBy::Name, None));
            }
        }
    }
    let hex = text.strip_prefix("sha256:").unwrap_or(text).to_ascii_lowercase();
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let matches: Vec<&Image> = images
            .iter()
            .filter(|i| {
                i.record.id.strip_prefix("sha256:").is_some_and(|h| h.starts_with(&hex))
                    || (hex.len() == 64 && i.record.manifest.ends_with(&hex))
            })
            .collect();
        let ids: BTreeSet<&str> = matches.iter().map(|i| i.record.id.as_str()).collect();
        match ids.len() {
            0 => {}
            1 => return Ok((matches[0], NamedBy::Id, None)),
            _ => {
                return Err(ImageStoreError::Conflict(format!(
                    "{text} matches {} images; give more of the id",
                    ids.len()
                )));
            }
        }
    }
    Err(ImageStoreError::NoSuchImage(text.to_owned()))
}

/// An image as `docker image inspect` and the Engine API's
/// `GET /images/{name}/json` show it.
pub fn inspect(blobs: &Blobs, image: &Image) -> Result<serde_json::Value> {
    let id = image.record.id.parse().map_err(|e| {
        ImageStoreError::Image(crate::error::invalid(
            "image record",
            format!("id {}: {e}", image.record.id),
        ))
    })?;
    let config = crate::read_config_blob(blobs, &id)?;
    let familiar = |n: &String| rbuild_llb::familiar_name(n).to_owned();
    let created = config.created.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
    let mut out = serde_json::json!({
        "Id": image.record.id,
        "RepoTags": image.names.iter().map(familiar).collect::<Vec<_>>(),
        "RepoDigests": image.record.repo_digests.iter().map(familiar).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": config.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": created,
        "DockerVersion": "",
        "Author": config.author.clone().unwrap_or_default(),
        "Config": config.config.clone().map(serde_json::to_value).transpose()
            .map_err(|e| ImageStoreError::Image(crate::error::invalid("image config", e.to_string())))?
            .unwrap_or(serde_json::Value::Null),
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": image.record.size,
        "RootFS": {
            "Type": "layers",
            "Layers": config.rootfs.diff_ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        },
        "Metadata": { "LastTagTime": crate::rfc3339(image.record.added) },
    });
    if let Some(variant) = config.variant {
        out["Variant"] = serde_json::json!(variant);
    }
    Ok(out)
}

/// The images `save` writes for `texts`, each with the names it carries
/// in the archive, chosen as `docker save` chooses: `app:1` gives that
/// tag; a repository without tag (`app`) gives every tag of it; an id gives
/// the image unnamed. An image asked for twice is written once, with the
/// names of both asks; order follows `texts`.
pub fn for_save<'a>(
    images: &'a [Image],
    texts: &[String],
) -> Result<Vec<(&'a Image, Vec<String>)>> {
    let mut out: Vec<(&Image, Vec<String>)> = Vec::new();
    let mut add = |image: &'a Image, name: Option<String>| {
        let at = match out.iter().position(|(i, _)| i.record.id == image.record.id) {
            Some(at) => at,
            None => {
                out.push((image, Vec::new()));
                out.len() - 1
            }
        };
        if let Some(name) = name.filter(|n| !out[at].1.contains(n)) {
            out[at].1.push(name);
        }
    };
    for text in texts {
        let bare = !text.contains('@') && !text.rsplit('/').next().unwrap_or(text).contains(':');
        if bare && let Ok(reference) = rbuild_llb::Reference::parse(text) {
            let repo = format!("{}:", reference.repository());
            let mut tagged: Vec<(&Image, &String)> = images
                .iter()
                .flat_map(|i| i.names.iter().map(move |n| (i, n)))
                .filter(|(_, n)| n.starts_with(&repo))
                .collect();
            if !tagged.is_empty() {
                tagged.sort_by(|a, b| a.1.cmp(b.1));
                for (image, name) in tagged {
                    add(image, Some(name.clone()));
                }
                continue;
            }
        }
        let (image, by, name) = find(images, text)?;
        add(image, if by == NamedBy::Name { name } else { None });
    }
    Ok(out)
}

/// What `rmi` did, line by line as docker prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removed {
    /// A name was taken off an image.
    Untagged(String),
    /// An image (by id) was deleted.
    Deleted(String),
}

/// `rmi`: for each argument, untag the name it gives (deleting the image
/// once no name is left), or delete the image its id gives (with every
/// name, which takes `force` when there are several). An image a running
/// build uses is refused without `force`; one with child images is refused
/// always. Untagged parents that nothing else uses go too unless
/// `no_prune`. An argument that fails is reported and the others still
/// go, as docker does.
pub fn remove(
    store: &Store,
    blobs: &Blobs,
    args: &[String],
    force: bool,
    no_prune: bool,
) -> (Vec<Removed>, Vec<ImageStoreError>) {
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for arg in args {
        if let Err(e) = remove_one(store, blobs, arg, force, no_prune, &mut done) {
            errors.push(e);
        }
    }
    (done, errors)
}

fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

fn remove_one(
    store: &Store,
    blobs: &Blobs,
    arg: &str,
    force: bool,
    no_prune: bool,
    done: &mut Vec<Removed>,
) -> Result<()> {
    let images = list(store, blobs)?;
    let (image, by, name) = find(&images, arg)?;
    let in_use = store.in_use().contains(&image.record.manifest);
    let id = image.record.id.clone();
    if by == NamedBy::Name
        && let Some(name) = name
    {
        if in_use && !force {
            return Err(ImageStoreError::Conflict(format!(
                "unable to remove repository reference \"{arg}\" (must force) - image {} is being used by a running build",
                short(&id)
            )));
        }
        if image.names.len() > 1 {
            store.untag(&name)?;
            done.push(Removed::Untagged(rbuild_llb::familiar_name(&name).to_owned()));
            return Ok(());
        }
    } else {
        if image.names.len() > 1 && !force {
            return Err(ImageStoreError::Conflict(format!(
                "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(&id)
            )));
        }
        if in_use && !force {
            return Err(ImageStoreError::Conflict(format!(
                "unable to delete {} (must be forced) - image is being used by a running build",
                short(&id)
            )));
        }
    }
    if image.has_children {
        // By name, only the names go (the image stays for its children);
        // by id, nothing does.
        if by == NamedBy::Id || image.names.is_empty() {
            return Err(ImageStoreError::Conflict(format!(
                "unable to delete {} (cannot be forced) - image has dependent child images",
                short(&id)
            )));
        }
        for name in &image.names {
            store.untag(name)?;
            done.push(Removed::Untagged(rbuild_llb::familiar_name(name).to_owned()));
        }
        return Ok(());
    }
    delete(store, image, done)?;
    if !no_prune {
        let mut parent = image.record.parent.clone();
        while let Some(manifest) = parent.take() {
            let images = list(store, blobs)?;
            let Some(up) = images.iter().find(|i| i.record.manifest == manifest) else { break };
            if !up.dangling() || store.in_use().contains(&manifest) {
                break;
            }
            delete(store, up, done)?;
            parent = up.record.parent.clone();
        }
    }
    Ok(())
}

/// Untags every name of `image`, then forgets it.
fn delete(store: &Store, image: &Image, done: &mut Vec<Removed>) -> Result<()> {
    for name in &image.names {
        store.untag(name)?;
        done.push(Removed::Untagged(rbuild_llb::familiar_name(name).to_owned()));
    }
    for repo_digest in &image.record.repo_digests {
        done.push(Removed::Untagged(rbuild_llb::familiar_name(repo_digest).to_owned()));
    }
    store.remove_image(&image.record.manifest)?;
    done.push(Removed::Deleted(image.record.id.clone()));
    Ok(())
}

/// What a garbage collection freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Blobs deleted.
    pub blobs: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Deletes every blob that no image record, cache record or running build
/// needs. Runs only when no build holds the store (`None` otherwise: the
/// next GC does it). Records go before blobs, so a GC killed at any point
/// leaves only unreferenced blobs behind, which the next one removes; a
/// record it cannot read keeps every blob (nothing is deleted then).
pub fn gc(store: &Store, blobs: &Blobs) -> Result<Option<GcStats>> {
    let Some(_lock) = store.try_lock_exclusive()? else { return Ok(None) };
    let mut keep: BTreeSet<String> = store.cache_layer_digests();
    let names = store.images();
    let mut records = store.image_records();
    for (_, manifest) in &names {
        if !records.iter().any(|r| r.manifest == *manifest) {
            records.push(ImageRecord { manifest: manifest.clone(), ..ImageRecord::default() });
        }
    }
    let files = std::fs::read_dir(store.root().join("manifests"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
            })
            .count()
        })
        .unwrap_or(0);
    if files > records.len() {
        // Some record could not be read: what it needs is unknown.
        return Ok(Some(GcStats::default()));
    }
    for mut record in records {
        if fill(blobs, &mut record).is_err() && record.id.is_empty() {
            // Its manifest or config is unreadable: keep what it names.
            keep.insert(record.manifest.clone());
            continue;
        }
        keep.insert(record.manifest.clone());
        keep.extend(record.blobs.iter().cloned());
        keep.extend(record.extra_blobs.iter().cloned());
    }
    let mut stats = GcStats::default();
    for digest in store.blob_digests() {
        if !keep.contains(&digest) {
            stats.bytes += store.remove_blob(&digest)?;
            stats.blobs += 1;
        }
    }
    Ok(Some(stats))
}

/// One image's share of the disk, as `system df -v` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageUsage {
    /// Bytes of its blobs that another image uses too.
    pub shared: u64,
    /// Bytes of its blobs no other image uses.
    pub unique: u64,
}

/// What the store's images and build cache take, shared blobs counted once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Per image, in the order given.
    pub images: Vec<ImageUsage>,
    /// Bytes of every image blob, each once.
    pub images_size: u64,
    /// Bytes deleting the dangling images would free.
    pub images_reclaimable: u64,
    /// Images with a name or a child (not dangling).
    pub images_active: usize,
    /// Cache records.
    pub cache_records: usize,
    /// Bytes of the build cache: its snapshots' contents (as recorded) and
    /// the layer blobs no image uses.
    pub cache_size: u64,
}

/// The disk use of `images` and of the build cache, from records and blob
/// sizes (file metadata), never reading a layer.
pub fn disk_usage(store: &Store, blobs: &Blobs, images: &[Image]) -> DiskUsage {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut size_of = |digest: &str| -> u64 {
        *sizes.entry(digest.to_owned()).or_insert_with(|| {
            Digest::from_str(digest)
                .ok()
                .and_then(|d| blobs.path(&d).ok())
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len())
        })
    };
    let blob_set = |image: &Image| -> BTreeSet<String> {
        std::iter::once(image.record.manifest.clone())
            .chain(image.record.blobs.iter().cloned())
            .chain(image.record.extra_blobs.iter().cloned())
            .collect()
    };
    let sets: Vec<BTreeSet<String>> = images.iter().map(blob_set).collect();
    let mut users: BTreeMap<&str, usize> = BTreeMap::new();
    for set in &sets {
        for blob in set {
            *users.entry(blob.as_str()).or_default() += 1;
        }
    }
    let cache_layers = store.cache_layer_digests();
    let mut usage = DiskUsage::default();
    let mut active_blobs: BTreeSet<&str> = BTreeSet::new();
    for (image, set) in images.iter().zip(&sets) {
        if !image.dangling() {
            usage.images_active += 1;
            active_blobs.extend(set.iter().map(String::as_str));
        }
        let mut one = ImageUsage::default();
        for blob in set {
            let size = size_of(blob);
            if users[blob.as_str()] > 1 { one.shared += size } else { one.unique += size }
        }
        usage.images.push(one);
    }
    for blob in users.keys() {
        let size = size_of(blob);
        usage.images_size += size;
        if !active_blobs.contains(blob) && !cache_layers.contains(*blob) {
            usage.images_reclaimable += size;
        }
    }
    let records = store.cache_records();
    usage.cache_records = records.len();
    usage.cache_size = records.iter().map(|r| r.bytes).sum::<u64>()
        + cache_layers
            .iter()
            .filter(|d| !users.contains_key(d.as_str()))
            .map(|d| size_of(d))
            .sum::<u64>();
    usage
}

/// `image prune`: deletes the dangling images (with `all`, every image no
/// running build uses), keeping those created after `until` (Unix time)
/// and those whose labels do not match `labels` (`K` or `K=V`, all must
/// match); then a GC. Returns what went and the bytes GC freed (`None`
/// when a build held the store: the blobs go at the next GC).
pub fn prune(
    store: &Store,
    blobs: &Blobs,
    all: bool,
    until: Option<i64>,
    labels: &[(String, Option<String>)],
) -> Result<(Vec<Removed>, Option<GcStats>)> {
    let in_use = store.in_use();
    let mut done = Vec::new();
    // Children first: a parent is dangling only once they are gone.
    loop {
        let images = list(store, blobs)?;
        let doomed: Vec<&Image> = images
            .iter()
            .filter(|i| if all { !i.has_children } else { i.dangling() })
            .filter(|i| !in_use.contains(&i.record.manifest))
            .filter(|i| until.is_none_or(|t| created_secs(&i.record) < t))
            .filter(|i| {
                labels.iter().all(|(k, v)| match (i.record.labels.get(k), v) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
            })
            .collect();
        if doomed.is_empty() {
            break;
        }
        for image in doomed {
            delete(store, image, &mut done)?;
        }
    }
    Ok((done, gc(store, blobs)?))
}

/// What `store check` found, and what `--repair` did about it.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Each problem, as a line to print.
    pub problems: Vec<String>,
    /// How many of them were repaired.
    pub repaired: usize,
}

/// Verifies the store: every blob against its digest, every image's
/// manifest, config and layers present, every name's image, every cache
/// record's layer and snapshot, every snapshot's parent. With `repair`, a
/// bad blob is deleted, an image missing a blob is forgotten with its
/// names, a record missing what it stands for is forgotten, a snapshot on
/// a missing parent is removed: each then rebuilds or pulls again. Holds
/// the store exclusively (waits for running builds).
pub fn check(store: &Store, blobs: &Blobs, repair: bool) -> Result<CheckReport> {
    let _lock = store.lock_exclusive()?;
    let mut report = CheckReport::default();
    let fix = |report: &mut CheckReport, problem: String, action: &mut dyn FnMut() -> bool| {
        report.problems.push(problem);
        if repair && action() {
            report.repaired += 1;
        }
    };
    let mut bad_blobs = BTreeSet::new();
    for digest in store.blob_digests() {
        let Ok(parsed) = Digest::from_str(&digest) else { continue };
        let path = blobs.path(&parsed)?;
        let actual = std::fs::File::open(&path).ok().and_then(|mut f| {
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                match std::io::Read::read(&mut f, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => hasher.update(&buf[..n]),
                    Err(_) => return None,
                }
            }
            Some(crate::blobs::hex_digest(hasher.finalize().as_slice()))
        });
        if actual.as_ref() != Some(&parsed) {
            bad_blobs.insert(digest.clone());
            fix(&mut report, format!("blob {digest} does not match its digest"), &mut || {
                store.remove_blob(&digest).is_ok()
            });
        }
    }
    let present =
        |d: &str| !bad_blobs.contains(d) && Digest::from_str(d).is_ok_and(|d| blobs.has(&d));
    for record in store.image_records() {
        let mut needed = vec![record.manifest.clone()];
        needed.extend(record.blobs.iter().cloned());
        let Some(missing) = needed.iter().find(|d| !present(d)).cloned() else { continue };
        let names = store.names_of(&record.manifest);
        let shown = names.first().cloned().unwrap_or_else(|| record.manifest.clone());
        fix(
            &mut report,
            format!("image {shown}: blob {missing} is missing or damaged"),
            &mut || {
                names.iter().all(|n| store.untag(n).is_ok())
                    && store.remove_image(&record.manifest).is_ok()
            },
        );
    }
    for (name, manifest) in store.images() {
        if !present(&manifest) && store.image_record(&manifest).is_none() {
            fix(
                &mut report,
                format!("name {name}: its manifest {manifest} is missing"),
                &mut || store.untag(&name).is_ok(),
            );
        }
    }
    let snapshots = store.snapshots();
    let known: BTreeSet<&str> = snapshots.iter().map(|(id, _)| id.as_str()).collect();
    let mut broken = BTreeSet::new();
    for (id, parent) in &snapshots {
        if let Some(p) = parent
            && !known.contains(p.as_str())
        {
            broken.insert(id.clone());
            fix(&mut report, format!("snapshot {id}: its parent {p} is missing"), &mut || {
                store.remove_snapshot(id).is_ok()
            });
        }
    }
    for record in store.cache_records() {
        let layer_gone = record.layer.as_ref().is_some_and(|l| !present(&l.digest));
        let snapshot_gone =
            record.snapshot.as_ref().is_some_and(|s| broken.contains(s) || store.chain(s).is_err());
        if layer_gone || snapshot_gone {
            let what = if layer_gone { "its layer" } else { "its snapshot" };
            fix(
                &mut report,
                format!("cache record {} ({}): {what} is missing", record.key, record.instruction),
                &mut || store.cache_remove(&record.key).is_ok(),
            );
        }
    }
    Ok(report)
}
