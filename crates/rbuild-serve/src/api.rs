//! Listeners, connections, routing, and the shapes every answer shares:
//! moby's common headers, `{"message": …}` errors with its status codes,
//! API versions in the path.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rbuild_engine::Engine;
use rbuild_llb::Cancel;
use tokio::sync::{Notify, mpsc};

use crate::{API_VERSION, Config, Listen, MIN_API_VERSION, ServeError};

/// The most bytes of request headers a client may send.
const MAX_HEADER_BYTES: usize = 64 << 10;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request handler shares.
pub(crate) struct State {
    pub(crate) engine: Engine,
    pub(crate) config: Config,
    builds: Mutex<HashMap<u64, Cancel>>,
    next_build: AtomicU64,
    builds_done: Notify,
}

impl State {
    pub(crate) fn new(engine: Engine, config: Config) -> State {
        State {
            engine,
            config,
            builds: Mutex::default(),
            next_build: AtomicU64::new(0),
            builds_done: Notify::new(),
        }
    }

    /// Registers a running build, so shutdown can cancel it; the build
    /// ends its registration by dropping the guard.
    pub(crate) fn start_build(self: &Arc<State>, cancel: Cancel) -> BuildGuard {
        let id = self.next_build.fetch_add(1, Ordering::Relaxed);
        self.builds.lock().unwrap_or_else(|p| p.into_inner()).insert(id, cancel);
        BuildGuard { state: self.clone(), id }
    }

    fn cancel_builds(&self) {
        let builds: Vec<Cancel> =
            self.builds.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for cancel in builds {
            cancel.cancel();
        }
    }

    async fn builds_finished(&self) {
        loop {
            let done = self.builds_done.notified();
            if self.builds.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                return;
            }
            done.await;
        }
    }
}

/// A build's registration with the server.
pub(crate) struct BuildGuard {
    state: Arc<State>,
    id: u64,
}

impl Drop for BuildGuard {
    fn drop(&mut self) {
        self.state.builds.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
        self.state.builds_done.notify_waiters();
    }
}

/// A response body: all at once, or JSON lines as a build makes them.
pub(crate) enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>, Option<CancelOnDrop>),
}

/// Cancels a build when its response is dropped before the end: the
/// client hung up.
pub(crate) struct CancelOnDrop(pub(crate) Option<Cancel>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(cancel) = self.0.take() {
            cancel.cancel();
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx, guard) => match rx.poll_recv(cx) {
                Poll::Ready(Some(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Poll::Ready(None) => {
                    // The build ended and said everything: nothing to cancel.
                    if let Some(guard) = guard.as_mut() {
                        guard.0 = None;
                    }
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(Some(bytes)) => hyper::body::SizeHint::with_exact(bytes.len() as u64),
            Body::Full(None) => hyper::body::SizeHint::with_exact(0),
            Body::Stream(..) => hyper::body::SizeHint::default(),
        }
    }
}

/// A `Write` into a body (an answer's or, in the client, a request's), a
/// chunk at a time; what is left is sent when it is dropped.
pub(crate) struct ChannelWriter {
    pub(crate) tx: mpsc::Sender<Bytes>,
    pub(crate) buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the peer hung up"))
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = std::io::Write::flush(self);
    }
}

/// An answer that is not a success, as moby shapes it.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn into_response(self) -> Response<Body> {
        // Exactly `application/json`: the Go client decodes the message
        // only then.
        let body = serde_json::json!({ "message": self.message }).to_string();
        let mut response = Response::new(Body::Full(Some(Bytes::from(body))));
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert("Content-Type", "application/json".parse().unwrap_or_else(|_| unreachable!()));
        response
    }
}

/// A response of `status` with a JSON body.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Full(Some(Bytes::from(value.to_string()))));
    *response.status_mut() = status;
    set(&mut response, "Content-Type", "application/json");
    response
}

pub(crate) fn set(response: &mut Response<Body>, name: &'static str, value: &str) {
    if let Ok(value) = value.parse() {
        response.headers_mut().insert(name, value);
    }
}

/// The API version a request asked for in its path, and the route after it.
/// A path without one gets the highest.
fn split_version(path: &str) -> Result<((u32, u32), &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else { return Ok((API_VERSION, path)) };
    let (version, route) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let parsed = version
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
    let Some(asked) = parsed else { return Ok((API_VERSION, path)) };
    let text = |v: (u32, u32)| format!("{}.{}", v.0, v.1);
    if asked < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {} is too old. Minimum supported API version is {}, please upgrade \
             your client to a newer version",
            text(asked),
            text(MIN_API_VERSION)
        )));
    }
    if asked > API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {} is too new. Maximum supported API version is {}",
            text(asked),
            text(API_VERSION)
        )));
    }
    Ok((asked, route))
}

