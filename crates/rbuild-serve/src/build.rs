//! `POST /build`, the classic builder's contract: the context as a tar
//! body, the options as query parameters, JSON lines back.
//!
//! Everything that can be refused is refused before the first byte of the
//! answer, with an HTTP status (a bad parameter, a context entry that
//! leaves its root, a missing Dockerfile, a parse error): the whole body is
//! read first, as moby does. From then on the answer is 200 and the stream
//! says the rest: rbuild's progress lines as `stream`, the image id as
//! `aux`, `Successfully built`/`tagged` (which the Python SDK reads), or
//! an `errorDetail` with the exit code the CLI exits with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Response, StatusCode};
use rbuild_engine::{BuildError, BuildRequest, StepError};
use rbuild_llb::{Cancel, Event, EventKind, EventSink, NetworkMode};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

use crate::api::{ApiError, Body, Call, CancelOnDrop, State, set};

/// How many JSON lines may wait for a slow client before the build waits.
const QUEUE: usize = 256;

/// The build a request asks for, checked before the body is read.
struct Asked {
    tags: Vec<String>,
    dockerfile: String,
    build_args: std::collections::BTreeMap<String, Option<String>>,
    labels: std::collections::BTreeMap<String, String>,
    target: Option<String>,
    no_cache: bool,
    quiet: bool,
    pull: bool,
    network: Option<NetworkMode>,
    extra_hosts: Vec<rbuild_llb::ExtraHost>,
    ignored: Vec<&'static str>,
    registry_auth: rbuild_registry::RequestAuth,
}

fn asked(call: &Call) -> Result<Asked, ApiError> {
    let q = &call.query;
    match q.get("version").unwrap_or("1") {
        "1" | "" => {}
        "2" => {
            return Err(ApiError::bad_request(
                "BuildKit builds (version=2) need BuildKit's session API, which rbuild serve does \
                 not serve; set DOCKER_BUILDKIT=0 to use the classic build API",
            ));
        }
        other => {
            return Err(ApiError::bad_request(format!("invalid version {other:?}: expected 1")));
        }
    }
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(
            "remote build contexts are not supported: send the context as the request body",
        ));
    }
    let mut tags = Vec::new();
    for tag in q.all("t").into_iter().filter(|t| !t.is_empty()) {
        rbuild_llb::normalize_reference(tag)
            .map_err(|e| ApiError::bad_request(format!("invalid tag {tag:?}: {e}")))?;
        tags.push(tag.to_owned());
    }
    let network = match q.get("networkmode").unwrap_or("") {
        "" | "default" | "bridge" => None,
        "host" => Some(NetworkMode::Host),
        "none" => Some(NetworkMode::None),
        other => {
            return Err(ApiError::bad_request(format!(
                "network mode {other:?} is not supported: expected default, host or none"
            )));
        }
    };
    if let Some(platform) = q.get("platform") {
        rbuild_llb::check_build_platforms(platform).map_err(ApiError::bad_request)?;
    }
    if q.bool("squash") {
        return Err(ApiError::bad_request("squash is not supported"));
    }
    // `--add-host`: `HOST:IP` values (a comma never is in either).
    let extra_hosts = q
        .all("extrahosts")
        .iter()
        .flat_map(|h| h.split(','))
        .filter(|h| !h.is_empty())
        .map(|h| rbuild_llb::ExtraHost::parse(h).map_err(ApiError::bad_request))
        .collect::<Result<Vec<_>, _>>()?;
    if q.get("securityopt").is_some_and(|s| !s.is_empty() && s != "null" && s != "[]") {
        return Err(ApiError::bad_request("security options are not supported on Linux builds"));
    }
    let mut ignored = Vec::new();
    if !q.json_list("cachefrom")?.is_empty() {
        ignored.push("cachefrom (use rbuild build --cache-from with a registry cache)");
    }
    let labels =
        q.json_map("labels")?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect();
    Ok(Asked {
        tags,
        dockerfile: q
            .get("dockerfile")
            .filter(|d| !d.is_empty())
            .unwrap_or("Dockerfile")
            .to_owned(),
        // A `null` value (`--build-arg K` with K unset on the client) is
        // declared without a value: never the server's own environment.
        build_args: q
            .json_map("buildargs")?
            .into_iter()
            .filter_map(|(k, v)| Some((k, Some(v?))))
            .collect(),
        labels,
        target: q.get("target").filter(|t| !t.is_empty()).map(str::to_owned),
        no_cache: q.bool("nocache"),
        quiet: q.bool("q"),
        pull: q.bool("pull"),
        network,
        extra_hosts,
        ignored,
        registry_auth: crate::registry::request_auth(
            call.request.headers().get("X-Registry-Config").and_then(|v| v.to_str().ok()),
        ),
    })
}

/// The context written to disk: the request's own directory in the
/// store's tmp/ (named for this process, so a crash's leftovers are found).
struct Received {
    /// Removed with everything in it when the build is done.
    _dir: tempfile::TempDir,
    context: PathBuf,
    dockerfile: PathBuf,
    dockerfile_name: String,
}

