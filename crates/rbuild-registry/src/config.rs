//! Which endpoints serve a repository and how to talk to them, merged from
//! the files docker and podman users already have, lowest precedence
//! first: `/etc/docker/daemon.json` (`registry-mirrors`, for docker.io
//! only, and `insecure-registries`); containers' `registries.conf` and its
//! `registries.conf.d/*.conf` (mirrors, `location`, `insecure`, `blocked`,
//! by longest `prefix`); rbuild's own `config.toml`
//! (`[registry."host"] mirrors = [...]`, `http`, `insecure`, `ca`, shaped
//! like buildkitd.toml); then flags. Mirrors serve pulls only.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One place to send requests for a repository: the primary registry or a
/// mirror of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to (`registry-1.docker.io` for docker.io).
    pub host: String,
    /// The repository as this endpoint names it (a mirror's namespace or
    /// a `location` rewrite put in front).
    pub repository: String,
    /// Plain HTTP only (a mirror configured as `http://…`).
    pub plain_http: bool,
    /// A mirror: it gets `?ns=<source registry>` and only pulls.
    pub mirror: bool,
    /// The registry the reference names, sent as `ns=` to mirrors.
    pub source: String,
}

impl Endpoint {
    /// `https://host/v2/<repository>/`-style base of this endpoint's
    /// repository URLs, for `scheme`.
    pub(crate) fn url(&self, scheme: &str, rest: &str) -> String {
        let mut url = format!("{scheme}://{}/v2/{}/{rest}", self.host, self.repository);
        if self.mirror {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("ns=");
            url.push_str(&self.source);
        }
        url
    }

    /// What errors call this endpoint: the host and repository.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }
}

#[derive(Clone, Debug, Default)]
struct Mirror {
    /// `host[:port][/namespace]`.
    location: String,
    plain_http: bool,
    /// `pull-from-mirror = digest-only`.
    digest_only: bool,
    /// `pull-from-mirror = tag-only`.
    tag_only: bool,
}

#[derive(Clone, Debug, Default)]
struct Rule {
    location: Option<String>,
    mirrors: Vec<Mirror>,
    blocked: bool,
    mirror_digest_only: bool,
}

