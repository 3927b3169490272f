//! Credentials exactly where the docker CLI finds them: in
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) first a
//! `credHelpers` entry for the host, then the `credsStore` helper, then the
//! file's own `auths`; then the `DOCKER_AUTH_CONFIG` variable (the same
//! JSON, handy in CI); then podman's `auth.json`. `login` writes where
//! docker writes. No secret is ever shown: [`Credential`]'s `Debug` hides
//! it, and helper output never reaches an error message.

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The config.json key docker uses for Docker Hub.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A secret for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and password (or personal access token), sent as Basic
    /// auth or to the token endpoint.
    Basic {
        /// The user.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in config.json, or a
    /// helper's `<token>` user), exchanged at the token endpoint.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Where a credential was found, for `login`'s messages and for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `docker-credential-<name>` helper.
    Helper(String),
    /// config.json's `auths`.
    File(PathBuf),
    /// The `DOCKER_AUTH_CONFIG` variable.
    Environment,
    /// Podman's auth.json.
    Podman(PathBuf),
    /// The API request itself (`X-Registry-Auth`).
    Request,
}

/// Credentials by registry host, as an API request hands them over.
pub type RequestAuth = std::collections::BTreeMap<String, Credential>;

/// The docker CLI's key for a registry host in config.json.
pub fn config_key(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_owned(),
        other => other.to_owned(),
    }
}