/// Reads a request body into the file `path`, at most `limit` bytes.
pub(crate) async fn spool(
    body: hyper::body::Incoming,
    path: &Path,
    limit: u64,
) -> Result<(), ApiError> {
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot store the context: {e}")))?;
    let mut body = body;
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the build context: {e}")))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the build context is larger than the limit of {limit} bytes"),
                ));
            }
            file.write_all(&data)
                .await
                .map_err(|e| ApiError::internal(format!("cannot store the context: {e}")))?;
        }
    }
    file.flush().await.map_err(|e| ApiError::internal(format!("cannot store the context: {e}")))
}

/// A directory of the request's own in the store's tmp/, named for this
/// process (so a crash's leftovers are found) and removed when dropped.
pub(crate) fn request_dir(state: &State) -> Result<tempfile::TempDir, ApiError> {
    let tmp = state.engine.store().tmp_dir();
    std::fs::create_dir_all(&tmp)
        .and_then(|()| {
            tempfile::Builder::new().prefix(&rbuild_cache::temp_prefix("serve")).tempdir_in(&tmp)
        })
        .map_err(|e| ApiError::internal(format!("cannot store the request: {e}")))
}

/// A request body as a blocking `Read`, for the thread that unpacks it as
/// it comes (never written to disk first): a task forwards its frames, at
/// most `limit` bytes; more, or a broken body, is an error of the read.
pub(crate) struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    chunk: Bytes,
}

