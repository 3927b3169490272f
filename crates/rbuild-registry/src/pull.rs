//! Pulls: a tag resolved with HEAD first (Docker Hub counts only GETs),
//! the manifest fetched with the four Accept types and checked (digest,
//! `Docker-Content-Digest`, `Content-Type` against `mediaType`, size,
//! schema 1 refused) and stored byte-exact; an index narrowed to one
//! platform; blobs streamed into the store with their sha256 checked on the
//! fly, several at once, resumed with `Range` when a connection breaks.

use std::io::{Read, Write as _};
use std::path::Path;
use std::str::FromStr as _;

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};
use rbuild_image::{Blobs, sha256_digest};
use rbuild_llb::{Platform, Reference};
use ureq::http::{Method, StatusCode, header};

use crate::auth::Scopes;
use crate::client::{Client, Payload, unexpected};
use crate::config::Endpoint;
use crate::error::{Error, Result};

/// The manifest types a pull accepts, in one `Accept` header.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The largest manifest accepted (the spec asks clients to take 4 MB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// Reports transfers as they go; every method has a do-nothing default.
pub trait Progress: Sync {
    /// `done` of `total` bytes of `digest` have moved.
    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        let _ = (digest, done, total);
    }
    /// `digest` is done: `how` is "downloaded", "exists", "mounted" or
    /// "pushed".
    fn finished(&self, digest: &Digest, size: u64, how: &str) {
        let _ = (digest, size, how);
    }
}

/// How docker says a blob finished ([`Progress::finished`]'s `how`), on a
/// pull or a push: `Pull complete`, `Layer already exists`, …
pub fn finished_status(pulling: bool, how: &str) -> &'static str {
    match (pulling, how) {
        (true, "exists") => "Already exists",
        (true, _) => "Pull complete",
        (false, "exists") => "Layer already exists",
        (false, "mounted") => "Mounted from another repository",
        (false, _) => "Pushed",
    }
}

/// No progress reports.
pub struct Quiet;
impl Progress for Quiet {}

/// What a reference resolved to.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The reference asked for.
    pub reference: Reference,
    /// What the tag (or digest) named: the index's digest for a
    /// multi-platform image — docker's repo digest.
    pub digest: Digest,
    /// The image manifest chosen, with the media type it was served with.
    pub manifest: Descriptor,
    /// The image's config descriptor.
    pub config: Descriptor,
    /// Its layers, bottom first.
    pub layers: Vec<Descriptor>,
    /// The endpoint that served it, then the others to try for a blob it
    /// lacks.
    pub endpoints: Vec<Endpoint>,
}

impl Resolved {
    /// `repository@digest`: the name the registry serves the image by
    /// (docker's RepoDigests entry).
    pub fn repo_digest(&self) -> String {
        format!("{}@{}", self.reference.repository(), self.digest)
    }

    /// The index the digest names, when it is not the image manifest
    /// itself (a multi-platform image): kept with the image.
    pub fn index(&self) -> Option<String> {
        (self.digest != *self.manifest.digest()).then(|| self.digest.to_string())
    }
}

/// The `mediaType` a manifest's bytes declare, or what their shape says.
pub fn manifest_media_type(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(m) = value.get("mediaType").and_then(serde_json::Value::as_str) {
        return Some(m.to_owned());
    }
    if value.get("manifests").is_some() {
        return Some(OCI_INDEX.to_owned());
    }
    (value.get("config").is_some() && value.get("layers").is_some())
        .then(|| OCI_MANIFEST.to_owned())
}

pub(crate) fn is_index_type(media: &str) -> bool {
    media == OCI_INDEX || media == DOCKER_LIST
}

pub(crate) fn is_image_type(media: &str) -> bool {
    media == OCI_MANIFEST || media == DOCKER_MANIFEST
}

