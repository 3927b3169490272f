//! Images out of the store: an OCI image layout (a directory or a tar of
//! one) and a `docker load` archive.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, ImageIndexBuilder, MediaType,
};
use serde::Serialize;

use crate::blobs::Blobs;
use crate::error::{Error, Result, invalid, io_err};
use crate::image::{canonical_json, read_manifest};

/// The annotation containerd and BuildKit put on an index entry: the full
/// image name (`docker.io/library/busybox:local`).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The digests of every blob of an image: manifest, config, layers.
fn image_blobs(blobs: &Blobs, manifest: &Descriptor) -> Result<Vec<Digest>> {
    let m = read_manifest(blobs, manifest.digest())?;
    let mut all = vec![manifest.digest().clone(), m.config().digest().clone()];
    all.extend(m.layers().iter().map(|l| l.digest().clone()));
    for digest in &all {
        if !blobs.has(digest) {
            return Err(Error::MissingBlob {
                digest: digest.to_string(),
                root: blobs.root().to_path_buf(),
            });
        }
    }
    Ok(all)
}

fn entry_for(manifest: &Descriptor, annotations: &[(&str, &str)]) -> Descriptor {
    let mut entry =
        Descriptor::new(MediaType::ImageManifest, manifest.size(), manifest.digest().clone());
    let map: HashMap<String, String> =
        annotations.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    entry.set_annotations(Some(map));
    entry
}

fn index_of(entries: Vec<Descriptor>) -> Result<ImageIndex> {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(entries)
        .build()
        .map_err(|source| Error::Spec { what: "image index", source })
}

fn json(value: &impl Serialize, path: &Path) -> Result<Vec<u8>> {
    canonical_json(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        expected: "a value that serializes",
        source,
    })
}

/// A temp file in `dir` for `dest`, named `.NAME.tmp-PID-…`: one a crash
/// left there for the same output is removed first, so none piles up.
fn temp_beside(dest: &Path, dir: &Path) -> Result<tempfile::NamedTempFile> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.tmp");
    rbuild_cache::clean_stale_temps(dir, &prefix);
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-{}-", std::process::id()))
        .tempfile_in(dir)
        .map_err(io_err(dir))
}

/// Writes `bytes` to `path` by temp file, fsync and rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file_with(path, |mut out| {
        out.write_all(bytes).map_err(io_err(path))?;
        Ok(out)
    })
}

/// Exports the image `manifest` of `blobs` into the OCI image layout
/// directory `dest` (created if missing; an existing layout keeps its other
/// images), named `ref_name` by `org.opencontainers.image.ref.name` (the
/// tag, e.g. `latest`, as `umoci` and `skopeo oci:DIR:TAG` read it). Blobs
/// are hard-linked from the store when it shares the file system, copied
/// otherwise.
pub fn export_oci_layout(
    blobs: &Blobs,
    manifest: &Descriptor,
    dest: &Path,
    ref_name: &str,
) -> Result<()> {
    let digests = image_blobs(blobs, manifest)?;
    let target = Blobs::new(dest)?;
    for digest in &digests {
        let to = target.path(digest)?;
        if to.is_file() {
            continue;
        }
        let from = blobs.path(digest)?;
        if fs::hard_link(&from, &to).is_err() && !to.is_file() {
            let mut writer = target.writer()?;
            let mut reader = blobs.open(digest)?;
            io::copy(&mut reader, &mut writer).map_err(io_err(&from))?;
            writer.finish_verified(digest, &from)?;
        }
    }
    write_atomic(&dest.join("oci-layout"), OCI_LAYOUT)?;
    let index_path = dest.join("index.json");
    let mut entries = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice::<ImageIndex>(&bytes)
            .map_err(|source| Error::Json {
                path: index_path.clone(),
                expected: "an OCI image index",
                source,
            })?
            .manifests()
            .clone(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_err(&index_path)(e)),
    };
    entries.retain(|d| {
        d.annotations().as_ref().and_then(|a| a.get(ANNOTATION_REF_NAME)).map(String::as_str)
            != Some(ref_name)
    });
    entries.push(entry_for(manifest, &[(ANNOTATION_REF_NAME, ref_name)]));
    write_atomic(&index_path, &json(&index_of(entries)?, &index_path)?)
}

