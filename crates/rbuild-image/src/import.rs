//! Images into the store from a `docker save` archive, an OCI archive (a
//! tar of a layout) or an OCI layout directory. Every blob is checked
//! against its digest, and every layer is read through once to check its
//! diff_id and that no entry names a path outside the layer.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, ImageManifest, ImageManifestBuilder,
    MediaType,
};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use rbuild_context::relative_entry_path;

use crate::blobs::{Blobs, hex_digest};
use crate::compress::{Compression, Layer, LayerWriter};
use crate::config::ImageConfig;
use crate::error::{Error, Result, invalid, io_err};
use crate::export::ANNOTATION_IMAGE_NAME;
use crate::image::write_manifest;
use rbuild_llb::{Reference, go_arch};

/// One image an import put in the store.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedImage {
    /// The image's name in normalized form ([`Reference`]), from the
    /// archive's `RepoTags`, or an index entry's `io.containerd.image.name`,
    /// else its `org.opencontainers.image.ref.name` when that parses as a
    /// name (`busybox` → `docker.io/library/busybox:latest`). `None` for an
    /// unnamed image.
    pub name: Option<String>,
    /// The raw `org.opencontainers.image.ref.name` of an OCI index entry
    /// (often only a tag), for callers that name images their own way.
    pub ref_name: Option<String>,
    /// The image's manifest in the store.
    pub manifest: Descriptor,
}

/// Imports every image of `path` into `blobs`: a directory holding an OCI
/// layout (`index.json`, read first when both are there, as Docker 25+ and
/// `rbuild save` write both) or an unpacked `docker save` of Docker before
/// 25 (`manifest.json` alone), or a tar (optionally gzip or zstd) of
/// either. OCI blobs are copied as they are, so manifests keep their
/// digests; legacy docker layers are recompressed to gzip and their images
/// rewritten as OCI manifests (the config is kept byte for byte, so the
/// image ID stays).
pub fn import(blobs: &Blobs, path: &Path) -> Result<Vec<ImportedImage>> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if meta.is_dir() {
        // Docker 25+ writes both: the index keeps the blobs and manifests
        // byte for byte and names images as manifest.json does.
        if path.join("index.json").is_file() {
            return non_empty(path, import_oci(blobs, path)?);
        }
        if path.join("manifest.json").is_file() {
            return non_empty(path, import_docker(blobs, path)?);
        }
        return Err(invalid(
            path,
            "expected an OCI layout (index.json) or a docker save (manifest.json)",
        ));
    }
    let tmp = blobs.root().join("tmp");
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let dir = tempfile::Builder::new()
        .prefix(&rbuild_cache::temp_prefix("import"))
        .tempdir_in(&tmp)
        .map_err(io_err(&tmp))?;
    extract(path, dir.path())?;
    let images = if dir.path().join("index.json").is_file() {
        import_oci(blobs, dir.path()).map_err(|e| rename_source(e, dir.path(), path))?
    } else if dir.path().join("manifest.json").is_file() {
        import_docker(blobs, dir.path()).map_err(|e| rename_source(e, dir.path(), path))?
    } else {
        return Err(invalid(
            path,
            "expected a docker-archive (manifest.json) or an OCI archive (index.json)",
        ));
    };
    non_empty(path, images)
}

/// What [`import_with`] read: the images, and the files asked for.
pub struct ImportedWith {
    /// The images, now in the store's blobs.
    pub images: Vec<ImportedImage>,
    /// The bytes of each file asked for, in order; `None` when absent.
    pub files: Vec<Option<Vec<u8>>>,
}

