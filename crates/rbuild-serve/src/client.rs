//! The client of rbuild's own build endpoint (`rbuild build -H`): hashes
//! the context here, asks the server which files it holds, sends the rest
//! as the thin stream, and hands the server's events to a local sink, so
//! the build shows as a local one does.

use std::path::Path;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rbuild_context::StreamStats;
use rbuild_llb::{BuildSummary, Event, EventKind, EventSink};

use crate::native::FileFrame;
use tokio::sync::mpsc;

use crate::Listen;
use crate::api::{Body, ChannelWriter};
use crate::native::{BUILD_PATH, HAVE_PATH, RemoteRequest, file_digests};

/// What a remote build did.
#[derive(Debug)]
pub struct RemoteOutcome {
    /// The result, or `None` when the build failed (the error was an event).
    pub result: Option<BuildSummary>,
    /// What the context stream carried and left out.
    pub sent: StreamStats,
}

/// Why a remote build could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or broke off.
    #[error("{host}: {why}")]
    Connection {
        /// The server.
        host: String,
        /// Why.
        why: String,
    },
    /// The server refused the request (its message).
    #[error("{0}")]
    Refused(String),
    /// The context could not be read.
    #[error("the build context: {0}")]
    Context(String),
    /// An output could not be written here.
    #[error("{0}")]
    Output(String),
}

/// An HTTP/1.1 client on `io`, its connection driven by a task.
async fn handshake<IO>(io: IO) -> Result<hyper::client::conn::http1::SendRequest<Body>, String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// One HTTP exchange with the server, on a connection of its own.
async fn exchange(
    host: &Listen,
    request: Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, ClientError> {
    let failed = |why: String| ClientError::Connection { host: host.to_string(), why };
    let mut sender = match host {
        Listen::Unix(path) => {
            let stream =
                tokio::net::UnixStream::connect(path).await.map_err(|e| failed(e.to_string()))?;
            handshake(stream).await.map_err(failed)?
        }
        Listen::Tcp(addr) => {
            let stream =
                tokio::net::TcpStream::connect(addr).await.map_err(|e| failed(e.to_string()))?;
            handshake(stream).await.map_err(failed)?
        }
    };
    let response = sender.send_request(request).await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
        return Err(ClientError::Refused(message));
    }
    Ok(response)
}

fn post(path: &str, content_type: &str, body: Body) -> Request<Body> {
    let mut request = Request::new(body);
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = path.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
    if let Ok(value) = content_type.parse() {
        request.headers_mut().insert("Content-Type", value);
    }
    if let Ok(value) = "rbuild".parse() {
        request.headers_mut().insert("Host", value);
    }
    request
}

/// Where this user keeps the digests of a context's files between remote
/// builds (`$XDG_CACHE_HOME/rbuild`, else `~/.cache/rbuild`), so an
/// unchanged file is not read again.
fn stat_cache_path(context: &Path) -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("rbuild").join(rbuild_context::StatCache::file_name(context)))
}

/// This user's logins for the registries a remote build reaches: its
/// images (FROM, `--from`), its shared caches and the names it pushes; no
/// other, so a server sees no login it does not need. A Dockerfile that
/// does not plan here lends none (the server will say what is wrong).
pub fn lent_logins(
    request: &RemoteRequest,
    credentials: &rbuild_registry::Credentials,
) -> Result<crate::native::RemoteAuth, rbuild_registry::Error> {
    let mut references = std::collections::BTreeSet::new();
    if let Ok(df) = rbuild_syntax::parse(&request.dockerfile) {
        let options = rbuild_frontend::BuildOptions {
            build_args: request
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
            target: request.target.clone(),
            platform: rbuild_llb::Platform::host(),
            ..Default::default()
        };
        references.extend(rbuild_frontend::images_named(&df, &options).unwrap_or_default());
    }
    let caches = request
        .cache_from
        .iter()
        .filter_map(|c| rbuild_engine::CacheImport::parse(c).ok().map(|c| c.location))
        .chain(
            request
                .cache_to
                .iter()
                .filter_map(|c| rbuild_engine::CacheExport::parse(c).ok().map(|c| c.location)),
        );
    for location in caches {
        if let rbuild_engine::CacheLocation::Registry(r) = location {
            references.insert(r);
        }
    }
    references.extend(request.push.iter().cloned());
    let mut lent = rbuild_registry::RequestAuth::new();
    for text in &references {
        let Ok(reference) = rbuild_llb::Reference::parse(text) else { continue };
        let key = rbuild_registry::config_key(&reference.domain);
        if lent.contains_key(&key) {
            continue;
        }
        if let Some(credential) = credentials.get(&reference.domain, Some(&reference.path))? {
            lent.insert(key, credential);
        }
    }
    Ok(crate::native::RemoteAuth(lent))
}