/// A file of a tar archive being exported: bytes or a blob of the store.
enum Member {
    Bytes(Vec<u8>),
    Blob(PathBuf),
}

/// Writes `members` as a deterministic tar (owner 0, mtime 0, 0644 files
/// and 0755 directories, given order) to `dest` by temp file and rename.
fn write_tar(dest: &Path, members: Vec<(String, Member)>) -> Result<()> {
    write_file_with(dest, |out| write_tar_to(out, members, dest))
}

/// Writes the file `dest` through `write` by temp file beside it, fsync
/// and rename: a failure at any point leaves nothing at `dest`.
pub(crate) fn write_file_with(
    dest: &Path,
    write: impl FnOnce(BufWriter<tempfile::NamedTempFile>) -> Result<BufWriter<tempfile::NamedTempFile>>,
) -> Result<()> {
    let dir = dest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let temp = temp_beside(dest, dir)?;
    let temp =
        write(BufWriter::new(temp))?.into_inner().map_err(|e| io_err(dest)(e.into_error()))?;
    temp.as_file().sync_all().map_err(io_err(dest))?;
    temp.persist(dest).map_err(|e| io_err(dest)(e.error))?;
    Ok(())
}

/// Writes `members` as a deterministic tar to `out`; `label` names `out`
/// in errors. Returns `out` once the archive is complete.
fn write_tar_to<W: Write>(out: W, members: Vec<(String, Member)>, label: &Path) -> Result<W> {
    let mut builder = tar::Builder::new(out);
    let mut dirs = std::collections::BTreeSet::new();
    for (name, member) in members {
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            let parent = &name[..at + i + 1];
            if dirs.insert(parent.to_owned()) {
                let mut header = header(tar::EntryType::Directory, 0o755, 0);
                builder.append_data(&mut header, parent, io::empty()).map_err(io_err(label))?;
            }
            at += i + 1;
        }
        match member {
            Member::Bytes(bytes) => {
                let mut header = header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
                builder.append_data(&mut header, &name, bytes.as_slice()).map_err(io_err(label))?;
            }
            Member::Blob(path) => {
                let file = File::open(&path).map_err(io_err(&path))?;
                let len = file.metadata().map_err(io_err(&path))?.len();
                let mut header = header(tar::EntryType::Regular, 0o644, len);
                builder.append_data(&mut header, &name, file).map_err(io_err(label))?;
            }
        }
    }
    let mut out = builder.into_inner().map_err(io_err(label))?;
    out.flush().map_err(io_err(label))?;
    Ok(out)
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn blob_members(blobs: &Blobs, digests: &[Digest]) -> Result<Vec<(String, Member)>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for digest in digests {
        if seen.insert(digest.to_string()) {
            out.push((blob_name(digest), Member::Blob(blobs.path(digest)?)));
        }
    }
    Ok(out)
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.digest())
}

/// Exports the image `manifest` as a tar of an OCI image layout (what
/// `--output type=oci,dest=FILE.tar` writes), named `ref_name`.
pub fn export_oci_archive(
    blobs: &Blobs,
    manifest: &Descriptor,
    dest: &Path,
    ref_name: &str,
) -> Result<()> {
    let digests = image_blobs(blobs, manifest)?;
    let index_path = dest.join("index.json");
    let index = index_of(vec![entry_for(manifest, &[(ANNOTATION_REF_NAME, ref_name)])])?;
    let mut members = vec![
        ("oci-layout".to_owned(), Member::Bytes(OCI_LAYOUT.to_vec())),
        ("index.json".to_owned(), Member::Bytes(json(&index, &index_path)?)),
    ];
    members.extend(blob_members(blobs, &digests)?);
    write_tar(dest, members)
}

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// What `save` writes: a `docker save` archive or an OCI archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `manifest.json` (what `docker load` reads) beside an OCI layout,
    /// as Docker 25+ writes it.
    Docker,
    /// An OCI image layout alone (`podman save --format oci-archive`).
    Oci,
}

/// Exports the image `manifest` as a `docker save` archive that `docker
/// load` accepts, tagged `repo_tags` (`name:tag`, written in Docker's short
/// form). See [`save_archive`].
pub fn export_docker_archive(
    blobs: &Blobs,
    manifest: &Descriptor,
    repo_tags: &[String],
    dest: &Path,
) -> Result<()> {
    save_archive(
        blobs,
        &[(manifest.digest().clone(), repo_tags.to_vec())],
        ArchiveFormat::Docker,
        dest,
    )
}