impl Client {
    /// Resolves `reference` for `platform` (`None`: this machine's) and
    /// puts its manifest and config in `blobs`, trying each mirror, then
    /// the primary. Layers are left to [`fetch_layers`](Client::fetch_layers).
    pub fn resolve(
        &self,
        reference: &Reference,
        platform: Option<&Platform>,
        blobs: &Blobs,
    ) -> Result<Resolved> {
        let endpoints = self.config.pull_endpoints(
            &reference.domain,
            &reference.path,
            reference.digest.is_some(),
        )?;
        let mut failures = Vec::new();
        for (i, endpoint) in endpoints.iter().enumerate() {
            match self.resolve_at(endpoint, reference, platform, blobs) {
                Ok(mut resolved) => {
                    let mut order = vec![endpoint.clone()];
                    order.extend(
                        endpoints
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, e)| e.clone()),
                    );
                    resolved.endpoints = order;
                    return Ok(resolved);
                }
                Err(e) if endpoint.mirror && e.try_next_endpoint() => {
                    failures.push(format!("{}: {e}", endpoint.host));
                }
                Err(e) if failures.is_empty() => return Err(e),
                Err(e) => return Err(Error::Mirrors { primary: Box::new(e), mirrors: failures }),
            }
        }
        Err(Error::NotFound { reference: reference.to_string(), detail: None })
    }

    /// Resolves and downloads everything of `reference` into `blobs`.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: Option<&Platform>,
        blobs: &Blobs,
        progress: &dyn Progress,
    ) -> Result<Resolved> {
        let resolved = self.resolve(reference, platform, blobs)?;
        self.fetch_layers(&resolved, blobs, progress)?;
        Ok(resolved)
    }

    /// The digest of the manifest at `reference` (its tag or digest), or
    /// `None` when there is none: one HEAD to the registry itself, never a
    /// mirror, with pull rights. `None` too when the registry answers
    /// without saying the digest.
    pub fn manifest_digest(&self, reference: &Reference) -> Result<Option<Digest>> {
        let endpoint = self.config.push_endpoint(&reference.domain, &reference.path)?;
        let scopes = Scopes::pull(&endpoint.repository);
        let tag = reference.digest.clone().or(reference.tag.clone()).unwrap_or("latest".into());
        match self.head_manifest(&endpoint, &scopes, &tag, &reference.to_string()) {
            Ok(digest) => Ok(digest),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads one blob of `reference`'s repository into `blobs` (checked
    /// against its digest), from a mirror first when one is configured.
    pub fn fetch_blob(
        &self,
        reference: &Reference,
        blob: &Descriptor,
        blobs: &Blobs,
        progress: &dyn Progress,
    ) -> Result<()> {
        if blobs.has(blob.digest()) {
            progress.finished(blob.digest(), blob.size(), "exists");
            return Ok(());
        }
        let endpoints = self.config.pull_endpoints(&reference.domain, &reference.path, true)?;
        let shown = reference.to_string();
        let mut result = Err(Error::NotFound { reference: shown.clone(), detail: None });
        for endpoint in &endpoints {
            let scopes = Scopes::pull(&endpoint.repository);
            result = self.download(endpoint, &scopes, blob, blobs, &shown, progress);
            match &result {
                Err(Error::NotFound { .. }) | Err(Error::Transport { .. }) if endpoint.mirror => {}
                _ => break,
            }
        }
        result
    }

    fn resolve_at(
        &self,
        endpoint: &Endpoint,
        reference: &Reference,
        platform: Option<&Platform>,
        blobs: &Blobs,
    ) -> Result<Resolved> {
        let shown = reference.to_string();
        let scopes = Scopes::pull(&endpoint.repository);
        let wanted = match &reference.digest {
            Some(d) => Some(parse_digest(&shown, d)?),
            None => self.head_manifest(
                endpoint,
                &scopes,
                reference.tag.as_deref().unwrap_or("latest"),
                &shown,
            )?,
        };
        let (digest, bytes, media) = match wanted {
            Some(d) if blobs.has(&d) => {
                let bytes = blobs.read(&d)?;
                let media = manifest_media_type(&bytes).unwrap_or_default();
                (d, bytes, media)
            }
            _ => {
                let tag_or_digest =
                    reference.digest.clone().or(reference.tag.clone()).unwrap_or("latest".into());
                self.get_manifest(
                    endpoint,
                    &scopes,
                    &tag_or_digest,
                    wanted.as_ref(),
                    &shown,
                    blobs,
                )?
            }
        };
        let (manifest, bytes) = if is_index_type(&media) {
            let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
                what: shown.clone(),
                why: format!("not an image index: {e}"),
            })?;
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = choose_platform(&index, &want).ok_or_else(|| Error::NoPlatform {
                reference: shown.clone(),
                wanted: want.to_string(),
                available: platforms(&index),
            })?;
            let child = chosen.digest().clone();
            let (_, child_bytes, child_media) = if blobs.has(&child) {
                let b = blobs.read(&child)?;
                let m = manifest_media_type(&b).unwrap_or_default();
                (child.clone(), b, m)
            } else {
                self.get_manifest(endpoint, &scopes, child.as_ref(), Some(&child), &shown, blobs)?
            };
            if !is_image_type(&child_media) {
                return Err(Error::Invalid {
                    what: shown,
                    why: format!(
                        "the index entry for {want} is {child_media}, not an image manifest"
                    ),
                });
            }
            (
                Descriptor::new(child_media.as_str().into(), child_bytes.len() as u64, child),
                child_bytes,
            )
        } else if is_image_type(&media) {
            (Descriptor::new(media.as_str().into(), bytes.len() as u64, digest.clone()), bytes)
        } else {
            return Err(Error::Invalid {
                what: shown,
                why: format!("unsupported manifest type {media:?}"),
            });
        };
        let image: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| Error::Invalid {
            what: shown.clone(),
            why: format!("not an image manifest: {e}"),
        })?;
        let config = image.config().clone();
        if !blobs.has(config.digest()) {
            if config.size() > MAX_MANIFEST {
                return Err(Error::Invalid {
                    what: shown,
                    why: format!("its config is {} bytes", config.size()),
                });
            }
            self.download(endpoint, &scopes, &config, blobs, &shown, &crate::Quiet)?;
        }
        let config_bytes = blobs.read(config.digest())?;
        let value: serde_json::Value = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::Invalid { what: shown.clone(), why: format!("its config is not JSON: {e}") }
        })?;
        if let Some(want) = platform
            && !is_index_type(&media)
        {
            let os = value.get("os").and_then(serde_json::Value::as_str).unwrap_or("");
            let arch = value.get("architecture").and_then(serde_json::Value::as_str).unwrap_or("");
            if os != want.os || arch != want.arch {
                return Err(Error::NoPlatform {
                    reference: shown,
                    wanted: want.to_string(),
                    available: format!("{os}/{arch}"),
                });
            }
        }
        Ok(Resolved {
            reference: reference.clone(),
            digest,
            config,
            layers: image.layers().clone(),
            manifest,
            endpoints: vec![endpoint.clone()],
        })
    }

    /// `HEAD` of a tag: its digest, or `None` when the registry does not
    /// say (then a GET follows).
    fn head_manifest(
        &self,
        endpoint: &Endpoint,
        scopes: &Scopes,
        tag: &str,
        shown: &str,
    ) -> Result<Option<Digest>> {
        let response = self.send(
            endpoint,
            scopes,
            Method::HEAD,
            &format!("manifests/{tag}"),
            &[("Accept", crate::pull::ACCEPT)],
            Payload::Empty,
        )?;
        match response.status() {
            StatusCode::OK => Ok(response
                .headers()
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|d| Digest::from_str(d).ok())),
            StatusCode::NOT_FOUND => Err(Error::NotFound {
                reference: shown.to_owned(),
                detail: Some("manifest unknown".into()),
            }),
            _ => Ok(None),
        }
    }

    /// GETs a manifest, checks it and stores it byte-exact.
    fn get_manifest(
        &self,
        endpoint: &Endpoint,
        scopes: &Scopes,
        tag_or_digest: &str,
        expected: Option<&Digest>,
        shown: &str,
        blobs: &Blobs,
    ) -> Result<(Digest, Vec<u8>, String)> {
        let response = self.send(
            endpoint,
            scopes,
            Method::GET,
            &format!("manifests/{tag_or_digest}"),
            &[("Accept", ACCEPT)],
            Payload::Empty,
        )?;
        if response.status() != StatusCode::OK {
            return Err(unexpected(shown, response));
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or("").trim().to_owned())
            .unwrap_or_default();
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let invalid = |why: String| Error::Invalid { what: shown.to_owned(), why };
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_with_config()
            .limit(MAX_MANIFEST + 1)
            .reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| match e.to_string().contains("limit") {
                true => invalid(format!("the manifest is larger than {} bytes", MAX_MANIFEST)),
                false => Error::Transport { what: shown.to_owned(), why: e.to_string() },
            })?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(invalid(format!("the manifest is larger than {MAX_MANIFEST} bytes")));
        }
        if content_type.starts_with("text/html") || bytes.trim_ascii_start().starts_with(b"<") {
            return Err(invalid("the registry sent an HTML page instead of a manifest".into()));
        }
        if content_type.starts_with("application/vnd.docker.distribution.manifest.v1") {
            return Err(invalid(format!(
                "{content_type} (schema 1) manifests are not supported; push the image again with a current client"
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("the manifest is not JSON: {e}")))?;
        if value.get("schemaVersion").and_then(serde_json::Value::as_u64) == Some(1) {
            return Err(invalid(
                "schema 1 manifests are not supported; push the image again with a current client"
                    .into(),
            ));
        }
        let media = manifest_media_type(&bytes).unwrap_or_default();
        if let Some(declared) = value.get("mediaType").and_then(serde_json::Value::as_str)
            && !content_type.is_empty()
            && declared != content_type
        {
            return Err(invalid(format!(
                "served as {content_type} but its mediaType is {declared}"
            )));
        }
        if !is_index_type(&media) && !is_image_type(&media) {
            return Err(invalid(format!("unsupported manifest type {media:?}")));
        }
        let actual = sha256_digest(&bytes);
        if let Some(expected) = expected
            && actual != *expected
        {
            return Err(invalid(format!("the manifest has digest {actual}, not {expected}")));
        }
        if let Some(header) = header_digest
            && header != actual.to_string()
        {
            return Err(invalid(format!(
                "Docker-Content-Digest says {header} but the manifest has digest {actual}"
            )));
        }
        blobs.put_bytes(&bytes)?;
        Ok((actual, bytes, media))
    }

    /// Downloads every layer of `resolved` not yet in `blobs`, several at
    /// once; a blob the serving endpoint lacks is asked of the others.
    pub fn fetch_layers(
        &self,
        resolved: &Resolved,
        blobs: &Blobs,
        progress: &dyn Progress,
    ) -> Result<()> {
        let missing: Vec<&Descriptor> =
            resolved.layers.iter().filter(|l| !blobs.has(l.digest())).collect();
        for layer in &resolved.layers {
            if blobs.has(layer.digest()) {
                progress.finished(layer.digest(), layer.size(), "exists");
            }
        }
        let shown = resolved.reference.to_string();
        let next = std::sync::Mutex::new(missing.iter());
        let failed: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.min(missing.len()) {
                scope.spawn(|| {
                    loop {
                        if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                            return;
                        }
                        let Some(layer) =
                            next.lock().unwrap_or_else(|p| p.into_inner()).next().copied()
                        else {
                            return;
                        };
                        let mut result =
                            Err(Error::NotFound { reference: shown.clone(), detail: None });
                        for endpoint in &resolved.endpoints {
                            let scopes = Scopes::pull(&endpoint.repository);
                            result =
                                self.download(endpoint, &scopes, layer, blobs, &shown, progress);
                            match &result {
                                Err(Error::NotFound { .. }) | Err(Error::Transport { .. })
                                    if endpoint.mirror =>
                                {
                                    continue;
                                }
                                _ => break,
                            }
                        }
                        if let Err(e) = result {
                            failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        match failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Streams one blob into `blobs`, hashing as it goes; a broken
    /// connection resumes with `Range` (or restarts when the registry
    /// ignores it). Nothing lands unless the size and digest match.
    pub(crate) fn download(
        &self,
        endpoint: &Endpoint,
        scopes: &Scopes,
        blob: &Descriptor,
        blobs: &Blobs,
        shown: &str,
        progress: &dyn Progress,
    ) -> Result<()> {
        let digest = blob.digest();
        let what = format!("{shown}: blob {digest}");
        let total = blob.size();
        let mut writer = blobs.writer()?;
        let mut done: u64 = 0;
        let mut breaks = 0;
        loop {
            let range = format!("bytes={done}-");
            let headers: Vec<(&str, &str)> =
                if done > 0 { vec![("Range", range.as_str())] } else { Vec::new() };
            let response = self.send(
                endpoint,
                scopes,
                Method::GET,
                &format!("blobs/{digest}"),
                &headers,
                Payload::Empty,
            )?;
            match response.status() {
                StatusCode::OK if done > 0 => {
                    // The registry ignored the range: start over.
                    writer = blobs.writer()?;
                    done = 0;
                }
                StatusCode::OK => {}
                StatusCode::PARTIAL_CONTENT => {
                    let starts = response
                        .headers()
                        .get(header::CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|r| r.starts_with(&format!("bytes {done}-")));
                    if !starts {
                        writer = blobs.writer()?;
                        done = 0;
                        continue;
                    }
                }
                _ => return Err(unexpected(&what, response)),
            }
            let mut reader = response.into_body().into_with_config().limit(u64::MAX).reader();
            let mut buf = vec![0u8; 256 << 10];
            let broke = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        done += n as u64;
                        if done > total {
                            return Err(Error::Invalid {
                                what,
                                why: format!("the registry sent more than its {total} bytes"),
                            });
                        }
                        writer.write_all(&buf[..n]).map_err(|e| Error::Transport {
                            what: what.clone(),
                            why: format!("writing to the store: {e}"),
                        })?;
                        progress.bytes(digest, done, total);
                    }
                    Err(e) => break Some(e),
                }
            };
            if broke.is_none() && done == total {
                break;
            }
            breaks += 1;
            if breaks >= self.retry.attempts {
                let why = match broke {
                    Some(e) => format!("the connection broke at {done} of {total} bytes: {e}"),
                    None => format!("the registry sent {done} of {total} bytes"),
                };
                return Err(Error::Transport { what, why });
            }
            std::thread::sleep(self.backoff(breaks, None));
        }
        writer.finish_verified(digest, Path::new(&what)).map_err(|e| match e {
            rbuild_image::Error::DigestMismatch { actual, .. } => Error::Invalid {
                what: what.clone(),
                why: format!("the content has digest {actual}"),
            },
            other => Error::Store(other),
        })?;
        progress.finished(digest, total, "downloaded");
        Ok(())
    }
}

fn parse_digest(shown: &str, text: &str) -> Result<Digest> {
    Digest::from_str(text).map_err(|e| Error::Invalid {
        what: shown.to_owned(),
        why: format!("bad digest {text}: {e}"),
    })
}

/// The index entry for `want`: os and architecture equal, the variant
/// exact if there is one (arm64's missing variant is v8), else an entry
/// without variant; attestation manifests (`unknown/unknown`) never.
pub fn choose_platform<'a>(index: &'a ImageIndex, want: &Platform) -> Option<&'a Descriptor> {
    let norm = |arch: &str, variant: &str| -> String {
        match (arch, variant) {
            ("arm64", "") => "v8".into(),
            _ => variant.into(),
        }
    };
    let wanted_variant = norm(&want.arch, &want.variant);
    let candidates: Vec<(&Descriptor, String)> = index
        .manifests()
        .iter()
        .filter(|d| is_image_type(d.media_type().as_ref()))
        .filter_map(|d| {
            let p = d.platform().as_ref()?;
            let (os, arch) = (p.os().to_string(), p.architecture().to_string());
            (os == want.os && arch == want.arch)
                .then(|| (d, norm(&arch, p.variant().as_deref().unwrap_or(""))))
        })
        .collect();
    candidates
        .iter()
        .find(|(_, v)| *v == wanted_variant)
        .or_else(|| candidates.iter().find(|(_, v)| v.is_empty()))
        .map(|(d, _)| *d)
}

fn platforms(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .filter(|s| s != "unknown/unknown")
        .collect();
    if list.is_empty() { "none".into() } else { list.join(", ") }
}