/// `https://host/v1/` or `host` → `host`, as docker compares keys.
fn key_host(key: &str) -> &str {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// The credential lookup: where the files are, and what was already asked
/// of helpers in this process (a helper may prompt or be slow).
#[derive(Debug)]
pub struct Credentials {
    /// Only these (from an API request), by config key; no file is read.
    request: Option<RequestAuth>,
    docker_config: PathBuf,
    environment: Option<String>,
    podman: Vec<PathBuf>,
    found: Mutex<HashMap<String, Option<(Credential, Source)>>>,
}

impl Credentials {
    /// The lookup as the docker CLI sets it up from the environment.
    pub fn from_env() -> Credentials {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
        let docker = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".docker"));
        let mut podman = Vec::new();
        if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
            podman.push(PathBuf::from(file));
        }
        if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
            podman.push(PathBuf::from(run).join("containers/auth.json"));
        }
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        podman.push(config_home.join("containers/auth.json"));
        Credentials {
            request: None,
            docker_config: docker.join("config.json"),
            environment: std::env::var("DOCKER_AUTH_CONFIG").ok().filter(|v| !v.is_empty()),
            podman,
            found: Mutex::new(HashMap::new()),
        }
    }

    /// A lookup in `docker_config_dir` only (no environment, no podman):
    /// what tests and `--config` use.
    pub fn in_dir(docker_config_dir: &Path) -> Credentials {
        Credentials {
            request: None,
            docker_config: docker_config_dir.join("config.json"),
            environment: None,
            podman: Vec::new(),
            found: Mutex::new(HashMap::new()),
        }
    }

    /// What one Engine API request brought (`X-Registry-Auth`,
    /// `X-Registry-Config`): those credentials for their registries (none
    /// for any other), and nothing of this machine's files, helpers or
    /// environment, so one client never uses another's login.
    pub fn of_request(auth: RequestAuth) -> Credentials {
        let request = auth.into_iter().map(|(host, c)| (config_key(key_host(&host)), c)).collect();
        Credentials {
            request: Some(request),
            docker_config: PathBuf::new(),
            environment: None,
            podman: Vec::new(),
            found: Mutex::new(HashMap::new()),
        }
    }

    /// The config.json this lookup reads and `login` writes.
    pub fn config_file(&self) -> &Path {
        &self.docker_config
    }

    /// The credential for `host` (and, for podman's per-repository keys,
    /// `repository`), or `None` to go anonymous.
    pub fn get(&self, host: &str, repository: Option<&str>) -> Result<Option<Credential>> {
        Ok(self.find(host, repository)?.map(|(c, _)| c))
    }

    /// Like [`get`](Credentials::get), also saying where it was found.
    pub fn find(
        &self,
        host: &str,
        repository: Option<&str>,
    ) -> Result<Option<(Credential, Source)>> {
        let memo = format!("{host}/{}", repository.unwrap_or(""));
        if let Some(found) = self.found.lock().unwrap_or_else(|p| p.into_inner()).get(&memo) {
            return Ok(found.clone());
        }
        let found = self.look_up(host, repository)?;
        self.found.lock().unwrap_or_else(|p| p.into_inner()).insert(memo, found.clone());
        Ok(found)
    }

    fn look_up(
        &self,
        host: &str,
        repository: Option<&str>,
    ) -> Result<Option<(Credential, Source)>> {
        if let Some(request) = &self.request {
            return Ok(request.get(&config_key(host)).cloned().map(|c| (c, Source::Request)));
        }
        let key = config_key(host);
        let config = read_config(&self.docker_config)?;
        if let Some(config) = &config {
            let helper = config
                .get("credHelpers")
                .and_then(|h| h.get(&key).or_else(|| h.get(host)))
                .and_then(Value::as_str)
                .or_else(|| config.get("credsStore").and_then(Value::as_str))
                .filter(|h| !h.is_empty());
            if let Some(helper) = helper {
                return Ok(helper_get(helper, &key)?.map(|c| (c, Source::Helper(helper.into()))));
            }
            if let Some(c) = from_auths(config, &key, host, &self.docker_config)? {
                return Ok(Some((c, Source::File(self.docker_config.clone()))));
            }
        }
        if let Some(env) = &self.environment {
            let value: Value = serde_json::from_str(env).map_err(|e| Error::Credentials {
                path: "DOCKER_AUTH_CONFIG".into(),
                why: format!("expected docker's config.json format: {e}"),
            })?;
            if let Some(c) = from_auths(&value, &key, host, Path::new("DOCKER_AUTH_CONFIG"))? {
                return Ok(Some((c, Source::Environment)));
            }
        }
        for file in &self.podman {
            let Some(value) = read_config(file)? else { continue };
            if let Some(c) = from_podman(&value, host, repository, file)? {
                return Ok(Some((c, Source::Podman(file.clone()))));
            }
        }
        Ok(None)
    }

    /// Saves `credential` for `host` where docker would: the host's
    /// helper or `credsStore` if one is configured, else config.json's
    /// `auths` (written whole to a temp file, mode 0600, then renamed).
    /// Returns where it went.
    pub fn store(&self, host: &str, credential: &Credential) -> Result<Source> {
        let key = config_key(host);
        let mut config =
            read_config(&self.docker_config)?.unwrap_or_else(|| Value::Object(Map::new()));
        self.found.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if let Some(helper) = configured_helper(&config, &key, host) {
            let (user, secret) = match credential {
                Credential::Basic { username, password } => (username.as_str(), password.as_str()),
                Credential::IdentityToken(token) => ("<token>", token.as_str()),
            };
            let body = serde_json::json!({ "ServerURL": key, "Username": user, "Secret": secret });
            run_helper(&helper, "store", body.to_string().as_bytes())?;
            return Ok(Source::Helper(helper));
        }
        let entry = match credential {
            Credential::Basic { username, password } => {
                serde_json::json!({ "auth": BASE64.encode(format!("{username}:{password}")) })
            }
            Credential::IdentityToken(token) => serde_json::json!({ "identitytoken": token }),
        };
        let root = config.as_object_mut().ok_or_else(|| Error::Credentials {
            path: self.docker_config.clone(),
            why: "expected a JSON object".into(),
        })?;
        let auths = root.entry("auths").or_insert_with(|| Value::Object(Map::new()));
        if let Some(auths) = auths.as_object_mut() {
            auths.retain(|k, _| k == &key || key_host(k) != key_host(&key));
            auths.insert(key, entry);
        }
        write_config(&self.docker_config, &config)?;
        Ok(Source::File(self.docker_config.clone()))
    }

    /// Forgets the credential for `host` (helper `erase`, or the `auths`
    /// entry); `false` if there was none.
    pub fn erase(&self, host: &str) -> Result<bool> {
        let key = config_key(host);
        self.found.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let Some(mut config) = read_config(&self.docker_config)? else { return Ok(false) };
        if let Some(helper) = configured_helper(&config, &key, host) {
            return match run_helper(&helper, "erase", key.as_bytes()) {
                Ok(_) => Ok(true),
                Err(Error::Credentials { why, .. }) if why.contains("not found") => Ok(false),
                Err(e) => Err(e),
            };
        }
        let mut removed = false;
        if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
            let before = auths.len();
            auths.retain(|k, _| key_host(k) != key_host(&key) && k != &key);
            removed = auths.len() != before;
        }
        if removed {
            write_config(&self.docker_config, &config)?;
        }
        Ok(removed)
    }
}