impl BodyReader {
    pub(crate) fn new(body: hyper::body::Incoming, limit: u64) -> BodyReader {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut body = body;
            let mut total = 0u64;
            while let Some(frame) = body.frame().await {
                let item = match frame {
                    Ok(frame) => match frame.into_data() {
                        Ok(data) => {
                            total += data.len() as u64;
                            if total > limit {
                                Err(format!("larger than the limit of {limit} bytes"))
                            } else {
                                Ok(data)
                            }
                        }
                        Err(_) => continue,
                    },
                    Err(e) => Err(e.to_string()),
                };
                let failed = item.is_err();
                // The reader gone: it has what it wanted, or gave up.
                if tx.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        BodyReader { rx, chunk: Bytes::new() }
    }
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(why)) => return Err(std::io::Error::other(why)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Unpacks the body as it comes and finds the Dockerfile in it, which
/// must parse.
fn unpack(
    dir: tempfile::TempDir,
    mut body: BodyReader,
    asked: &Asked,
    limit: u64,
) -> Result<Received, ApiError> {
    let context = dir.path().join("context");
    std::fs::create_dir(&context)
        .map_err(|e| ApiError::internal(format!("cannot store the context: {e}")))?;
    let unpacked = rbuild_context::read_tar(&mut body, &context, limit);
    // What follows the archive's end (padding) is read too: the answer
    // starts once the whole body is in, as moby's.
    let _ = std::io::copy(&mut body, &mut std::io::sink());
    unpacked.map_err(|e| match e {
        rbuild_context::StreamError::Io { source, .. } => {
            ApiError::bad_request(format!("the build context is not a readable tar: {source}"))
        }
        other => ApiError::bad_request(format!("build context: {other}")),
    })?;
    let missing = || {
        ApiError::bad_request(format!("Cannot locate specified Dockerfile: {}", asked.dockerfile))
    };
    let rel = rbuild_context::relative_entry_path(&asked.dockerfile)
        .filter(|r| !r.as_os_str().is_empty())
        .ok_or_else(missing)?;
    let regular = |p: &Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
    let mut path = context.join(&rel);
    if !regular(&path) && asked.dockerfile == "Dockerfile" && regular(&context.join("dockerfile")) {
        path = context.join("dockerfile");
    }
    if !regular(&path) {
        return Err(missing());
    }
    // A parent that is a symlink could lead out of the context.
    if rbuild_context::prepare_parents(&context, &rel).is_err() {
        return Err(missing());
    }
    let source = std::fs::read(&path).map_err(|_| missing())?;
    let source = String::from_utf8_lossy(&source);
    // moby's words for what fails before any output.
    let parse_error = |line: usize, message: &str| {
        ApiError::bad_request(format!("dockerfile parse error line {line}: {message}"))
    };
    let df = rbuild_syntax::parse(&source).map_err(|e| parse_error(e.span().line, e.message()))?;
    rbuild_frontend::check(&df).map_err(|e| parse_error(e.span().line, e.message()))?;
    // The CLI names a Dockerfile from outside the context `.dockerfile.<hex>`;
    // the user knows it as their Dockerfile.
    let dockerfile_name = if asked.dockerfile.starts_with(".dockerfile.") {
        "Dockerfile".to_owned()
    } else {
        asked.dockerfile.clone()
    };
    Ok(Received { _dir: dir, context, dockerfile: path, dockerfile_name })
}

/// One JSON message of the stream, with moby's `\r\n`.
fn message(value: serde_json::Value) -> Bytes {
    let mut text = value.to_string();
    text.push_str("\r\n");
    Bytes::from(text)
}

fn stream_line(text: &str) -> Bytes {
    message(serde_json::json!({ "stream": format!("{text}\n") }))
}

/// Sends the build's events to the client as `stream` lines (held back
/// until the end with `q`). A client that is gone cancels the build.
struct StreamSink {
    tx: mpsc::Sender<Bytes>,
    quiet: bool,
    held: Mutex<Vec<Bytes>>,
    cancel: Cancel,
}

impl StreamSink {
    fn send(&self, bytes: Bytes) {
        if self.tx.blocking_send(bytes).is_err() {
            self.cancel.cancel();
        }
    }

    fn say(&self, bytes: Bytes) {
        if self.quiet {
            self.held.lock().unwrap_or_else(|p| p.into_inner()).push(bytes);
        } else {
            self.send(bytes);
        }
    }

    fn flush_held(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        for bytes in held {
            self.send(bytes);
        }
    }
}

impl EventSink for StreamSink {
    fn emit(&self, event: &Event) {
        // The failure is the stream's last message, an errorDetail.
        if matches!(event.kind, EventKind::Error { .. }) {
            return;
        }
        if let Some(line) = event.plain_line() {
            self.say(stream_line(&line));
        }
    }
}

/// The exit code a failed build's client should exit with: the failed
/// RUN's, else 1.
fn exit_code(error: &BuildError) -> i32 {
    match error {
        BuildError::Step(StepError::RunFailed { code, .. }) if *code > 0 => *code,
        _ => 1,
    }
}

pub(crate) async fn build(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let limit = state.config.max_context_bytes;
    let asked = match asked(&call) {
        Ok(asked) => asked,
        Err(refused) => {
            // The client is still sending its context: read it off (up to
            // the limit) so it sees the refusal, not a broken pipe.
            let mut body = BodyReader::new(call.request.into_body(), limit);
            let _ =
                tokio::task::spawn_blocking(move || std::io::copy(&mut body, &mut std::io::sink()))
                    .await;
            return Err(refused);
        }
    };
    let dir = request_dir(&state)?;
    let body = BodyReader::new(call.request.into_body(), limit);
    let (asked, received) = tokio::task::spawn_blocking(move || {
        let received = unpack(dir, body, &asked, limit);
        (asked, received)
    })
    .await
    .map_err(|e| ApiError::internal(format!("the context reader failed: {e}")))?;
    let received = received?;

    let mut request = BuildRequest::new(&received.context, &received.dockerfile);
    request.dockerfile_name = Some(received.dockerfile_name.clone());
    // A context of one build: no stat cache to keep for it.
    request.stat_cache = Some(rbuild_context::StatCache::new());
    // The client's registry logins for this build, never the server's.
    request.registry_auth = Some(asked.registry_auth.clone());
    request.tags = asked.tags.clone();
    request.build_args = asked.build_args.clone();
    request.labels = asked.labels.clone();
    request.target = asked.target.clone();
    request.no_cache = asked.no_cache;
    request.network = asked.network;
    request.extra_hosts = asked.extra_hosts.clone();
    if asked.pull {
        request.pull = rbuild_engine::PullPolicy::Always;
    }
    let cancel = request.cancel.clone();
    let guard = state.start_build(cancel.clone());
    let (tx, rx) = mpsc::channel(QUEUE);
    let sink =
        StreamSink { tx, quiet: asked.quiet, held: Mutex::default(), cancel: cancel.clone() };
    let version = call.version;
    let engine_state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        for what in &asked.ignored {
            sink.say(stream_line(&format!("warning: ignored: {what}")));
        }
        let result = engine_state.engine.build(&request, &sink);
        match result {
            Ok(result) => {
                let id = result.config_digest.clone();
                if asked.quiet {
                    sink.send(stream_line(&id));
                } else {
                    sink.send(stream_line(""));
                    for line in rbuild_llb::steps_table(&result.steps).lines() {
                        sink.send(stream_line(line));
                    }
                    // aux messages exist from API 1.30 on.
                    if version >= (1, 30) {
                        sink.send(message(serde_json::json!({ "aux": { "ID": id } })));
                    }
                    let short = rbuild_llb::short_digest(&id);
                    sink.send(stream_line(&format!("Successfully built {short}")));
                    for tag in &request.tags {
                        let name = rbuild_llb::normalize_reference(tag)
                            .map(|n| rbuild_llb::familiar_name(&n).to_owned())
                            .unwrap_or_else(|_| tag.clone());
                        sink.send(stream_line(&format!("Successfully tagged {name}")));
                    }
                }
            }
            Err(error) => {
                sink.flush_held();
                let text = rbuild_engine::error_message(&error);
                sink.send(message(serde_json::json!({
                    "errorDetail": { "code": exit_code(&error), "message": text },
                    "error": text,
                })));
            }
        }
        // The context goes when the build is done with it.
        drop(received);
    });
    let mut response = Response::new(Body::Stream(rx, Some(CancelOnDrop(Some(cancel)))));
    set(&mut response, "Content-Type", "application/json");
    Ok(response)
}