/// A file `--output` of a remote build: received into a temp file (beside
/// its destination when it is a file, so it is renamed into place), and
/// put in place once the build has succeeded. A failure leaves nothing.
pub struct Received {
    output: rbuild_engine::Output,
    file: tempfile::NamedTempFile,
}

impl Received {
    /// What to ask the server for `output`, and where it will arrive;
    /// `None` for `type=image`, which is names, not a file.
    pub fn new(
        output: &rbuild_engine::Output,
    ) -> std::io::Result<Option<(crate::native::RemoteOutput, Received)>> {
        use crate::native::RemoteOutput;
        use rbuild_engine::Output;
        let (kind, file) = match output {
            Output::Image { .. } => return Ok(None),
            Output::Docker(dest) => (RemoteOutput::Docker, beside(dest)?),
            Output::Tar(dest) => (RemoteOutput::Tar, beside(dest)?),
            Output::Oci(dest) if is_tar(dest) => (RemoteOutput::Oci, beside(dest)?),
            Output::Oci(_) => (RemoteOutput::Oci, tempfile::NamedTempFile::new()?),
            Output::Local(_) => (RemoteOutput::Tar, tempfile::NamedTempFile::new()?),
        };
        Ok(Some((kind, Received { output: output.clone(), file })))
    }

    /// A plain file, `dest` (the failure bundle): received beside it and
    /// renamed into place.
    pub fn file(dest: &Path) -> std::io::Result<Received> {
        // (Put in place as a docker archive is: renamed.)
        Ok(Received { output: rbuild_engine::Output::Docker(dest.to_owned()), file: beside(dest)? })
    }

    /// Where the server's bytes go.
    fn writer(&mut self) -> &mut dyn std::io::Write {
        self.file.as_file_mut()
    }

    /// Puts what arrived in place: a file renamed over its destination, a
    /// directory unpacked with every entry kept inside it.
    pub fn finish(self) -> Result<(), String> {
        use rbuild_engine::Output;
        let Received { output, file } = self;
        let at = |dest: &Path| {
            let dest = dest.display().to_string();
            move |e: &dyn std::fmt::Display| format!("--output {dest}: {e}")
        };
        match &output {
            Output::Image { .. } => Ok(()),
            Output::Local(dest) => {
                let fail = at(dest);
                std::fs::create_dir_all(dest).map_err(|e| fail(&e))?;
                let tar = std::fs::File::open(file.path()).map_err(|e| fail(&e))?;
                rbuild_image::apply_flat(std::io::BufReader::new(tar), dest)
                    .map_err(|e| fail(&e))?;
                Ok(())
            }
            Output::Oci(dest) if !is_tar(dest) => {
                let fail = at(dest);
                std::fs::create_dir_all(dest).map_err(|e| fail(&e))?;
                let tar = std::fs::File::open(file.path()).map_err(|e| fail(&e))?;
                rbuild_context::read_tar(tar, dest, u64::MAX).map_err(|e| fail(&e))?;
                Ok(())
            }
            Output::Docker(dest) | Output::Tar(dest) | Output::Oci(dest) => {
                let fail = at(dest);
                file.as_file().sync_all().map_err(|e| fail(&e))?;
                file.persist(dest).map_err(|e| fail(&e.error))?;
                Ok(())
            }
        }
    }
}

