//! Pushes: each blob checked with HEAD, mounted from another repository of
//! the same registry when the store knows one, else uploaded (one PUT for
//! small blobs, PATCH chunks for large ones); the manifest last, byte for
//! byte as stored, so a pulled image keeps its digest wherever it goes.

use oci_spec::image::{Descriptor, Digest, ImageIndex, ImageManifest};
use rbuild_image::Blobs;
use rbuild_llb::Reference;
use ureq::http::{Method, StatusCode, header};

use crate::auth::Scopes;
use crate::client::{Client, Payload, unexpected};
use crate::config::Endpoint;
use crate::error::{Error, Result};
use crate::pull::{Progress, is_image_type, is_index_type, manifest_media_type};

/// Blobs up to this size go up in one request; larger ones in chunks of it.
pub const CHUNK: u64 = 16 << 20;

/// What a push left in the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The manifest's digest (the registry's `Docker-Content-Digest`).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl Client {
    /// Pushes the image (or index) whose manifest is `manifest` in
    /// `blobs` to `target` (its tag, or its digest alone). `sources`
    /// names repositories (`host/path`) that already hold a blob, for
    /// cross-repository mounts.
    pub fn push(
        &self,
        blobs: &Blobs,
        manifest: &Digest,
        target: &Reference,
        sources: &(dyn Fn(&Digest) -> Vec<String> + Sync),
        progress: &dyn Progress,
    ) -> Result<Pushed> {
        let endpoint = self.config.push_endpoint(&target.domain, &target.path)?;
        let shown_ref = target.to_string();
        self.push_manifest_tree(&endpoint, blobs, manifest, &shown_ref, sources, progress, 0)?;
        let bytes = blobs.read(manifest)?;
        let media = manifest_media_type(&bytes).unwrap_or_default();
        let tag = target.tag.clone().unwrap_or_else(|| manifest.to_string());
        let pushed = self.put_manifest(&endpoint, &bytes, &media, &tag, &shown_ref)?;
        if pushed.digest != *manifest {
            return Err(Error::Invalid {
                what: shown_ref,
                why: format!(
                    "the registry stored the manifest as {}, not {manifest}",
                    pushed.digest
                ),
            });
        }
        Ok(pushed)
    }

    /// Pushes everything a manifest refers to (an index's manifests first,
    /// by digest), but not the manifest itself.
    #[allow(clippy::too_many_arguments)]
    fn push_manifest_tree(
        &self,
        endpoint: &Endpoint,
        blobs: &Blobs,
        manifest: &Digest,
        shown_ref: &str,
        sources: &(dyn Fn(&Digest) -> Vec<String> + Sync),
        progress: &dyn Progress,
        depth: u32,
    ) -> Result<()> {
        let bytes = blobs.read(manifest)?;
        let media = manifest_media_type(&bytes).unwrap_or_default();
        let invalid = |why: String| Error::Invalid { what: shown_ref.to_owned(), why };
        if is_index_type(&media) {
            if depth > 1 {
                return Err(invalid("indexes nested too deep".into()));
            }
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| invalid(format!("not an index: {e}")))?;
            for child in index.manifests() {
                if !blobs.has(child.digest()) {
                    // A platform that was never pulled: the registry must have it.
                    continue;
                }
                self.push_manifest_tree(
                    endpoint,
                    blobs,
                    child.digest(),
                    shown_ref,
                    sources,
                    progress,
                    depth + 1,
                )?;
                let child_bytes = blobs.read(child.digest())?;
                let child_media = manifest_media_type(&child_bytes).unwrap_or_default();
                self.put_manifest(
                    endpoint,
                    &child_bytes,
                    &child_media,
                    child.digest().as_ref(),
                    shown_ref,
                )?;
            }
            return Ok(());
        }
        if !is_image_type(&media) {
            return Err(invalid(format!("cannot push a {media:?} manifest")));
        }
        let image: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| invalid(format!("not a manifest: {e}")))?;
        let mut all: Vec<&Descriptor> = vec![image.config()];
        all.extend(image.layers().iter());
        let next = std::sync::Mutex::new(all.iter());
        let failed: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        std::thread::scope(|scope| {
            for _ in 0..self.parallel.min(all.len()) {
                scope.spawn(|| {
                    loop {
                        if failed.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                            return;
                        }
                        let Some(blob) =
                            next.lock().unwrap_or_else(|p| p.into_inner()).next().copied()
                        else {
                            return;
                        };
                        if let Err(e) =
                            self.push_blob(endpoint, blobs, blob, shown_ref, sources, progress)
                        {
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

    fn push_blob(
        &self,
        endpoint: &Endpoint,
        blobs: &Blobs,
        blob: &Descriptor,
        shown_ref: &str,
        sources: &(dyn Fn(&Digest) -> Vec<String> + Sync),
        progress: &dyn Progress,
    ) -> Result<()> {
        let digest = blob.digest();
        let what = format!("{shown_ref}: blob {digest}");
        let scopes = Scopes::push(&endpoint.repository);
        let head = self.send(
            endpoint,
            &scopes,
            Method::HEAD,
            &format!("blobs/{digest}"),
            &[],
            Payload::Empty,
        )?;
        if head.status() == StatusCode::OK {
            progress.finished(digest, blob.size(), "exists");
            return Ok(());
        }
        let path = blobs.path(digest)?;
        if !path.is_file() {
            return Err(Error::Store(rbuild_image::Error::MissingBlob {
                digest: digest.to_string(),
                root: blobs.root().to_path_buf(),
            }));
        }
        let mut location = None;
        let prefix = format!("{}/", endpoint.source);
        for source in sources(digest) {
            let Some(repo) = source.strip_prefix(&prefix) else { continue };
            if repo == endpoint.repository {
                continue;
            }
            let scopes = scopes.clone().and_pull(repo);
            let target = format!("blobs/uploads/?mount={digest}&from={repo}");
            let response =
                self.send(endpoint, &scopes, Method::POST, &target, &[], Payload::Empty)?;
            match response.status() {
                StatusCode::CREATED => {
                    progress.finished(digest, blob.size(), "mounted");
                    return Ok(());
                }
                StatusCode::ACCEPTED => {
                    location = upload_location(&response);
                    break;
                }
                _ => {}
            }
        }
        let mut location = match location {
            Some(l) => l,
            None => {
                let response = self.send(
                    endpoint,
                    &scopes,
                    Method::POST,
                    "blobs/uploads/",
                    &[],
                    Payload::Empty,
                )?;
                if response.status() != StatusCode::ACCEPTED {
                    return Err(unexpected(&what, response));
                }
                upload_location(&response).ok_or_else(|| Error::Invalid {
                    what: what.clone(),
                    why: "the registry started an upload without a Location".into(),
                })?
            }
        };
        let size = blob.size();
        if size > CHUNK {
            let mut offset = 0;
            while offset < size {
                let len = CHUNK.min(size - offset);
                let range = format!("{offset}-{}", offset + len - 1);
                let headers = [
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", range.as_str()),
                ];
                let response = self.send(
                    endpoint,
                    &scopes,
                    Method::PATCH,
                    &location,
                    &headers,
                    Payload::File { path: &path, offset, len },
                )?;
                if response.status() != StatusCode::ACCEPTED {
                    return Err(unexpected(&what, response));
                }
                location = upload_location(&response).unwrap_or(location);
                offset += len;
                progress.bytes(digest, offset, size);
            }
        }
        let put = with_query(&location, "digest", digest.as_ref());
        let payload = if size > CHUNK {
            Payload::Empty
        } else {
            Payload::File { path: &path, offset: 0, len: size }
        };
        let response = self.send(
            endpoint,
            &scopes,
            Method::PUT,
            &put,
            &[("Content-Type", "application/octet-stream")],
            payload,
        )?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(&what, response));
        }
        progress.finished(digest, size, "pushed");
        Ok(())
    }

    fn put_manifest(
        &self,
        endpoint: &Endpoint,
        bytes: &[u8],
        media: &str,
        tag: &str,
        shown_ref: &str,
    ) -> Result<Pushed> {
        let scopes = Scopes::push(&endpoint.repository);
        let response = self.send(
            endpoint,
            &scopes,
            Method::PUT,
            &format!("manifests/{tag}"),
            &[("Content-Type", media)],
            Payload::Bytes(bytes),
        )?;
        if response.status() != StatusCode::CREATED {
            return Err(unexpected(shown_ref, response));
        }
        let digest = rbuild_image::sha256_digest(bytes);
        if let Some(said) =
            response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok())
            && said != digest.to_string()
        {
            return Err(Error::Invalid {
                what: shown_ref.to_owned(),
                why: format!("the registry stored the manifest as {said}, not {digest}"),
            });
        }
        Ok(Pushed { digest, size: bytes.len() as u64 })
    }
}

fn upload_location(response: &ureq::http::Response<ureq::Body>) -> Option<String> {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `url` with `key=value` added to its query (`Location` may carry one).
fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}