/// The merged registry configuration.
#[derive(Clone, Debug, Default)]
pub struct RegistryConfig {
    /// By prefix (`host[/path]`): mirrors, rewrites, blocks.
    rules: BTreeMap<String, Rule>,
    /// By host: `Some(true)` skip TLS verification / allow plain HTTP,
    /// `Some(false)` verified TLS even on loopback.
    insecure: BTreeMap<String, bool>,
    /// By host: extra CA files.
    ca: BTreeMap<String, Vec<PathBuf>>,
    /// Directories of docker's per-host certificates (`<dir>/<host>/`).
    certs_dirs: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct DaemonJson {
    #[serde(default)]
    registry_mirrors: Vec<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RegistriesConf {
    #[serde(default)]
    registry: Vec<ConfRegistry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ConfRegistry {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<ConfMirror>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ConfMirror {
    location: String,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize)]
struct RbuildToml {
    #[serde(default)]
    registry: BTreeMap<String, RbuildHost>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RbuildHost {
    #[serde(default)]
    mirrors: Vec<String>,
    http: Option<bool>,
    insecure: Option<bool>,
    #[serde(default)]
    ca: Vec<PathBuf>,
    #[serde(default)]
    mirror_digest_only: bool,
}

impl RegistryConfig {
    /// The built-in defaults only: docker.io, loopback allowed over plain
    /// HTTP, docker's and containers' certs.d directories.
    pub fn builtin() -> RegistryConfig {
        RegistryConfig {
            certs_dirs: vec!["/etc/docker/certs.d".into(), "/etc/containers/certs.d".into()],
            ..RegistryConfig::default()
        }
    }

    /// Everything the machine configures, from the files docker, podman
    /// and rbuild read (see the module docs); `RBUILD_CONFIG` names
    /// rbuild's file instead of the usual places.
    pub fn load() -> Result<RegistryConfig> {
        let mut config = RegistryConfig::builtin();
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
        let config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        // Where rootless podman keeps per-user certificates.
        config.certs_dirs.push(config_home.join("containers/certs.d"));
        config.read_daemon_json(Path::new("/etc/docker/daemon.json"))?;
        match std::env::var_os("CONTAINERS_REGISTRIES_CONF") {
            Some(file) => config.read_registries_conf(Path::new(&file))?,
            None => {
                let user = config_home.join("containers/registries.conf");
                let main =
                    if user.is_file() { user } else { "/etc/containers/registries.conf".into() };
                config.read_registries_conf(&main)?;
                for dir in [
                    PathBuf::from("/etc/containers/registries.conf.d"),
                    config_home.join("containers/registries.conf.d"),
                ] {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                        .collect();
                    files.sort();
                    for file in files {
                        config.read_registries_conf(&file)?;
                    }
                }
            }
        }
        match std::env::var_os("RBUILD_CONFIG") {
            Some(file) => config.read_rbuild_toml(Path::new(&file))?,
            None => {
                config.read_rbuild_toml(Path::new("/etc/rbuild/config.toml"))?;
                config.read_rbuild_toml(&config_home.join("rbuild/config.toml"))?;
            }
        }
        Ok(config)
    }

    /// Reads `registry-mirrors` and `insecure-registries` of a dockerd
    /// config file; a missing file is no configuration.
    pub fn read_daemon_json(&mut self, path: &Path) -> Result<()> {
        let Some(text) = read_optional(path)? else { return Ok(()) };
        let daemon: DaemonJson = serde_json::from_str(&text)
            .map_err(|e| Error::Config { path: path.into(), why: e.to_string() })?;
        for url in &daemon.registry_mirrors {
            let mirror = parse_mirror(url).ok_or_else(|| Error::Config {
                path: path.into(),
                why: format!("invalid mirror {url:?}"),
            })?;
            self.rules.entry("docker.io".into()).or_default().mirrors.push(mirror);
        }
        for host in daemon.insecure_registries {
            let host = host.trim_start_matches("http://").trim_start_matches("https://");
            self.insecure.insert(host.trim_end_matches('/').to_owned(), true);
        }
        Ok(())
    }

    /// Reads a containers `registries.conf` (v2) file; search and alias
    /// entries are podman's short names, which Docker semantics do not
    /// have, and are ignored.
    pub fn read_registries_conf(&mut self, path: &Path) -> Result<()> {
        let Some(text) = read_optional(path)? else { return Ok(()) };
        let conf: RegistriesConf = toml::from_str(&text)
            .map_err(|e| Error::Config { path: path.into(), why: e.to_string() })?;
        for entry in conf.registry {
            let prefix = match (&entry.prefix, &entry.location) {
                (Some(p), _) | (None, Some(p)) => p.clone(),
                (None, None) => {
                    return Err(Error::Config {
                        path: path.into(),
                        why: "a [[registry]] needs a prefix or a location".into(),
                    });
                }
            };
            let prefix = prefix.trim_end_matches('/').to_owned();
            if entry.insecure {
                self.insecure
                    .insert(host_of(entry.location.as_deref().unwrap_or(&prefix)).into(), true);
            }
            let mut mirrors = Vec::new();
            for m in entry.mirror {
                if m.insecure {
                    self.insecure.insert(host_of(&m.location).into(), true);
                }
                let pull = m.pull_from_mirror.as_deref().unwrap_or("all");
                mirrors.push(Mirror {
                    location: m.location.trim_end_matches('/').to_owned(),
                    plain_http: false,
                    digest_only: pull == "digest-only",
                    tag_only: pull == "tag-only",
                });
            }
            let rule = Rule {
                location: entry.location.filter(|l| *l != prefix),
                mirrors,
                blocked: entry.blocked,
                mirror_digest_only: entry.mirror_by_digest_only,
            };
            self.rules.insert(prefix, rule);
        }
        Ok(())
    }

    /// Reads rbuild's own TOML (`[registry."host"]` tables as in
    /// buildkitd.toml).
    pub fn read_rbuild_toml(&mut self, path: &Path) -> Result<()> {
        let Some(text) = read_optional(path)? else { return Ok(()) };
        let conf: RbuildToml = toml::from_str(&text)
            .map_err(|e| Error::Config { path: path.into(), why: e.to_string() })?;
        for (host, entry) in conf.registry {
            if !entry.mirrors.is_empty() {
                let mut mirrors = Vec::new();
                for url in &entry.mirrors {
                    let mut mirror = parse_mirror(url).ok_or_else(|| Error::Config {
                        path: path.into(),
                        why: format!("invalid mirror {url:?} for {host}"),
                    })?;
                    mirror.digest_only = entry.mirror_digest_only;
                    mirrors.push(mirror);
                }
                self.rules.insert(host.clone(), Rule { mirrors, ..Rule::default() });
            }
            if let Some(flag) = entry.insecure.or(entry.http) {
                self.insecure.insert(host.clone(), flag);
            }
            if !entry.ca.is_empty() {
                self.ca.entry(host).or_default().extend(entry.ca);
            }
        }
        Ok(())
    }

    /// `--registry-mirror HOST=URL`: a mirror for pulls from `HOST`, tried
    /// before any configured one.
    pub fn add_mirror(&mut self, host: &str, url: &str) -> Result<()> {
        let mirror = parse_mirror(url).ok_or_else(|| Error::Config {
            path: "--registry-mirror".into(),
            why: format!("invalid mirror URL {url:?}"),
        })?;
        self.rules.entry(host.to_owned()).or_default().mirrors.insert(0, mirror);
        Ok(())
    }

    /// `--insecure-registry HOST`: TLS without verification, or plain HTTP.
    pub fn set_insecure(&mut self, host: &str, insecure: bool) {
        self.insecure.insert(host.to_owned(), insecure);
    }

    /// Where docker's per-host certificate directories are looked for.
    pub fn set_certs_dirs(&mut self, dirs: Vec<PathBuf>) {
        self.certs_dirs = dirs;
    }

    /// Whether `host` may be reached without verified TLS: configured so,
    /// or a loopback address (as dockerd allows 127.0.0.0/8 and ::1) unless
    /// configured otherwise.
    pub fn is_insecure(&self, host: &str) -> bool {
        if let Some(flag) = self.insecure.get(host) {
            return *flag;
        }
        let name = host_without_port(host);
        name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// CA certificate files to trust for `host`: configured ones, then
    /// `<certs.d>/<host>/*.crt`.
    pub fn ca_files(&self, host: &str) -> Vec<PathBuf> {
        let mut files = self.ca.get(host).cloned().unwrap_or_default();
        for dir in &self.certs_dirs {
            files.extend(certs_d_files(&dir.join(host), "crt"));
        }
        files
    }

    /// A client certificate and key for `host` from certs.d
    /// (`client.cert` + `client.key`, or any `X.cert` + `X.key`).
    pub fn client_cert(&self, host: &str) -> Option<(PathBuf, PathBuf)> {
        self.certs_dirs.iter().find_map(|dir| {
            certs_d_files(&dir.join(host), "cert").into_iter().find_map(|cert| {
                let key = cert.with_extension("key");
                key.is_file().then_some((cert, key))
            })
        })
    }

    /// The endpoints to try for a pull of `repository` on `domain`,
    /// mirrors first in order, then the primary; `by_digest` filters
    /// digest-only and tag-only mirrors.
    pub fn pull_endpoints(
        &self,
        domain: &str,
        repository: &str,
        by_digest: bool,
    ) -> Result<Vec<Endpoint>> {
        let primary = self.primary(domain, repository)?;
        let mut out = Vec::new();
        if let Some((prefix, rule)) = self.rule(domain, repository) {
            let rest = format!("{domain}/{repository}");
            let rest = rest.strip_prefix(prefix.as_str()).unwrap_or("").trim_start_matches('/');
            for mirror in &rule.mirrors {
                let digest_only = mirror.digest_only || rule.mirror_digest_only;
                if (digest_only && !by_digest) || (mirror.tag_only && by_digest) {
                    continue;
                }
                let (host, namespace) = match mirror.location.split_once('/') {
                    Some((h, ns)) => (h.to_owned(), format!("{ns}/")),
                    None => (mirror.location.clone(), String::new()),
                };
                // A host-level mirror keeps the whole repository path; a
                // prefix with a path replaces that part.
                let repository = if prefix.contains('/') {
                    format!("{namespace}{rest}")
                } else {
                    format!("{namespace}{repository}")
                };
                let repository = repository.trim_matches('/').to_owned();
                out.push(Endpoint {
                    host,
                    repository,
                    plain_http: mirror.plain_http,
                    mirror: true,
                    source: domain.to_owned(),
                });
            }
        }
        out.push(primary);
        Ok(out)
    }

    /// The one endpoint a push of `repository` to `domain` goes to:
    /// never a mirror.
    pub fn push_endpoint(&self, domain: &str, repository: &str) -> Result<Endpoint> {
        self.primary(domain, repository)
    }

    fn primary(&self, domain: &str, repository: &str) -> Result<Endpoint> {
        let mut host = if domain == "docker.io" {
            "registry-1.docker.io".to_owned()
        } else {
            domain.to_owned()
        };
        let mut repo = repository.to_owned();
        if let Some((prefix, rule)) = self.rule(domain, repository) {
            if rule.blocked {
                return Err(Error::Config {
                    path: "registries.conf".into(),
                    why: format!("{domain}/{repository} is blocked by the entry for {prefix}"),
                });
            }
            if let Some(location) = &rule.location {
                let full = format!("{domain}/{repository}");
                let rest = full.strip_prefix(prefix.as_str()).unwrap_or("").trim_start_matches('/');
                let rewritten = format!("{}/{rest}", location.trim_end_matches('/'));
                let (h, r) = rewritten.split_once('/').unwrap_or((&rewritten, ""));
                host = h.to_owned();
                repo = r.trim_matches('/').to_owned();
            }
        }
        Ok(Endpoint {
            host,
            repository: repo,
            plain_http: false,
            mirror: false,
            source: domain.to_owned(),
        })
    }

    /// The rule with the longest prefix matching `domain/repository`.
    fn rule(&self, domain: &str, repository: &str) -> Option<(&String, &Rule)> {
        let full = format!("{domain}/{repository}");
        self.rules
            .iter()
            .filter(|(prefix, _)| {
                full == **prefix
                    || full.starts_with(&format!("{prefix}/"))
                    || prefix.strip_prefix("*.").is_some_and(|d| domain.ends_with(&format!(".{d}")))
            })
            .max_by_key(|(prefix, _)| prefix.len())
    }
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config { path: path.into(), why: e.to_string() }),
    }
}

/// `https://m.example`, `http://10.0.0.5:5000/proxy`, `m.example:5000`.
fn parse_mirror(url: &str) -> Option<Mirror> {
    let (plain_http, rest) = match url.split_once("://") {
        Some(("http", rest)) => (true, rest),
        Some(("https", rest)) => (false, rest),
        Some(_) => return None,
        None => (false, url),
    };
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_prefix("v2/").unwrap_or(rest);
    if rest.is_empty() || rest.contains(['?', '#', '@', ' ']) {
        return None;
    }
    Some(Mirror { location: rest.to_owned(), plain_http, ..Mirror::default() })
}

fn host_of(location: &str) -> &str {
    location.split('/').next().unwrap_or(location)
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

fn certs_d_files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_io_goes_to_registry_1_and_loopback_is_insecure() {
        let c = RegistryConfig::builtin();
        let eps = c.pull_endpoints("docker.io", "library/alpine", false).unwrap();
        assert_eq!(eps.len(), 1);
        assert_eq!(eps[0].host, "registry-1.docker.io");
        assert!(c.is_insecure("127.0.0.1:5000"));
        assert!(c.is_insecure("localhost:5000"));
        assert!(c.is_insecure("[::1]:5000"));
        assert!(!c.is_insecure("registry.example"));
    }

    #[test]
    fn daemon_json_mirrors_apply_to_docker_io_pulls_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(&file, r#"{"registry-mirrors":["https://m1.example","http://m2.example:5000/"],"insecure-registries":["corp.example:5000"]}"#).unwrap();
        let mut c = RegistryConfig::builtin();
        c.read_daemon_json(&file).unwrap();
        let eps = c.pull_endpoints("docker.io", "library/alpine", false).unwrap();
        let hosts: Vec<_> = eps.iter().map(|e| (e.host.as_str(), e.mirror, e.plain_http)).collect();
        assert_eq!(
            hosts,
            [
                ("m1.example", true, false),
                ("m2.example:5000", true, true),
                ("registry-1.docker.io", false, false)
            ]
        );
        assert_eq!(
            eps[0].url("https", "manifests/latest"),
            "https://m1.example/v2/library/alpine/manifests/latest?ns=docker.io"
        );
        assert_eq!(
            eps[2].url("https", "manifests/latest"),
            "https://registry-1.docker.io/v2/library/alpine/manifests/latest"
        );
        assert_eq!(
            c.push_endpoint("docker.io", "library/alpine").unwrap().host,
            "registry-1.docker.io"
        );
        assert_eq!(c.pull_endpoints("quay.io", "a/b", false).unwrap().len(), 1);
        assert!(c.is_insecure("corp.example:5000"));
    }

    #[test]
    fn registries_conf_longest_prefix_namespaced_mirror_digest_only_and_blocked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registries.conf");
        std::fs::write(
            &file,
            r#"
unqualified-search-registries = ["docker.io", "quay.io"]
[[registry]]
prefix = "docker.io"
[[registry.mirror]]
location = "mirror.corp/hub"
[[registry]]
prefix = "docker.io/library/alpine"
[[registry.mirror]]
location = "pinned.corp"
pull-from-mirror = "digest-only"
[[registry]]
prefix = "evil.example"
blocked = true
[[registry]]
prefix = "old.example/team"
location = "new.example/people"
"#,
        )
        .unwrap();
        let mut c = RegistryConfig::builtin();
        c.read_registries_conf(&file).unwrap();
        let eps = c.pull_endpoints("docker.io", "library/busybox", false).unwrap();
        assert_eq!(
            (eps[0].host.as_str(), eps[0].repository.as_str()),
            ("mirror.corp", "hub/library/busybox")
        );
        // alpine: its own entry wins; its mirror is digest-only.
        assert_eq!(c.pull_endpoints("docker.io", "library/alpine", false).unwrap().len(), 1);
        let by_digest = c.pull_endpoints("docker.io", "library/alpine", true).unwrap();
        assert_eq!(
            (by_digest[0].host.as_str(), by_digest[0].repository.as_str()),
            ("pinned.corp", "")
        );
        assert!(
            c.pull_endpoints("evil.example", "x", false)
                .unwrap_err()
                .to_string()
                .contains("blocked")
        );
        let moved = c.push_endpoint("old.example", "team/app").unwrap();
        assert_eq!((moved.host.as_str(), moved.repository.as_str()), ("new.example", "people/app"));
    }

    #[test]
    fn rbuild_toml_mirrors_and_a_secure_loopback_host() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(
            &file,
            "[registry.\"127.0.0.1:5000\"]\nmirrors = [\"127.0.0.1:5004\"]\ninsecure = false\nca = [\"/x/ca.pem\"]\n",
        )
        .unwrap();
        let mut c = RegistryConfig::builtin();
        c.read_rbuild_toml(&file).unwrap();
        let eps = c.pull_endpoints("127.0.0.1:5000", "busybox", false).unwrap();
        assert_eq!(
            eps[0].url("http", "tags/list"),
            "http://127.0.0.1:5004/v2/busybox/tags/list?ns=127.0.0.1:5000"
        );
        assert!(!c.is_insecure("127.0.0.1:5000"));
        assert_eq!(c.ca_files("127.0.0.1:5000"), [PathBuf::from("/x/ca.pem")]);
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[registry\n").unwrap();
        assert!(c.read_rbuild_toml(&bad).unwrap_err().to_string().contains("bad.toml"));
    }
}