fn configured_helper(config: &Value, key: &str, host: &str) -> Option<String> {
    config
        .get("credHelpers")
        .and_then(|h| h.get(key).or_else(|| h.get(host)))
        .and_then(Value::as_str)
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

fn read_config(path: &Path) -> Result<Option<Value>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Credentials { path: path.into(), why: e.to_string() }),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Credentials { path: path.into(), why: format!("expected JSON: {e}") })
}

/// Writes config.json as docker does: a temp file beside it, mode 0600,
/// fsync, rename; the directory is made 0700 if missing.
fn write_config(path: &Path, config: &Value) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let fail = |e: std::io::Error| Error::Credentials { path: path.into(), why: e.to_string() };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(fail)?;
    let mut file =
        tempfile::Builder::new().prefix(".config.json").tempfile_in(dir).map_err(fail)?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    let mut text = serde_json::to_string_pretty(config).unwrap_or_default();
    text.push('\n');
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.as_file().sync_all().map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// An `auths` entry for `key` (exactly, or any key naming the same host).
fn from_auths(config: &Value, key: &str, host: &str, path: &Path) -> Result<Option<Credential>> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let entry = auths.get(key).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_host(k) == key_host(key) || key_host(k) == host)
            .map(|(_, v)| v)
    });
    entry.map(|e| entry_credential(e, path)).transpose().map(Option::flatten)
}

fn entry_credential(entry: &Value, path: &Path) -> Result<Option<Credential>> {
    if let Some(token) =
        entry.get("identitytoken").and_then(Value::as_str).filter(|t| !t.is_empty())
    {
        return Ok(Some(Credential::IdentityToken(token.to_owned())));
    }
    if let Some(auth) = entry.get("auth").and_then(Value::as_str).filter(|a| !a.is_empty()) {
        let bad = || Error::Credentials {
            path: path.into(),
            why: "an `auth` entry is not base64 of user:password".into(),
        };
        let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credential::Basic {
            username: username.into(),
            password: password.into(),
        }));
    }
    let user = entry.get("username").and_then(Value::as_str);
    let pass = entry.get("password").and_then(Value::as_str);
    Ok(match (user, pass) {
        (Some(u), Some(p)) if !u.is_empty() => {
            Some(Credential::Basic { username: u.into(), password: p.into() })
        }
        _ => None,
    })
}

/// Podman's keys may name a namespace or repository: the most specific
/// one that prefixes `host/repository` wins.
fn from_podman(
    config: &Value,
    host: &str,
    repository: Option<&str>,
    path: &Path,
) -> Result<Option<Credential>> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else { return Ok(None) };
    let full = match repository {
        Some(repo) => format!("{host}/{repo}"),
        None => host.to_owned(),
    };
    let mut best: Option<(&String, &Value)> = None;
    for (key, value) in auths {
        let bare =
            key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
        let bare = bare.trim_end_matches('/');
        let bare = if bare == "index.docker.io/v1" { "docker.io" } else { bare };
        let matches = full == bare || full.starts_with(&format!("{bare}/"));
        if matches && best.is_none_or(|(b, _)| b.len() < key.len()) {
            best = Some((key, value));
        }
    }
    best.map(|(_, e)| entry_credential(e, path)).transpose().map(Option::flatten)
}