/// [`import`] of an archive (a tar, maybe compressed) that carries files
/// of its own beside the images: also the bytes of each member named in
/// `extra`, read from the same unpacking.
pub fn import_with(blobs: &Blobs, path: &Path, extra: &[&str]) -> Result<ImportedWith> {
    let tmp = blobs.root().join("tmp");
    fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
    let dir = tempfile::Builder::new()
        .prefix(&rbuild_cache::temp_prefix("import"))
        .tempdir_in(&tmp)
        .map_err(io_err(&tmp))?;
    extract(path, dir.path())?;
    let mut files = Vec::new();
    for name in extra {
        let at = dir.path().join(name);
        files.push(match fs::read(&at) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&at)(e)),
        });
    }
    let images = if dir.path().join("index.json").is_file() {
        import_oci(blobs, dir.path()).map_err(|e| rename_source(e, dir.path(), path))?
    } else {
        return Err(invalid(path, "expected an archive with an OCI index (index.json)"));
    };
    Ok(ImportedWith { images: non_empty(path, images)?, files })
}

/// `images`, or the error that `path` holds none (`manifest.json` of `[]`):
/// loading nothing is not a success.
fn non_empty(path: &Path, images: Vec<ImportedImage>) -> Result<Vec<ImportedImage>> {
    if images.is_empty() {
        return Err(invalid(path, "it holds no image: its manifest lists none"));
    }
    Ok(images)
}

/// Errors name `archive:entry` rather than the temp directory.
fn rename_source(error: Error, temp: &Path, archive: &Path) -> Error {
    let fix = |p: PathBuf| match p.strip_prefix(temp) {
        Ok(rel) => PathBuf::from(format!("{}:{}", archive.display(), rel.display())),
        Err(_) => p,
    };
    match error {
        Error::Io { path, source } => Error::Io { path: fix(path), source },
        Error::Invalid { path, why } => Error::Invalid { path: fix(path), why },
        Error::DigestMismatch { path, expected, actual } => {
            Error::DigestMismatch { path: fix(path), expected, actual }
        }
        Error::Json { path, expected, source } => Error::Json { path: fix(path), expected, source },
        other => other,
    }
}

/// A reader that undoes the compression the stream starts with (gzip,
/// zstd, bzip2, xz) and passes plain bytes through.
pub(crate) fn decompressed<'a, R: Read + 'a>(
    reader: R,
    source: &Path,
) -> Result<Box<dyn Read + 'a>> {
    let (_, reader) = rbuild_context::decompress(BufReader::new(reader)).map_err(io_err(source))?;
    Ok(reader)
}

/// Unpacks the regular files of the archive `archive` into `dest`; links
/// (docker save links repeated layers) become hard links to the file they
/// name, which must be inside the archive.
fn extract(archive: &Path, dest: &Path) -> Result<()> {
    let file = File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(decompressed(file, archive)?);
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    // A read that fails is the archive's fault (truncated, damaged): say so
    // of the user's file, never of a temp path.
    let damaged = |what: String, e: io::Error| {
        invalid(archive, format!("{what}: {e} (the archive is truncated or damaged)"))
    };
    for entry in tar.entries().map_err(|e| damaged("reading it".into(), e))? {
        let mut entry = entry.map_err(|e| damaged("reading its next entry".into(), e))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = relative_entry_path(&name).ok_or_else(|| {
            invalid(archive, format!("entry {name:?} is not a plain relative path"))
        })?;
        let target = dest.join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target).map_err(io_err(&target))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                let mut out = File::create(&target).map_err(io_err(&target))?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = match io::Read::read(&mut entry, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => return Err(damaged(format!("entry {name}"), e)),
                    };
                    io::Write::write_all(&mut out, &buf[..n]).map_err(io_err(&target))?;
                }
            }
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let link =
                    entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
                let link =
                    link.ok_or_else(|| invalid(archive, format!("link {name:?} has no target")))?;
                let base = if kind == tar::EntryType::Symlink {
                    rel.parent().map(Path::to_path_buf).unwrap_or_default()
                } else {
                    PathBuf::new()
                };
                let resolved = lexical_join(&base, &link).ok_or_else(|| {
                    invalid(archive, format!("link {name:?} points outside the archive: {link}"))
                })?;
                links.push((rel, resolved));
            }
            _ => {}
        }
    }
    // Links may name links: resolve until nothing changes.
    for _ in 0..8 {
        let mut progress = false;
        links.retain(|(rel, to)| {
            let (from, at) = (dest.join(to), dest.join(rel));
            if !from.is_file() {
                return true;
            }
            if let Some(parent) = at.parent() {
                let _ = fs::create_dir_all(parent);
            }
            progress |= fs::hard_link(&from, &at).is_ok();
            false
        });
        if !progress {
            break;
        }
    }
    Ok(())
}

