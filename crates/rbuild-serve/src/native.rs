//! rbuild's own build endpoint, for `rbuild build -H`: the context travels
//! as rbuild-context's thin stream, so a file the server already holds (by
//! blake3 digest, from an earlier build) is not sent again, and progress
//! comes back as rbuild's typed events, one JSON object per line.
//!
//! `POST /rbuild/v1/context/have` takes a JSON array of digests and
//! answers the ones the server holds. `POST /rbuild/v1/build` takes one
//! line of JSON (a [`RemoteRequest`]) and then the stream; the answer is
//! `--progress=json`'s events, ending with the result or the error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Response, StatusCode};
use rbuild_context::Digest;
use rbuild_engine::BuildRequest;
use rbuild_llb::{Event, EventSink};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::api::{ApiError, Body, Call, CancelOnDrop, State, set};

/// The path of the digest query.
pub const HAVE_PATH: &str = "/rbuild/v1/context/have";
/// The path of the build.
pub const BUILD_PATH: &str = "/rbuild/v1/build";
/// The most bytes the first line (the request) may take.
const MAX_REQUEST_LINE: u64 = 4 << 20;

/// What a remote build asks for: `rbuild build`'s options, with every value
/// resolved on the client (a `--build-arg K` without a value takes the
/// client's environment, never the server's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRequest {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// How messages name it: as the user gave it.
    pub dockerfile_name: String,
    /// The ignore file the client applied when it sent a
    /// `<Dockerfile>.dockerignore` (the context's own `.dockerignore`
    /// travels in the context).
    pub dockerignore: Option<String>,
    /// `-t`.
    pub tags: Vec<String>,
    /// `--build-arg`, values resolved.
    pub build_args: BTreeMap<String, String>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--pull`: `always`, `missing` or `never`.
    pub pull: Option<String>,
    /// `--network`.
    pub network: Option<String>,
    /// `--allow`.
    pub allow: Vec<String>,
    /// `--cache-from`, as given (registry references are the server's to
    /// reach).
    pub cache_from: Vec<String>,
    /// `--cache-to`, as given.
    pub cache_to: Vec<String>,
    /// `SOURCE_DATE_EPOCH` of the client.
    pub source_date_epoch: Option<u64>,
    /// `--secret` values by id. They travel in the request line only and
    /// reach the steps the way a local build's do; never printed.
    #[serde(default, skip_serializing_if = "RemoteSecrets::is_empty")]
    pub secrets: RemoteSecrets,
    /// The names the server pushes after the build (`--push`'s `-t`
    /// names, `--output type=image,push=true`'s); each is also a `-t`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<String>,
    /// `--output`s of files: each is made on the server and sent back
    /// after the result, in this order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<RemoteOutput>,
    /// `--platform`, checked on the server (its machine's is the one built).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `--no-cache-filter`'s stage names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_cache_filter: Vec<String>,
    /// `--add-host`, checked on the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<rbuild_llb::ExtraHost>,
    /// `--log-dir`, as the client names it: each step's whole log comes
    /// back after the build, succeeded or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dir: Option<PathBuf>,
    /// `--failure-bundle`, as the client names it: the bundle of a failed
    /// RUN comes back after the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_bundle: Option<PathBuf>,
    /// The client's logins for the registries this build reaches (its
    /// images, its shared caches, its pushes): they serve this build only,
    /// as `X-Registry-Config` does a classic one's, and are never printed.
    #[serde(default, skip_serializing_if = "RemoteAuth::is_empty")]
    pub registry_auth: RemoteAuth,
}

/// What the server makes of the image for one `--output` and sends back:
/// the client turns a `tar` into a directory for `type=local`, an `oci`
/// archive into a layout for `type=oci,dest=DIR`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteOutput {
    /// A `docker save` archive.
    Docker,
    /// An OCI archive.
    Oci,
    /// The image's file system, flattened, as a tar.
    Tar,
}

/// The line that comes before a file's bytes in the answer: `size` bytes
/// follow it, then the lines go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "file", rename_all = "lowercase")]
pub enum FileFrame {
    /// The request's output `index`.
    Output {
        /// Which of the request's outputs.
        index: usize,
        /// How many bytes follow.
        size: u64,
    },
    /// The file `name` of `--log-dir`.
    Log {
        /// Its name in the directory (never a path).
        name: String,
        /// How many bytes follow.
        size: u64,
    },
    /// The failure bundle.
    Bundle {
        /// How many bytes follow.
        size: u64,
    },
}

/// Registry logins of a remote build, by registry, in docker's AuthConfig
/// form (`username`/`password` or `identitytoken`); `Debug` hides the
/// secrets ([`rbuild_registry::Credential`]'s).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteAuth(pub rbuild_registry::RequestAuth);

impl RemoteAuth {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for RemoteAuth {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use rbuild_registry::Credential;
        let configs: BTreeMap<&String, serde_json::Value> = self
            .0
            .iter()
            .map(|(host, credential)| {
                let config = match credential {
                    Credential::Basic { username, password } => {
                        serde_json::json!({ "username": username, "password": password })
                    }
                    Credential::IdentityToken(token) => {
                        serde_json::json!({ "identitytoken": token })
                    }
                };
                (host, config)
            })
            .collect();
        configs.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RemoteAuth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let configs = BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        configs
            .into_iter()
            .map(|(host, config)| match crate::registry::auth_config(&config) {
                Some(credential) => Ok((host, credential)),
                None => Err(serde::de::Error::custom(format!("a login for {host} is not one"))),
            })
            .collect::<Result<_, _>>()
            .map(RemoteAuth)
    }
}

/// Secret values of a remote build, base64 in the request; `Debug` shows
/// the ids only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RemoteSecrets(pub BTreeMap<String, Vec<u8>>);

impl RemoteSecrets {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for RemoteSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Serialize for RemoteSecrets {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let encoded: BTreeMap<&String, String> = self
            .0
            .iter()
            .map(|(id, v)| (id, base64::engine::general_purpose::STANDARD.encode(v)))
            .collect();
        encoded.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RemoteSecrets {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let encoded = BTreeMap::<String, String>::deserialize(d)?;
        let decoded = encoded
            .into_iter()
            .map(|(id, v)| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map(|v| (id, v))
                    .map_err(|_| serde::de::Error::custom("a secret is not base64"))
            })
            .collect::<Result<_, _>>()?;
        Ok(RemoteSecrets(decoded))
    }
}

impl RemoteRequest {
    /// The engine's request for it, on the context the server unpacked.
    fn engine_request(&self, context: &Path, dockerfile: &Path) -> Result<BuildRequest, String> {
        if let Some(platform) = &self.platform {
            rbuild_llb::check_build_platforms(platform).map_err(|e| format!("--platform: {e}"))?;
        }
        let mut request = BuildRequest::new(context, dockerfile);
        request.dockerfile_name = Some(self.dockerfile_name.clone());
        request.tags = self.tags.clone();
        request.build_args =
            self.build_args.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        request.labels = self.labels.clone();
        request.target = self.target.clone();
        request.no_cache = self.no_cache;
        request.pull = rbuild_engine::PullPolicy::from_flag(self.pull.as_deref());
        if let Some(network) = &self.network {
            request.network = Some(network.parse().map_err(|e: String| format!("--network: {e}"))?);
        }
        request.allow = rbuild_llb::Entitlement::parse_flags(&self.allow)?;
        request.cache_from = self
            .cache_from
            .iter()
            .map(|c| rbuild_engine::CacheImport::parse(c))
            .collect::<Result<_, _>>()?;
        request.cache_to = self
            .cache_to
            .iter()
            .map(|c| rbuild_engine::CacheExport::parse(c))
            .collect::<Result<_, _>>()?;
        // A directory is a path on the server: a client names registries
        // only, or it could have the server write (as root) anywhere.
        let local =
            |l: &rbuild_engine::CacheLocation| matches!(l, rbuild_engine::CacheLocation::Local(_));
        if request.cache_to.iter().any(|c| local(&c.location))
            || request.cache_from.iter().any(|c| local(&c.location))
        {
            return Err("a shared cache of type=local is a directory of the server: a remote \
                        build names a registry (type=registry,ref=…)"
                .into());
        }
        request.source_date_epoch = self.source_date_epoch;
        request.extra_hosts = self.extra_hosts.clone();
        request.no_cache_filter = self.no_cache_filter.clone();
        for (id, value) in &self.secrets.0 {
            request.secrets.insert(id.clone(), value.clone());
        }
        Ok(request)
    }
}

/// The server's copy of a context file with `digest`, if it holds one.
fn held(dir: &Path, digest: &Digest) -> Option<PathBuf> {
    let path = dir.join(digest.to_string());
    path.is_file().then_some(path)
}

/// `POST /rbuild/v1/context/have`.
pub(crate) async fn have(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let body = http_body_util::Limited::new(call.request.into_body(), 64 << 20)
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the digests: {e}")))?
        .to_bytes();
    let asked: Vec<Digest> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected a JSON array of digests: {e}")))?;
    let dir = state.engine.store().context_files_dir();
    let held: Vec<Digest> = tokio::task::spawn_blocking(move || {
        asked.into_iter().filter(|d| held(&dir, d).is_some()).collect()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(crate::api::json(StatusCode::OK, &serde_json::json!(held)))
}

/// Keeps the files a stream brought, by digest, for the next build (a
/// hard link: the context is on the store's file system).
fn keep_received(dir: &Path, files: &[(PathBuf, Digest, bool)]) {
    for (path, digest, _) in files.iter().filter(|(_, _, came)| *came) {
        let kept = dir.join(digest.to_string());
        if kept.exists() {
            continue;
        }
        let tmp = dir.join(format!("{}{}", rbuild_cache::temp_prefix(".tmp"), digest));
        let linked =
            std::fs::hard_link(path, &tmp).or_else(|_| std::fs::copy(path, &tmp).map(drop));
        if linked.is_ok() && std::fs::rename(&tmp, &kept).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// What a remote build's body unpacked to: the request, the context, the
/// Dockerfile, and the digests of every context file.
type Unpacked = (RemoteRequest, PathBuf, PathBuf, rbuild_context::StatCache);

/// Reads the request line and the thin stream, as they come, into
/// `dir/context`, taking held files from `store_dir` and keeping the new
/// ones there.
fn unpack(
    dir: &Path,
    body: crate::build::BodyReader,
    store_dir: &Path,
) -> Result<Unpacked, ApiError> {
    let mut reader = std::io::BufReader::new(body);
    let mut line = String::new();
    (&mut reader)
        .take(MAX_REQUEST_LINE)
        .read_line(&mut line)
        .map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?;
    let request: RemoteRequest = serde_json::from_str(&line)
        .map_err(|e| ApiError::bad_request(format!("bad request line: {e}")))?;
    let context = dir.join("context");
    std::fs::create_dir(&context).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut files = Vec::new();
    let read =
        rbuild_context::read_stream_into(&mut reader, &context, |d| held(store_dir, d), &mut files);
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    read.map_err(|e| ApiError::bad_request(format!("build context: {e}")))?;
    keep_received(store_dir, &files);
    // Every file's digest was checked as it was written: the engine need
    // not read them again.
    let mut stat = rbuild_context::StatCache::new();
    for (path, digest, _) in &files {
        let Some(rel) = path.strip_prefix(&context).ok().and_then(|r| r.to_str()) else { continue };
        let _ = stat.vouch(&context, rel, *digest);
    }
    let dockerfile = dir.join("Dockerfile");
    std::fs::write(&dockerfile, &request.dockerfile)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(ignore) = &request.dockerignore {
        std::fs::write(dir.join("Dockerfile.dockerignore"), ignore)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    Ok((request, context, dockerfile, stat))
}

/// Sends each event as one JSON line.
struct EventLines {
    tx: mpsc::Sender<Bytes>,
    cancel: rbuild_llb::Cancel,
}

impl EventSink for EventLines {
    fn emit(&self, event: &Event) {
        let Ok(mut text) = serde_json::to_string(event) else { return };
        text.push('\n');
        if self.tx.blocking_send(Bytes::from(text)).is_err() {
            self.cancel.cancel();
        }
    }
}

/// `POST /rbuild/v1/build`.
pub(crate) async fn build(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let dir = crate::build::request_dir(&state)?;
    let body =
        crate::build::BodyReader::new(call.request.into_body(), state.config.max_context_bytes);
    let store_dir = state.engine.store().context_files_dir();
    let dir_path = dir.path().to_owned();
    let unpacked = tokio::task::spawn_blocking(move || unpack(&dir_path, body, &store_dir))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let (remote, context, dockerfile, stat) = unpacked;
    let mut request =
        remote.engine_request(&context, &dockerfile).map_err(ApiError::bad_request)?;
    request.stat_cache = Some(stat);
    // The client's logins, for this build only; the server's are never
    // lent to a client.
    request.registry_auth = Some(remote.registry_auth.0.clone());
    let push: Vec<rbuild_llb::Reference> = remote
        .push
        .iter()
        .map(|name| rbuild_llb::Reference::parse(name))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Made in the request's directory, sent after the result.
    let outputs: Vec<PathBuf> =
        (0..remote.outputs.len()).map(|i| dir.path().join(format!("output-{i}.tar"))).collect();
    let log_dir = dir.path().join("logs");
    if let Some(shown) = &remote.log_dir {
        request.log_dir = Some(log_dir.clone());
        request.shown_as.log_dir = Some(shown.clone());
    }
    let bundle = dir.path().join("failure-bundle.tar");
    if let Some(shown) = &remote.failure_bundle {
        request.failure_bundle = Some(bundle.clone());
        request.shown_as.failure_bundle = Some(shown.clone());
    }
    for (kind, path) in remote.outputs.iter().zip(&outputs) {
        request.outputs.push(match kind {
            RemoteOutput::Docker => rbuild_engine::Output::Docker(path.clone()),
            RemoteOutput::Oci => rbuild_engine::Output::Oci(path.clone()),
            RemoteOutput::Tar => rbuild_engine::Output::Tar(path.clone()),
        });
    }
    let cancel = request.cancel.clone();
    let guard = state.start_build(cancel.clone());
    let (tx, rx) = mpsc::channel(256);
    let sink = EventLines { tx, cancel: cancel.clone() };
    let engine_state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let started = std::time::Instant::now();
        // The engine's last event is the result or the error; a push's
        // events follow the result, and end with an error if it fails.
        let built = engine_state.engine.build(&request, &sink);
        let pushed = built.is_ok()
            && push_built(&engine_state, &push, request.registry_auth.as_ref(), &sink, started);
        let mut files: Vec<(FileFrame, PathBuf)> = Vec::new();
        if pushed {
            let frames = (0..).map(|index| FileFrame::Output { index, size: 0 });
            files.extend(frames.zip(outputs));
        }
        let mut logs: Vec<(String, PathBuf)> = std::fs::read_dir(&log_dir)
            .map(|d| d.flatten().map(|e| (e.file_name().to_string_lossy().into_owned(), e.path())))
            .into_iter()
            .flatten()
            .collect();
        logs.sort();
        files.extend(logs.into_iter().map(|(name, path)| (FileFrame::Log { name, size: 0 }, path)));
        if bundle.is_file() {
            files.push((FileFrame::Bundle { size: 0 }, bundle));
        }
        send_files(files, &sink, started);
        drop(dir);
    });
    let mut response = Response::new(Body::Stream(rx, Some(CancelOnDrop(Some(cancel)))));
    set(&mut response, "Content-Type", "application/x-ndjson");
    Ok(response)
}

/// An event of the answer, stamped with the seconds since `started`.
fn emit_at(sink: &EventLines, started: std::time::Instant, kind: rbuild_llb::EventKind) {
    let time = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    sink.emit(&Event { kind, time });
}

/// Sends each file as its [`FileFrame`] line (the size filled in) and its
/// bytes; one that cannot be read is the build's error event.
fn send_files(files: Vec<(FileFrame, PathBuf)>, sink: &EventLines, started: std::time::Instant) {
    for (mut frame, path) in files {
        let sent = std::fs::File::open(&path).and_then(|mut file| {
            let length = file.metadata()?.len();
            match &mut frame {
                FileFrame::Output { size, .. }
                | FileFrame::Log { size, .. }
                | FileFrame::Bundle { size } => *size = length,
            }
            let mut line = serde_json::to_vec(&frame)?;
            line.push(b'\n');
            let mut out = crate::api::ChannelWriter { tx: sink.tx.clone(), buf: line };
            let copied = std::io::copy(&mut file, &mut out)?;
            std::io::Write::flush(&mut out)?;
            if copied != length {
                return Err(std::io::Error::other(format!("{copied} of {length} bytes")));
            }
            Ok(())
        });
        if let Err(e) = sent {
            let what = match &frame {
                FileFrame::Output { index, .. } => format!("output {}", index + 1),
                FileFrame::Log { name, .. } => format!("the log {name}"),
                FileFrame::Bundle { .. } => "the failure bundle".to_owned(),
            };
            let message = format!("cannot send {what}: {e}");
            return emit_at(sink, started, rbuild_llb::EventKind::Error { message });
        }
    }
}

/// Pushes each of `names` with the client's logins, its progress as push
/// events; the first failure is the build's error event (and `false`).
fn push_built(
    state: &State,
    names: &[rbuild_llb::Reference],
    auth: Option<&rbuild_registry::RequestAuth>,
    sink: &EventLines,
    started: std::time::Instant,
) -> bool {
    if names.is_empty() {
        return true;
    }
    let emit = |kind: rbuild_llb::EventKind| emit_at(sink, started, kind);
    let client = match rbuild_registry::Client::for_request(auth) {
        Ok(client) => client,
        Err(e) => {
            emit(rbuild_llb::EventKind::Error {
                message: format!("cannot push: the registry configuration: {e}"),
            });
            return false;
        }
    };
    for name in names {
        let image = name.to_string();
        let progress = PushProgress { image: &image, emit: &emit };
        let message = match state.engine.push(&client, name, &progress) {
            Ok(Some(pushed)) => {
                emit(rbuild_llb::EventKind::Push(rbuild_llb::PushEvent {
                    image: image.clone(),
                    digest: pushed.digest.to_string(),
                    status: rbuild_llb::PushStatus::PushedImage,
                    size: pushed.size,
                }));
                continue;
            }
            Ok(None) => format!("cannot push {image}: the build did not tag it"),
            Err(e) => format!("cannot push {image}: {}", rbuild_engine::error_message(&e)),
        };
        emit(rbuild_llb::EventKind::Error { message });
        return false;
    }
    true
}

/// A push's blobs as push events.
struct PushProgress<'a> {
    image: &'a str,
    emit: &'a (dyn Fn(rbuild_llb::EventKind) + Sync),
}

impl rbuild_registry::Progress for PushProgress<'_> {
    fn finished(&self, digest: &rbuild_image::oci_spec::image::Digest, size: u64, how: &str) {
        let status = match how {
            "exists" => rbuild_llb::PushStatus::Exists,
            "mounted" => rbuild_llb::PushStatus::Mounted,
            _ => rbuild_llb::PushStatus::Pushed,
        };
        (self.emit)(rbuild_llb::EventKind::Push(rbuild_llb::PushEvent {
            image: self.image.to_owned(),
            digest: digest.to_string(),
            status,
            size,
        }));
    }
}

/// The digests of the files of `hashes`, each once.
pub(crate) fn file_digests(hashes: &rbuild_context::ContextHashes) -> Vec<Digest> {
    let set: BTreeSet<String> = hashes
        .entries
        .iter()
        .filter(|e| e.kind == rbuild_context::EntryKind::File)
        .map(|e| e.digest.to_string())
        .collect();
    set.into_iter().filter_map(|d| d.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_travel_as_base64_and_never_print() {
        let mut request = RemoteRequest::default();
        request.secrets.0.insert("tok".into(), b"v\x00\xff".to_vec());
        let line = serde_json::to_string(&request).unwrap();
        assert!(line.contains(r#""secrets":{"tok":"dgD/"}"#), "{line}");
        let back: RemoteRequest = serde_json::from_str(&line).unwrap();
        assert_eq!(back, request);
        let shown = format!("{request:?}");
        assert!(shown.contains("secrets: {\"tok\"}") && !shown.contains("dgD/"), "{shown}");
        let none = serde_json::to_string(&RemoteRequest::default()).unwrap();
        assert!(!none.contains("secrets"), "{none}");
    }

    #[test]
    fn logins_travel_as_docker_auth_configs_and_never_print() {
        use rbuild_registry::Credential;
        let mut request = RemoteRequest::default();
        request.registry_auth.0.insert(
            "reg.example:5000".into(),
            Credential::Basic { username: "alice".into(), password: "pa55".into() },
        );
        request
            .registry_auth
            .0
            .insert("other.example".into(), Credential::IdentityToken("t0k".into()));
        let line = serde_json::to_string(&request).unwrap();
        assert!(
            line.contains(
                r#""registry_auth":{"other.example":{"identitytoken":"t0k"},"reg.example:5000":{"password":"pa55","username":"alice"}}"#
            ),
            "{line}"
        );
        let back: RemoteRequest = serde_json::from_str(&line).unwrap();
        assert_eq!(back, request);
        let shown = format!("{request:?}");
        assert!(!shown.contains("pa55") && !shown.contains("t0k"), "{shown}");
        let bad = line.replace(r#"{"identitytoken":"t0k"}"#, "{}");
        let err = serde_json::from_str::<RemoteRequest>(&bad).unwrap_err().to_string();
        assert!(err.contains("a login for other.example is not one"), "{err}");
        let none = serde_json::to_string(&RemoteRequest::default()).unwrap();
        assert!(!none.contains("registry_auth"), "{none}");
    }
}