/// Runs `docker-credential-<helper> get` for `server`: "not found" is no
/// credential, not an error.
fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>> {
    let out = match run_helper(helper, "get", server.as_bytes()) {
        Ok(out) => out,
        Err(Error::Credentials { why, .. }) if why.contains("credentials not found") => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let value: Value = serde_json::from_slice(&out).map_err(|_| Error::Credentials {
        path: format!("docker-credential-{helper}").into(),
        why: "`get` did not answer with JSON".into(),
    })?;
    let user = value.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = value.get("Secret").and_then(Value::as_str).unwrap_or("");
    Ok(match (user, secret) {
        (_, "") => None,
        ("<token>", token) => Some(Credential::IdentityToken(token.into())),
        (user, secret) => {
            Some(Credential::Basic { username: user.into(), password: secret.into() })
        }
    })
}

/// Runs a helper action with `input` on stdin and returns its stdout. A
/// failure reports the exit and the helper's first stdout line only when it
/// is one of the protocol's known messages, so a secret it might print
/// never reaches the user.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<Vec<u8>> {
    let program = format!("docker-credential-{helper}");
    let fail = |why: String| Error::Credentials { path: program.clone().into(), why };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| fail(format!("writing its input: {e}")))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let said = String::from_utf8_lossy(&out.stdout);
    let said = said.lines().next().unwrap_or("").trim();
    const KNOWN: [&str; 3] = [
        "credentials not found in native keychain",
        "no credentials server URL",
        "no credentials username",
    ];
    let why = match KNOWN.iter().find(|k| said.contains(*k)) {
        Some(known) => format!("`{action}`: {known}"),
        None => format!("`{action}` failed ({})", out.status),
    };
    Err(fail(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(config: &str) -> (tempfile::TempDir, Credentials) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        let creds = Credentials::in_dir(dir.path());
        (dir, creds)
    }

    #[test]
    fn auths_by_exact_key_or_by_host_and_hub_key() {
        let auth = BASE64.encode("alice:s3cret");
        let (_d, c) = lookup(&format!(
            r#"{{"auths":{{"https://reg.example:5000/v2/":{{"auth":"{auth}"}},
                "https://index.docker.io/v1/":{{"identitytoken":"tok"}}}}}}"#
        ));
        assert_eq!(
            c.get("reg.example:5000", None).unwrap(),
            Some(Credential::Basic { username: "alice".into(), password: "s3cret".into() })
        );
        assert_eq!(
            c.get("docker.io", None).unwrap(),
            Some(Credential::IdentityToken("tok".into()))
        );
        assert_eq!(c.get("other.example", None).unwrap(), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential::Basic { username: "alice".into(), password: "hunter2".into() };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::IdentityToken("abc".into())).contains("abc"));
    }

    #[test]
    fn store_writes_0600_and_keeps_other_fields_then_erase_removes() {
        use std::os::unix::fs::PermissionsExt as _;
        let (dir, c) =
            lookup(r#"{"psFormat":"table {{.ID}}","auths":{"keep.example":{"auth":"eDp5"}}}"#);
        let cred = Credential::Basic { username: "bob".into(), password: "pw".into() };
        c.store("reg.example", &cred).unwrap();
        let path = dir.path().join("config.json");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(value["psFormat"], "table {{.ID}}");
        assert_eq!(value["auths"]["keep.example"]["auth"], "eDp5");
        assert_eq!(c.get("reg.example", None).unwrap(), Some(cred));
        assert!(c.erase("reg.example").unwrap());
        assert!(!c.erase("reg.example").unwrap());
        assert_eq!(c.get("reg.example", None).unwrap(), None);
        assert!(c.get("keep.example", None).unwrap().is_some());
    }

    #[test]
    fn podman_most_specific_key_wins() {
        let a = BASE64.encode("ns:1");
        let b = BASE64.encode("repo:2");
        let value: Value = serde_json::from_str(&format!(
            r#"{{"auths":{{"quay.io/team":{{"auth":"{a}"}},"quay.io/team/app":{{"auth":"{b}"}}}}}}"#
        ))
        .unwrap();
        let got = from_podman(&value, "quay.io", Some("team/app"), Path::new("auth.json")).unwrap();
        assert_eq!(got, Some(Credential::Basic { username: "repo".into(), password: "2".into() }));
        let got =
            from_podman(&value, "quay.io", Some("team/other"), Path::new("auth.json")).unwrap();
        assert_eq!(got, Some(Credential::Basic { username: "ns".into(), password: "1".into() }));
    }

    #[test]
    fn a_bad_auth_entry_names_the_file_not_the_value() {
        let (_d, c) = lookup(r#"{"auths":{"reg.example":{"auth":"!!not-base64-secret!!"}}}"#);
        let err = c.get("reg.example", None).unwrap_err().to_string();
        assert!(err.contains("config.json"), "{err}");
        assert!(!err.contains("not-base64-secret"), "{err}");
    }
}