/// One request, routed.
pub(crate) struct Call {
    pub(crate) version: (u32, u32),
    pub(crate) query: crate::query::Query,
    pub(crate) request: Request<Incoming>,
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().to_owned();
    let (version, route) = split_version(&path)?;
    let query = crate::query::Query::parse(request.uri().query().unwrap_or(""));
    let method = request.method().clone();
    let call = Call { version, query, request };
    match (&method, route) {
        (&Method::GET | &Method::HEAD, "/_ping") => Ok(ping(&method)),
        (&Method::GET, "/version") => Ok(json(StatusCode::OK, &version_info())),
        (&Method::GET, "/info") => Ok(json(StatusCode::OK, &info(&state))),
        (&Method::POST, "/build") => crate::build::build(state, call).await,
        (&Method::POST, "/build/prune") => crate::images::prune_cache(state, call).await,
        (&Method::POST, crate::native::HAVE_PATH) => crate::native::have(state, call).await,
        (&Method::POST, crate::native::BUILD_PATH) => crate::native::build(state, call).await,
        (&Method::GET, "/system/df") => crate::images::disk_usage(state, call).await,
        (_, r) if r.starts_with("/images/") => {
            images(state, call, &method, &r["/images/".len()..]).await
        }
        (_, "/session" | "/grpc") => Err(ApiError::not_found(
            "BuildKit's session API is not supported by rbuild serve; set DOCKER_BUILDKIT=0 to \
             use the classic build API",
        )),
        (&Method::GET, r) if r.starts_with("/containers/") && r.ends_with("/json") => {
            let name = &r["/containers/".len()..r.len() - "/json".len()];
            Err(ApiError::not_found(format!("No such container: {name}")))
        }
        _ => Err(ApiError::not_found("page not found")),
    }
}