/// A temp file in `dest`'s directory, so it can be renamed over `dest`.
fn beside(dest: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
    tempfile::Builder::new().prefix(".rbuild-output-").tempfile_in(parent.unwrap_or(Path::new(".")))
}

/// Whether an `oci` output names an archive (`.tar`) rather than a layout
/// directory, as a local build tells them.
fn is_tar(dest: &Path) -> bool {
    dest.extension().is_some_and(|e| e == "tar")
}

/// Where the files a remote build sends back go on this machine.
#[derive(Default)]
pub struct Receiving {
    /// One per `request.outputs`, in order; put in place when the build
    /// succeeded and every one arrived whole.
    pub outputs: Vec<Received>,
    /// `--log-dir`: each step's log is written there as it arrives.
    pub log_dir: Option<std::path::PathBuf>,
    /// `--failure-bundle`: put in place when it arrived whole.
    pub bundle: Option<Received>,
}

/// What the bytes after a [`FileFrame`] go to.
#[derive(Debug)]
enum Target {
    Output(usize),
    Log(std::fs::File, String),
    Bundle,
}

impl Receiving {
    /// Where the file `frame` announces goes; a frame not asked for, or a
    /// log name that is not a plain file name, is refused.
    fn open(&mut self, frame: &FileFrame) -> Result<Target, ClientError> {
        let refused = |what: String| ClientError::Refused(format!("the server sent {what}"));
        match frame {
            FileFrame::Output { index, .. } if *index < self.outputs.len() => {
                Ok(Target::Output(*index))
            }
            FileFrame::Output { index, .. } => {
                Err(refused(format!("an output {} not asked for", index + 1)))
            }
            FileFrame::Log { name, .. } => {
                let Some(dir) = &self.log_dir else {
                    return Err(refused(format!("a log {name:?} not asked for")));
                };
                let plain = Path::new(name).file_name().is_some_and(|n| n == name.as_str());
                if !plain || name.starts_with('.') {
                    return Err(refused(format!("a log named {name:?}, not a file name")));
                }
                let failed = |e: std::io::Error| {
                    ClientError::Output(format!("--log-dir {}: {e}", dir.display()))
                };
                std::fs::create_dir_all(dir).map_err(failed)?;
                let file = std::fs::File::create(dir.join(name)).map_err(failed)?;
                Ok(Target::Log(file, name.clone()))
            }
            FileFrame::Bundle { .. } if self.bundle.is_some() => Ok(Target::Bundle),
            FileFrame::Bundle { .. } => Err(refused("a failure bundle not asked for".into())),
        }
    }

    fn write(&mut self, into: &mut Target, data: &[u8]) -> Result<(), ClientError> {
        use std::io::Write as _;
        let (written, what) = match into {
            Target::Output(i) => {
                (self.outputs[*i].writer().write_all(data), format!("output {}", *i + 1))
            }
            Target::Log(file, name) => (file.write_all(data), format!("the log {name}")),
            Target::Bundle => match &mut self.bundle {
                Some(bundle) => (bundle.writer().write_all(data), "the failure bundle".into()),
                None => return Ok(()),
            },
        };
        written.map_err(|e| ClientError::Output(format!("{what}: {e}")))
    }
}

