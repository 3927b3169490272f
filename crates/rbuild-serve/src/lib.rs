/*!
`rbuild serve`: the part of the Docker Engine API that `docker build`, the
docker CLI's image commands and the docker SDKs use, answered by rbuild's
engine, so an unmodified client builds through rbuild.

One [`Engine`] serves every request; each build runs on a thread of its
own beside the others. The contract (which requests the clients send and
what they accept) is the classic builder's: `POST /build` with the context
as a tar body and JSON lines back. BuildKit's session protocol
(`/session`, `/grpc`) is answered 404 with the `DOCKER_BUILDKIT=0` hint,
as podman's compatible socket does.

Listeners: unix sockets (mode 0660, group `--group`) and TCP on loopback
only. Request headers and bodies have size limits, a slow client holds only
its own connection, and a client that hangs up cancels its build.
*/
#![deny(missing_docs)]

mod api;
mod build;
pub mod client;
mod images;
pub mod native;
mod query;
mod registry;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbuild_engine::Engine;

/// The highest Engine API version served (paths `/v1.24/…` to `/v1.45/…`).
pub const API_VERSION: (u32, u32) = (1, 45);
/// The lowest.
pub const MIN_API_VERSION: (u32, u32) = (1, 24);

/// Where to listen, as dockerd's `-H` spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `unix:///run/rbuild.sock`.
    Unix(PathBuf),
    /// `tcp://127.0.0.1:2375`: loopback only, unless TLS verifies clients.
    Tcp(SocketAddr),
}

impl std::str::FromStr for Listen {
    type Err = String;

    /// `unix://PATH` or `tcp://HOST:PORT` (a loopback address).
    fn from_str(text: &str) -> Result<Listen, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("{text}: the socket path must be absolute (unix:///PATH)"));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = text.strip_prefix("tcp://") {
            let addr: SocketAddr = addr.parse().map_err(|_| {
                format!("{text}: expected tcp://ADDRESS:PORT, such as tcp://127.0.0.1:2375")
            })?;
            return Ok(Listen::Tcp(addr));
        }
        Err(format!("{text}: expected unix:///PATH or tcp://127.0.0.1:PORT"))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "unix://{}", path.display()),
            Listen::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The listeners; at least one.
    pub listen: Vec<Listen>,
    /// The group a unix socket belongs to (mode 0660); `None`: root's.
    pub group: Option<String>,
    /// The most bytes a build context may unpack to.
    pub max_context_bytes: u64,
    /// TLS on every TCP listener, with client certificates verified
    /// (dockerd's `--tlsverify`).
    pub tls: Option<TlsFiles>,
}

/// The PEM files of `--tlsverify`.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// `--tlscacert`: the CA a client's certificate must chain to.
    pub ca: PathBuf,
    /// `--tlscert`: the server's certificate chain.
    pub cert: PathBuf,
    /// `--tlskey`: its private key.
    pub key: PathBuf,
}

impl Config {
    /// `listen`, the `rbuild` group when the machine has one, 16 GiB of
    /// context at most.
    pub fn new(listen: Vec<Listen>) -> Config {
        let group = nix::unistd::Group::from_name("rbuild").ok().flatten().map(|_| "rbuild".into());
        Config { listen, group, max_context_bytes: 16 << 30, tls: None }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be opened.
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        /// Where.
        listen: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `--group` names no group of this machine.
    #[error("no group {0} on this machine (--group)")]
    NoGroup(String),
    /// TCP beyond loopback without client certificates.
    #[error(
        "{0}: TCP beyond loopback lets anyone who reaches the port run builds as root; listen on \
         127.0.0.1 or a unix socket, or verify clients with --tlsverify"
    )]
    Insecure(String),
    /// The TLS files could not be read or used.
    #[error("--tlsverify: {0}")]
    Tls(String),
    /// The async runtime could not start.
    #[error("cannot start the server: {0}")]
    Runtime(std::io::Error),
}

/// Serves `engine` on `config`'s listeners until SIGTERM or SIGINT; then
/// cancels the running builds (their steps are killed, their mounts go),
/// waits for them and removes the sockets. `ready` is called once every
/// listener is open.
pub fn serve(
    engine: Engine,
    config: Config,
    ready: impl FnOnce(&[Listen]),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("rbuild-serve")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(api::run(Arc::new(api::State::new(engine, config.clone())), config, ready))
}

/// Makes `path` a fresh socket file: a stale one (nobody listening) goes;
/// a live one is an error, so two servers never share a path.
fn prepare_socket_path(path: &Path) -> std::io::Result<()> {
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another server is listening there",
        ));
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