/// `base/link` with `.` and `..` resolved by name, or `None` if it climbs
/// above the root (an absolute `link` starts at the root).
fn lexical_join(base: &Path, link: &str) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    let start: Vec<Component<'_>> =
        if link.starts_with('/') { Vec::new() } else { base.components().collect() };
    for component in start.into_iter().chain(Path::new(link).components()) {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop()?;
            }
            _ => {}
        }
    }
    Some(out.iter().collect())
}

/// A file of an unpacked archive by the name its metadata gives.
fn member(dir: &Path, name: &str) -> Result<PathBuf> {
    let rel = relative_entry_path(name)
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(|| invalid(dir, format!("{name:?} is not a path inside the archive")))?;
    Ok(dir.join(rel))
}

fn parse_json<T: for<'de> Deserialize<'de>>(path: &Path, expected: &'static str) -> Result<T> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        expected,
        source,
    })
}

/// Reads a layer tar through to its end, handing every byte to `out`:
/// fails if an entry's name (or a hard link's target) is absolute or climbs
/// with `..`.
fn check_layer<R: Read, W: Write>(reader: R, out: &mut W, source: &Path) -> Result<()> {
    struct Tee<'a, R, W> {
        inner: R,
        out: &'a mut W,
    }
    impl<R: Read, W: Write> Read for Tee<'_, R, W> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.out.write_all(&buf[..n])?;
            Ok(n)
        }
    }
    let mut archive = tar::Archive::new(Tee { inner: reader, out });
    for entry in archive.entries().map_err(io_err(source))? {
        let entry = entry.map_err(io_err(source))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if relative_entry_path(&name).is_none() {
            return Err(invalid(source, format!("layer entry {name:?} is outside the layer")));
        }
        if entry.header().entry_type() == tar::EntryType::Link {
            let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
            if link.as_deref().and_then(relative_entry_path).is_none() {
                return Err(invalid(
                    source,
                    format!("layer entry {name:?} is a hard link outside the layer"),
                ));
            }
        }
    }
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(io_err(source))?;
    Ok(())
}

/// Stores a docker-archive layer file (plain, gzip or zstd tar) as a gzip
/// layer blob, checking its entries on the way.
fn import_docker_layer(blobs: &Blobs, path: &Path) -> Result<Layer> {
    let file = File::open(path).map_err(io_err(path))?;
    layer_from_tar(blobs, file, Compression::Gzip, path)
}