/// `%XX` escapes of a path decoded (names arrive as the client wrote
/// them, or escaped).
fn decode_path(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/images/…`: a name may hold slashes (`localhost:5000/app/push`), so
/// the action is the last segment.
async fn images(
    state: Arc<State>,
    call: Call,
    method: &Method,
    rest: &str,
) -> Result<Response<Body>, ApiError> {
    use crate::images as i;
    let rest = decode_path(rest);
    let action =
        |suffix: &str| rest.strip_suffix(suffix).filter(|n| !n.is_empty()).map(str::to_owned);
    match *method {
        Method::GET if rest == "json" => i::list(state, call).await,
        Method::GET if rest == "get" => {
            let names = call.query.all("names").into_iter().map(str::to_owned).collect();
            i::save(state, names).await
        }
        Method::POST if rest == "load" => i::load(state, call).await,
        Method::POST if rest == "create" => crate::registry::pull(state, call).await,
        Method::GET => {
            if let Some(name) = action("/json") {
                i::inspect(state, name).await
            } else if let Some(name) = action("/history") {
                i::history(state, name).await
            } else if let Some(name) = action("/get") {
                i::save(state, vec![name]).await
            } else {
                Err(ApiError::not_found("page not found"))
            }
        }
        Method::POST => {
            if let Some(name) = action("/tag") {
                i::tag(state, call, name).await
            } else if let Some(name) = action("/push") {
                crate::registry::push(state, call, name).await
            } else {
                Err(ApiError::not_found("page not found"))
            }
        }
        Method::DELETE if !rest.is_empty() => i::remove(state, call, rest.clone()).await,
        _ => Err(ApiError::not_found("page not found")),
    }
}

fn ping(method: &Method) -> Response<Body> {
    let body = if method == Method::HEAD { None } else { Some(Bytes::from_static(b"OK")) };
    let mut response = Response::new(Body::Full(body));
    set(&mut response, "Content-Type", "text/plain; charset=utf-8");
    set(&mut response, "Cache-Control", "no-cache, no-store, must-revalidate");
    set(&mut response, "Pragma", "no-cache");
    // The classic builder: the BuildKit session protocol is not served.
    set(&mut response, "Builder-Version", "1");
    if method == Method::HEAD {
        set(&mut response, "Content-Length", "0");
    }
    response
}

fn version_text(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn version_info() -> serde_json::Value {
    let version = env!("CARGO_PKG_VERSION");
    let arch = rbuild_llb::go_arch(std::env::consts::ARCH);
    serde_json::json!({
        "Platform": { "Name": "rbuild" },
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": { "ApiVersion": version_text(API_VERSION), "MinAPIVersion": version_text(MIN_API_VERSION), "Os": "linux", "Arch": arch },
        }],
        "Version": version,
        "ApiVersion": version_text(API_VERSION),
        "MinAPIVersion": version_text(MIN_API_VERSION),
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": kernel_version(),
        "BuildTime": "",
    })
}

fn info(state: &State) -> serde_json::Value {
    let images = state.engine.images().map(|i| i.len()).unwrap_or(0);
    let host =
        nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    let os = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024);
    serde_json::json!({
        "ID": "rbuild",
        "Name": host,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "OSType": "linux",
        "OperatingSystem": os,
        "Architecture": std::env::consts::ARCH,
        "KernelVersion": kernel_version(),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": memory,
        "Driver": "overlayfs",
        "DockerRootDir": state.engine.root().display().to_string(),
        "Images": images,
        "Containers": 0,
        "ContainersRunning": 0,
        "ContainersPaused": 0,
        "ContainersStopped": 0,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "Swarm": { "LocalNodeState": "inactive", "ControlAvailable": false },
        "Experimental": false,
    })
}

/// Adds moby's headers to every answer.
fn with_common_headers(mut response: Response<Body>) -> Response<Body> {
    set(&mut response, "Api-Version", &version_text(API_VERSION));
    set(&mut response, "Docker-Experimental", "false");
    set(&mut response, "Ostype", "linux");
    set(&mut response, "Server", &format!("rbuild/{} (linux)", env!("CARGO_PKG_VERSION")));
    response
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let response = match route(state, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    Ok(with_common_headers(response))
}

/// A listener of either kind.
enum Listener {
    Unix(tokio::net::UnixListener, std::path::PathBuf),
    Tcp(tokio::net::TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

fn open(
    listen: &Listen,
    group: Option<&str>,
    tls: Option<&tokio_rustls::TlsAcceptor>,
) -> Result<Listener, ServeError> {
    let err = |source| ServeError::Listen { listen: listen.to_string(), source };
    match listen {
        Listen::Unix(path) => {
            crate::prepare_socket_path(path).map_err(err)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(err)?;
            }
            let gid = match group {
                Some(name) => Some(
                    nix::unistd::Group::from_name(name)
                        .ok()
                        .flatten()
                        .ok_or_else(|| ServeError::NoGroup(name.to_owned()))?
                        .gid,
                ),
                None => None,
            };
            // Bound under a umask that leaves it to its owner, then opened
            // to the group: no moment where others may connect.
            let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
            let bound = tokio::net::UnixListener::bind(path);
            nix::sys::stat::umask(old);
            let listener = bound.map_err(err)?;
            if let Some(gid) = gid {
                std::os::unix::fs::chown(path, None, Some(gid.as_raw())).map_err(err)?;
            }
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))
                .map_err(err)?;
            Ok(Listener::Unix(listener, path.clone()))
        }
        Listen::Tcp(addr) => {
            if tls.is_none() && !addr.ip().is_loopback() {
                return Err(ServeError::Insecure(listen.to_string()));
            }
            let std_listener = std::net::TcpListener::bind(addr).map_err(err)?;
            std_listener.set_nonblocking(true).map_err(err)?;
            let listener = tokio::net::TcpListener::from_std(std_listener).map_err(err)?;
            Ok(Listener::Tcp(listener, tls.cloned()))
        }
    }
}

/// Accepts connections on every listener until a signal, then shuts down.
pub(crate) async fn run(
    state: Arc<State>,
    config: Config,
    ready: impl FnOnce(&[Listen]),
) -> Result<(), ServeError> {
    let tls = config.tls.as_ref().map(crate::tls::acceptor).transpose()?;
    let mut listeners = Vec::new();
    for listen in &config.listen {
        listeners.push(open(listen, config.group.as_deref(), tls.as_ref())?);
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(ServeError::Runtime)?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(ServeError::Runtime)?;
    ready(&config.listen);
    let graceful = Arc::new(hyper_util::server::graceful::GracefulShutdown::new());
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sockets = Vec::new();
    for listener in listeners {
        let state = state.clone();
        let graceful = graceful.clone();
        let mut stop = stop_tx.subscribe();
        if let Listener::Unix(_, path) = &listener {
            sockets.push(path.clone());
        }
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.recv() => return,
                    accepted = accept(&listener) => {
                        if let Some(io) = accepted {
                            serve_connection(io, state.clone(), &graceful);
                        }
                    }
                }
            }
        });
    }
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = stop_tx.send(());
    while tasks.join_next().await.is_some() {}
    state.cancel_builds();
    state.builds_finished().await;
    if let Ok(graceful) = Arc::try_unwrap(graceful) {
        let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    }
    for path in sockets {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A connection of either kind.
enum Io {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream, Option<tokio_rustls::TlsAcceptor>),
}

async fn accept(listener: &Listener) -> Option<Io> {
    match listener {
        Listener::Unix(l, _) => l.accept().await.ok().map(|(s, _)| Io::Unix(s)),
        Listener::Tcp(l, tls) => l.accept().await.ok().map(|(s, _)| Io::Tcp(s, tls.clone())),
    }
}

/// How long a client may take for its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn serve_connection(
    io: Io,
    state: Arc<State>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
) {
    let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    match io {
        Io::Unix(stream) => {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(conn);
        }
        Io::Tcp(stream, None) => {
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(conn);
        }
        Io::Tcp(stream, Some(acceptor)) => {
            // The handshake on the connection's own task: a slow client
            // holds only itself. A client without a valid certificate
            // never gets past it.
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                let Ok(Ok(tls)) = handshake.await else { return };
                let _ = watcher.watch(builder.serve_connection(TokioIo::new(tls), service)).await;
            });
        }
    }
}