/// Writes several images, each with its names (`name:tag`), as one
/// archive at `dest` (by temp file and rename): a blob two images share is
/// written once, as `docker save A B` does. Laid out as Docker 25+ writes
/// it: the blobs at `blobs/sha256/<hex>` (layers gzip, which `docker load`
/// decompresses; Docker 20.10 reads them too), `index.json` naming each
/// image by `io.containerd.image.name` and its tag, `oci-layout`, and for
/// [`ArchiveFormat::Docker`] `manifest.json` pointing at the same blobs.
/// An image with zstd layers is refused for the docker format: `docker
/// load` cannot read them.
pub fn save_archive(
    blobs: &Blobs,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    dest: &Path,
) -> Result<()> {
    write_tar(dest, archive_members(blobs, images, format, dest)?)
}

/// [`save_archive`] with files of the caller's after the images' (name and
/// bytes, in order): a failure bundle is an archive `docker load` reads
/// that also carries rbuild's record of the failure, last, so a truncated
/// copy is missing it.
pub fn save_archive_with(
    blobs: &Blobs,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    dest: &Path,
    extra: Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let mut members = archive_members(blobs, images, format, dest)?;
    members.extend(extra.into_iter().map(|(name, bytes)| (name, Member::Bytes(bytes))));
    write_tar(dest, members)
}

/// [`save_archive`] to a stream (`docker save` without `-o` writes to
/// stdout); every blob is checked present before the first byte goes out.
/// `label` names `out` in errors.
pub fn write_archive<W: Write>(
    blobs: &Blobs,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    out: W,
    label: &Path,
) -> Result<W> {
    write_tar_to(out, archive_members(blobs, images, format, label)?, label)
}

fn archive_members(
    blobs: &Blobs,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    dest: &Path,
) -> Result<Vec<(String, Member)>> {
    let mut digests = Vec::new();
    let mut entries = Vec::new();
    let mut docker = Vec::new();
    for (digest, repo_tags) in images {
        let path = blobs.path(digest)?;
        let size = fs::metadata(&path).map_err(io_err(&path))?.len();
        let manifest = &Descriptor::new(MediaType::ImageManifest, size, digest.clone());
        digests.extend(image_blobs(blobs, manifest)?);
        let m = read_manifest(blobs, digest)?;
        let zstd = m.layers().iter().find(|l| *l.media_type() == MediaType::ImageLayerZstd);
        if let (ArchiveFormat::Docker, Some(zstd)) = (format, zstd) {
            return Err(invalid(
                dest,
                format!("layer {} is zstd, which docker load cannot read: use gzip", zstd.digest()),
            ));
        }
        let mut tags = Vec::new();
        let before = entries.len();
        for tag in repo_tags {
            let full = rbuild_llb::Reference::parse(tag)?.to_string();
            if full.contains('@') {
                return Err(invalid(dest, format!("a docker archive tag has no digest: {tag}")));
            }
            let short = rbuild_llb::familiar_name(&full).to_owned();
            let ref_name = full.rsplit_once(':').map_or("latest", |(_, t)| t).to_owned();
            entries.push(entry_for(
                manifest,
                &[(ANNOTATION_IMAGE_NAME, full.as_str()), (ANNOTATION_REF_NAME, ref_name.as_str())],
            ));
            tags.push(short);
        }
        if entries.len() == before {
            entries.push(entry_for(manifest, &[]));
        }
        docker.push(DockerManifest {
            config: blob_name(m.config().digest()),
            repo_tags: tags,
            layers: m.layers().iter().map(|l| blob_name(l.digest())).collect(),
        });
    }
    let mut members = blob_members(blobs, &digests)?;
    members.push(("index.json".to_owned(), Member::Bytes(json(&index_of(entries)?, dest)?)));
    if format == ArchiveFormat::Docker {
        members.push(("manifest.json".to_owned(), Member::Bytes(json(&docker, dest)?)));
    }
    members.push(("oci-layout".to_owned(), Member::Bytes(OCI_LAYOUT.to_vec())));
    Ok(members)
}