/// Builds `context` on the server at `host` as `request` says, sending
/// the server's events to `sink` and the files it sends back where
/// `receiving` says: the outputs only when the build succeeded and each
/// arrived whole (a short one is an error), the bundle when it came.
pub fn remote_build(
    host: &Listen,
    request: &RemoteRequest,
    context: &Path,
    ignore_beside: Option<&Path>,
    sink: &dyn EventSink,
    mut receiving: Receiving,
) -> Result<RemoteOutcome, ClientError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::Connection { host: host.to_string(), why: e.to_string() })?;
    // The context as the engine would select it here.
    let context_err = |e: &dyn std::fmt::Display| ClientError::Context(e.to_string());
    let ignore =
        rbuild_context::load_ignore(context, ignore_beside).map_err(|e| context_err(&e))?;
    let listing = rbuild_context::scan(context, &ignore, &rbuild_context::Selection::all())
        .map_err(|e| context_err(&e))?;
    let stat_path = stat_cache_path(context);
    let mut stat = stat_path.as_deref().map(rbuild_context::StatCache::load).unwrap_or_default();
    let hashes = rbuild_context::hash(context, &listing, &mut stat).map_err(|e| context_err(&e))?;
    if let Some(path) = &stat_path {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = stat.save(path);
    }
    runtime.block_on(async {
        // Which files the server holds.
        let digests = serde_json::to_vec(&file_digests(&hashes)).unwrap_or_default();
        let asked = post(HAVE_PATH, "application/json", Body::Full(Some(Bytes::from(digests))));
        let answer = exchange(host, asked).await?;
        let body = answer
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Connection { host: host.to_string(), why: e.to_string() })?;
        let held: std::collections::HashSet<rbuild_context::Digest> = serde_json::from_slice::<
            Vec<rbuild_context::Digest>,
        >(&body.to_bytes())
        .map_err(|e| ClientError::Refused(format!("a bad answer to the digest query: {e}")))?
        .into_iter()
        .collect();

        // The request line, then the thin stream, made on a thread of its
        // own as the connection takes it.
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let mut line = serde_json::to_vec(request).unwrap_or_default();
        line.push(b'\n');
        let context = context.to_owned();
        let writer = tokio::task::spawn_blocking(move || {
            let _ = tx.blocking_send(Bytes::from(line));
            let out = ChannelWriter { tx, buf: Vec::new() };
            rbuild_context::write_stream(&context, &hashes, |d| held.contains(d), out, 3)
        });
        let response =
            exchange(host, post(BUILD_PATH, "application/octet-stream", Body::Stream(rx, None)))
                .await?;
        let sent = writer
            .await
            .map_err(|e| ClientError::Context(e.to_string()))?
            .map_err(|e| context_err(&e))?;

        // The events, line by line; a file's bytes after its frame.
        let mut body = response.into_body();
        let mut pending = Vec::new();
        let mut result = None;
        let mut ended = false;
        let mut into: Option<(Target, u64)> = None;
        let mut received = vec![false; receiving.outputs.len()];
        let mut bundle_received = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Connection {
                host: host.to_string(),
                why: e.to_string(),
            })?;
            let Ok(data) = frame.into_data() else { continue };
            pending.extend_from_slice(&data);
            loop {
                if let Some((mut target, left)) = into.take() {
                    let take = pending.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    receiving.write(&mut target, &pending[..take])?;
                    pending.drain(..take);
                    let left = left - take as u64;
                    if left > 0 {
                        into = Some((target, left));
                        break;
                    }
                    match target {
                        Target::Output(i) => received[i] = true,
                        Target::Bundle => bundle_received = true,
                        Target::Log(..) => {}
                    }
                }
                let Some(end) = pending.iter().position(|b| *b == b'\n') else { break };
                let line: Vec<u8> = pending.drain(..=end).collect();
                if let Ok(frame) = serde_json::from_slice::<FileFrame>(&line) {
                    let target = receiving.open(&frame)?;
                    let again = match &target {
                        Target::Output(i) => received[*i],
                        Target::Bundle => bundle_received,
                        Target::Log(..) => false,
                    };
                    if again {
                        return Err(ClientError::Refused(
                            "the server sent one of its files twice".into(),
                        ));
                    }
                    let (FileFrame::Output { size, .. }
                    | FileFrame::Log { size, .. }
                    | FileFrame::Bundle { size }) = frame;
                    into = Some((target, size));
                    continue;
                }
                let Ok(event) = serde_json::from_slice::<Event>(&line) else { continue };
                match &event.kind {
                    EventKind::Result(summary) => {
                        result = Some(summary.clone());
                        ended = true;
                    }
                    // (After the result, a push that failed.)
                    EventKind::Error { .. } => {
                        result = None;
                        ended = true;
                    }
                    _ => {}
                }
                sink.emit(&event);
            }
        }
        if !ended {
            return Err(ClientError::Connection {
                host: host.to_string(),
                why: "the server ended the build without a result".into(),
            });
        }
        if into.is_some() {
            return Err(ClientError::Connection {
                host: host.to_string(),
                why: "the answer ended in the middle of a file".into(),
            });
        }
        if bundle_received && let Some(bundle) = receiving.bundle.take() {
            bundle.finish().map_err(ClientError::Output)?;
        }
        if result.is_some() {
            if let Some(missing) = received.iter().position(|r| !r) {
                return Err(ClientError::Connection {
                    host: host.to_string(),
                    why: format!("the answer ended before output {}", missing + 1),
                });
            }
            for output in receiving.outputs {
                output.finish().map_err(ClientError::Output)?;
            }
        }
        Ok(RemoteOutcome { result, sent })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_build_lends_the_logins_of_the_registries_it_reaches_only() {
        let dir = tempfile::tempdir().unwrap();
        let auth = |user: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:pw-{user}"))
        };
        let config = serde_json::json!({ "auths": {
            "base.example": { "auth": auth("base") },
            "cache.example": { "auth": auth("cache") },
            "push.example": { "auth": auth("push") },
            "unrelated.example": { "auth": auth("unrelated") },
            "https://index.docker.io/v1/": { "auth": auth("hub") },
        }});
        std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
        let credentials = rbuild_registry::Credentials::in_dir(dir.path());
        let mut request = RemoteRequest {
            dockerfile: "ARG REG\nFROM ${REG}/team/base:1\nCOPY --from=busybox /bin/sh /sh\n"
                .into(),
            tags: vec!["push.example/app:1".into()],
            cache_from: vec!["type=registry,ref=cache.example/c".into()],
            ..Default::default()
        };
        request.build_args.insert("REG".into(), "base.example".into());
        let lent = |request: &RemoteRequest| -> Vec<String> {
            lent_logins(request, &credentials).unwrap().0.into_keys().collect()
        };
        // Without --push, the names to push to lend nothing.
        assert_eq!(
            lent(&request),
            ["base.example", "cache.example", "https://index.docker.io/v1/"]
        );
        request.push = request.tags.clone();
        assert_eq!(
            lent(&request),
            ["base.example", "cache.example", "https://index.docker.io/v1/", "push.example"]
        );
        // A Dockerfile that does not parse here lends only for the caches and pushes.
        request.dockerfile = "FROM\n".into();
        assert_eq!(lent(&request), ["cache.example", "push.example"]);
    }

    #[test]
    fn a_server_may_send_only_the_files_asked_for_and_logs_by_plain_names() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let mut receiving = Receiving { log_dir: Some(logs.clone()), ..Default::default() };
        let log = |name: &str| FileFrame::Log { name: name.into(), size: 1 };
        for bad in ["../escape", "a/b", "/etc/passwd", "..", ".hidden", ""] {
            let refused = receiving.open(&log(bad)).err().map(|e| e.to_string());
            assert!(refused.is_some_and(|e| e.contains("not a file name")), "{bad:?}");
        }
        assert!(!dir.path().join("escape").exists());
        assert!(matches!(receiving.open(&log("0-line2-0.1.log")), Ok(Target::Log(..))));
        assert!(logs.join("0-line2-0.1.log").is_file());
        let output = FileFrame::Output { index: 0, size: 1 };
        assert!(receiving.open(&output).unwrap_err().to_string().contains("not asked for"));
        let bundle = FileFrame::Bundle { size: 1 };
        assert!(receiving.open(&bundle).unwrap_err().to_string().contains("not asked for"));
        let mut no_logs = Receiving::default();
        assert!(no_logs.open(&log("x.log")).unwrap_err().to_string().contains("not asked for"));
    }
}