/// Stores a tar (plain, gzip, zstd, bzip2 or xz) as a layer blob: what
/// `import` makes of a root file system. Every entry is checked to stay
/// inside the layer (no absolute or `..` names, no hard link out); `source`
/// names the tar in errors.
pub fn layer_from_tar<R: Read>(
    blobs: &Blobs,
    tar: R,
    compression: Compression,
    source: &Path,
) -> Result<Layer> {
    let reader = decompressed(tar, source)?;
    let mut writer = LayerWriter::new(blobs, compression)?;
    check_layer(reader, &mut writer, source)?;
    writer.finish()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn import_docker(blobs: &Blobs, dir: &Path) -> Result<Vec<ImportedImage>> {
    let manifest_path = dir.join("manifest.json");
    let entries: Vec<DockerEntry> = parse_json(&manifest_path, "a docker save manifest.json")?;
    let mut done: HashMap<PathBuf, Layer> = HashMap::new();
    let mut out = Vec::new();
    for entry in entries {
        let config_path = member(dir, &entry.config)?;
        let config_bytes = fs::read(&config_path).map_err(io_err(&config_path))?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|source| {
            Error::Json { path: config_path.clone(), expected: "an image config", source }
        })?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(invalid(
                &manifest_path,
                format!(
                    "image {} lists {} layers but its config {} diff_ids",
                    entry.config,
                    entry.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (name, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let path = member(dir, name)?;
            let layer = match done.get(&path) {
                Some(layer) => layer.clone(),
                None => {
                    let layer = import_docker_layer(blobs, &path)?;
                    done.insert(path.clone(), layer.clone());
                    layer
                }
            };
            if layer.diff_id != *diff_id {
                return Err(Error::DigestMismatch {
                    path,
                    expected: diff_id.to_string(),
                    actual: layer.diff_id.to_string(),
                });
            }
            layers.push(layer.descriptor);
        }
        let config_blob = blobs.put_bytes(&config_bytes)?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config_blob.descriptor(MediaType::ImageConfig))
            .layers(layers)
            .build()
            .map_err(|source| Error::Spec { what: "image manifest", source })?;
        let manifest = write_manifest(blobs, &manifest)?;
        let tags = entry.repo_tags.unwrap_or_default();
        if tags.is_empty() {
            out.push(ImportedImage { name: None, ref_name: None, manifest: manifest.clone() });
        }
        for tag in tags {
            let name = Reference::parse(&tag)?.to_string();
            out.push(ImportedImage {
                name: Some(name),
                ref_name: None,
                manifest: manifest.clone(),
            });
        }
    }
    Ok(out)
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn import_oci(blobs: &Blobs, dir: &Path) -> Result<Vec<ImportedImage>> {
    let layout = Blobs::existing(dir);
    let index_path = dir.join("index.json");
    let index: ImageIndex = parse_json(&index_path, "an OCI image index")?;
    let mut out = Vec::new();
    for entry in index.manifests() {
        let annotations = entry.annotations().clone().unwrap_or_default();
        let ref_name = annotations.get(ANNOTATION_REF_NAME).cloned();
        let name = annotations
            .get(ANNOTATION_IMAGE_NAME)
            .and_then(|n| Reference::parse(n).ok().map(|r| r.to_string()))
            .or_else(|| {
                ref_name.as_deref().and_then(|n| Reference::parse(n).ok().map(|r| r.to_string()))
            });
        let manifest = import_oci_entry(blobs, &layout, entry, 0)?;
        out.push(ImportedImage { name, ref_name, manifest });
    }
    Ok(out)
}

/// Copies the image an index entry names (choosing this machine's
/// platform from a nested index) and returns its manifest descriptor.
fn import_oci_entry(
    blobs: &Blobs,
    layout: &Blobs,
    entry: &Descriptor,
    depth: u32,
) -> Result<Descriptor> {
    let path = layout.path(entry.digest())?;
    match entry.media_type().as_ref() {
        t if t == MediaType::ImageIndex.as_ref() || t == DOCKER_MANIFEST_LIST => {
            if depth > 2 {
                return Err(invalid(path, "indexes nested too deep"));
            }
            let nested: ImageIndex =
                serde_json::from_slice(&read_verified(layout, entry)?).map_err(|source| {
                    Error::Json { path: path.clone(), expected: "an OCI image index", source }
                })?;
            let arch = go_arch(std::env::consts::ARCH);
            let pick = nested
                .manifests()
                .iter()
                .find(|d| {
                    d.platform().as_ref().is_some_and(|p| {
                        p.os().to_string() == "linux" && p.architecture().to_string() == arch
                    })
                })
                .or_else(|| nested.manifests().first())
                .ok_or_else(|| invalid(&path, "an image index with no manifests"))?;
            import_oci_entry(blobs, layout, pick, depth + 1)
        }
        t if t == MediaType::ImageManifest.as_ref() || t == DOCKER_MANIFEST => {
            import_manifest(blobs, layout, entry)
        }
        other => Err(invalid(path, format!("expected an image manifest or index, found {other}"))),
    }
}

/// `Invalid` unless the blob at `path` has the size its descriptor says: a
/// wrong size would be copied into every image built on it.
fn check_size(path: &Path, d: &Descriptor, actual: u64) -> Result<()> {
    if actual != d.size() {
        return Err(invalid(
            path,
            format!("blob {} is {actual} bytes but its descriptor says {}", d.digest(), d.size()),
        ));
    }
    Ok(())
}

/// The blob `d` names, its digest ([`Blobs::read`]) and size checked.
fn read_verified(layout: &Blobs, d: &Descriptor) -> Result<Vec<u8>> {
    let bytes = layout.read(d.digest())?;
    check_size(&layout.path(d.digest())?, d, bytes.len() as u64)?;
    Ok(bytes)
}

fn import_manifest(blobs: &Blobs, layout: &Blobs, entry: &Descriptor) -> Result<Descriptor> {
    let path = layout.path(entry.digest())?;
    let bytes = read_verified(layout, entry)?;
    let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.clone(),
        expected: "an OCI image manifest",
        source,
    })?;
    let config_path = layout.path(manifest.config().digest())?;
    let config_bytes = read_verified(layout, manifest.config())?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|source| {
        Error::Json { path: config_path.clone(), expected: "an image config", source }
    })?;
    if config.rootfs.diff_ids.len() != manifest.layers().len() {
        return Err(invalid(
            &path,
            format!(
                "manifest lists {} layers but its config {} diff_ids",
                manifest.layers().len(),
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    for (layer, diff_id) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
        copy_layer(blobs, layout, layer, diff_id)?;
    }
    blobs.put_bytes(&config_bytes)?;
    let docker = entry.media_type().as_ref() == DOCKER_MANIFEST
        || manifest.media_type().as_ref().is_some_and(|m| m.as_ref() == DOCKER_MANIFEST);
    if !docker {
        blobs.put_bytes(&bytes)?;
        return Ok(Descriptor::new(
            MediaType::ImageManifest,
            bytes.len() as u64,
            entry.digest().clone(),
        ));
    }
    // A Docker schema 2 manifest: the same blobs under OCI media types.
    let remap = |d: &Descriptor| {
        let d = crate::image::oci_descriptor(d);
        Descriptor::new(d.media_type().clone(), d.size(), d.digest().clone())
    };
    let rewritten = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(remap(manifest.config()))
        .layers(manifest.layers().iter().map(remap).collect::<Vec<_>>())
        .build()
        .map_err(|source| Error::Spec { what: "image manifest", source })?;
    write_manifest(blobs, &rewritten)
}

/// Copies a layer blob (digest checked), reading it through once to check
/// its entries and its diff_id.
fn copy_layer(blobs: &Blobs, layout: &Blobs, layer: &Descriptor, diff_id: &Digest) -> Result<()> {
    let path = layout.path(layer.digest())?;
    let file = File::open(&path).map_err(io_err(&path))?;
    let size = file.metadata().map_err(io_err(&path))?.len();
    let mut hashed = DiffHasher { hasher: Sha256::new() };
    check_layer(decompressed(file, &path)?, &mut hashed, &path)?;
    let actual = hex_digest(hashed.hasher.finalize().as_slice());
    if actual != *diff_id {
        return Err(Error::DigestMismatch {
            path,
            expected: diff_id.to_string(),
            actual: actual.to_string(),
        });
    }
    if !blobs.has(layer.digest()) {
        let file = File::open(&path).map_err(io_err(&path))?;
        blobs.put_reader_verified(file, layer.digest(), &path)?;
    }
    // The digest holds (the blob in the store is right, and GC takes it if
    // nothing refers to it): a size that differs is the descriptor lying.
    check_size(&path, layer, size)
}

struct DiffHasher {
    hasher: Sha256,
}

impl Write for DiffHasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
