//! The transport under pulls and pushes: one ureq agent per host and TLS
//! profile, the scheme chosen once per host (`GET /v2/`), authorization
//! attached from the challenge the registry gave, retries with backoff on
//! 429 (honouring `Retry-After`), 5xx and broken connections, and every
//! failure turned into an [`Error`] that names what was asked for.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ureq::http::{self, Method, Response, StatusCode};
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use crate::auth::{Challenge, Scopes, Token, form_encode, parse_challenge, push_query};
use crate::config::{Endpoint, RegistryConfig};
use crate::credentials::{Credential, Credentials};
use crate::error::{Error, Result};

/// How often and how patiently a request is retried.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Tries in all (1 = no retry).
    pub attempts: u32,
    /// The first wait; each next one doubles.
    pub delay: Duration,
    /// No wait (nor `Retry-After`) is longer.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry { attempts: 5, delay: Duration::from_millis(250), max_delay: Duration::from_secs(10) }
    }
}

/// A request body that can be sent again after a retry or an auth
/// round trip.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Payload<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (manifests, configs, small blobs, forms).
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (a blob chunk).
    File {
        /// The file.
        path: &'a Path,
        /// Where the part starts.
        offset: u64,
        /// How long it is.
        len: u64,
    },
}

impl Payload<'_> {
    fn len(&self) -> u64 {
        match self {
            Payload::Empty => 0,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File { len, .. } => *len,
        }
    }
}

/// A registry client: configuration, credentials and what it learnt of
/// each host (scheme, challenge, tokens). Share one per process.
pub struct Client {
    pub(crate) config: RegistryConfig,
    credentials: Credentials,
    pub(crate) retry: Retry,
    agents: Mutex<HashMap<(String, bool), Agent>>,
    schemes: Mutex<HashMap<String, &'static str>>,
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<String, Token>>,
    /// One lock per token key, so threads wanting the same token fetch it
    /// once between them.
    fetching: Mutex<HashMap<String, std::sync::Arc<Mutex<()>>>>,
    warnings: Mutex<BTreeSet<String>>,
    system_roots: OnceLock<Vec<Certificate<'static>>>,
    /// How many layers move at once.
    pub(crate) parallel: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.config).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `404 Not Found`.
pub(crate) fn status_text(status: StatusCode) -> String {
    format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")).trim_end().to_owned()
}

impl Client {
    /// A client with this configuration and credential lookup.
    pub fn new(config: RegistryConfig, credentials: Credentials) -> Client {
        Client {
            config,
            credentials,
            retry: Retry::default(),
            agents: Mutex::new(HashMap::new()),
            schemes: Mutex::new(HashMap::new()),
            challenges: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
            warnings: Mutex::new(BTreeSet::new()),
            system_roots: OnceLock::new(),
            parallel: 4,
        }
    }

    /// The client docker users expect: the machine's registry files and
    /// docker's credential lookup.
    pub fn from_env() -> Result<Client> {
        Ok(Client::new(RegistryConfig::load()?, Credentials::from_env()))
    }

    /// The client of a request that brought its own credentials (`Some`:
    /// those only, none of this machine's), else [`from_env`](Self::from_env).
    pub fn for_request(auth: Option<&crate::RequestAuth>) -> Result<Client> {
        match auth {
            Some(auth) => {
                Ok(Client::new(RegistryConfig::load()?, Credentials::of_request(auth.clone())))
            }
            None => Client::from_env(),
        }
    }

    /// Retries as given (tests make them quick).
    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    /// At most `n` (≥ 1) blobs transferred at once.
    pub fn with_parallel(mut self, n: usize) -> Client {
        self.parallel = n.max(1);
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The credential lookup in use.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// `Warning: 299` texts registries sent, each once, for the user.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.warnings)).into_iter().collect()
    }

    fn roots(&self, host: &str) -> Result<RootCerts> {
        let system = self.system_roots.get_or_init(|| {
            let file = std::env::var_os("SSL_CERT_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".into());
            std::fs::read(file).map(|pem| certificates(&pem)).unwrap_or_default()
        });
        let extra = self.config.ca_files(host);
        if system.is_empty() && extra.is_empty() {
            return Ok(RootCerts::WebPki);
        }
        let mut all = system.clone();
        for file in extra {
            let pem = std::fs::read(&file)
                .map_err(|e| Error::Config { path: file.clone(), why: e.to_string() })?;
            let certs = certificates(&pem);
            if certs.is_empty() {
                return Err(Error::Config { path: file, why: "no PEM certificate in it".into() });
            }
            all.extend(certs);
        }
        Ok(RootCerts::new_with_certs(&all))
    }

    fn client_cert(&self, host: &str) -> Result<Option<ClientCert>> {
        let Some((cert, key)) = self.config.client_cert(host) else { return Ok(None) };
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::Config { path: p.into(), why: e.to_string() })
        };
        let chain = certificates(&read(&cert)?);
        let key_pem = read(&key)?;
        let key_der = PrivateKey::from_pem(&key_pem).map_err(|e| Error::Config {
            path: key.clone(),
            why: format!("not a PEM private key: {e}"),
        })?;
        if chain.is_empty() {
            return Err(Error::Config { path: cert, why: "no PEM certificate in it".into() });
        }
        Ok(Some(ClientCert::new_with_certs(&chain, key_der)))
    }

    /// The agent for `host`, verifying TLS or not.
    pub(crate) fn agent(&self, host: &str, verify: bool) -> Result<Agent> {
        let key = (host.to_owned(), verify);
        if let Some(agent) = lock(&self.agents).get(&key) {
            return Ok(agent.clone());
        }
        let tls = TlsConfig::builder()
            .root_certs(self.roots(host)?)
            .client_cert(self.client_cert(host)?)
            .disable_verification(!verify)
            .build();
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections_per_host(self.parallel.max(4) * 2)
            // Redirects are followed by `send`, which decides where
            // credentials may go.
            .max_redirects(0)
            .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            .tls_config(tls)
            .build();
        let agent = Agent::new_with_config(config);
        lock(&self.agents).insert(key, agent.clone());
        Ok(agent)
    }

    /// `https` or `http` for `endpoint`, decided once per host: verified
    /// TLS for a secure registry; for an insecure one (loopback or
    /// configured) TLS without verification first, then plain HTTP, as
    /// dockerd does. The `GET /v2/` that decides also learns the
    /// challenge, so no request with a body is ever sent twice for auth.
    pub(crate) fn scheme(&self, endpoint: &Endpoint) -> Result<&'static str> {
        if endpoint.plain_http {
            return Ok("http");
        }
        if let Some(s) = lock(&self.schemes).get(&endpoint.host) {
            return Ok(s);
        }
        let insecure = self.config.is_insecure(&endpoint.host);
        let candidates: &[&'static str] = if insecure { &["https", "http"] } else { &["https"] };
        let mut last = None;
        for scheme in candidates {
            let url = format!("{scheme}://{}/v2/", endpoint.host);
            let agent = self.agent(&endpoint.host, !insecure)?;
            let request = http::Request::get(&url).body(()).map_err(|e| internal(&url, e))?;
            match agent.run(request) {
                Ok(response) => {
                    if response.status() == StatusCode::UNAUTHORIZED {
                        self.learn_challenge(&endpoint.host, &response);
                    }
                    lock(&self.schemes).insert(endpoint.host.clone(), scheme);
                    return Ok(scheme);
                }
                Err(e) => last = Some(transport(&endpoint.host, &endpoint.host, &e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::Transport {
            what: endpoint.host.clone(),
            why: "unreachable".into(),
        }))
    }

    fn learn_challenge(
        &self,
        host: &str,
        response: &Response<Body>,
    ) -> Option<BTreeMap<String, String>> {
        let header = response.headers().get_all(http::header::WWW_AUTHENTICATE);
        // Prefer Bearer when both are offered.
        let mut parsed: Vec<_> =
            header.iter().filter_map(|v| v.to_str().ok()).filter_map(parse_challenge).collect();
        parsed.sort_by_key(|(c, _)| matches!(c, Challenge::Basic));
        let (challenge, params) = parsed.into_iter().next()?;
        lock(&self.challenges).insert(host.to_owned(), challenge);
        Some(params)
    }

    /// The `Authorization` value for `scopes` on `endpoint`'s host, from
    /// what its challenge asked for; `None` to go anonymous.
    fn authorization(
        &self,
        endpoint: &Endpoint,
        scopes: &Scopes,
        refresh: bool,
    ) -> Result<Option<String>> {
        let Some(challenge) = lock(&self.challenges).get(&endpoint.host).cloned() else {
            return Ok(None);
        };
        let host = credential_host(endpoint);
        match challenge {
            Challenge::Basic => {
                Ok(match self.credentials.get(&host, Some(&endpoint.repository))? {
                    Some(Credential::Basic { username, password }) => {
                        Some(format!("Basic {}", BASE64.encode(format!("{username}:{password}"))))
                    }
                    _ => None,
                })
            }
            Challenge::Bearer { realm, service } => {
                let key = format!("{}\n{}", endpoint.host, scopes.key());
                let cached = || {
                    lock(&self.tokens)
                        .get(&key)
                        .filter(|t| t.fresh(Instant::now()))
                        .map(|t| format!("Bearer {}", t.value))
                };
                if !refresh && let Some(value) = cached() {
                    return Ok(Some(value));
                }
                let gate = lock(&self.fetching).entry(key.clone()).or_default().clone();
                let _one_at_a_time = lock(&gate);
                // Another thread may have fetched it while this one waited.
                if !refresh && let Some(value) = cached() {
                    return Ok(Some(value));
                }
                let credential = self.credentials.get(&host, Some(&endpoint.repository))?;
                let (token, _) = self.fetch_token(
                    endpoint,
                    &host,
                    credential,
                    &realm,
                    service.as_deref(),
                    scopes,
                    false,
                )?;
                let value = format!("Bearer {}", token.value);
                lock(&self.tokens).insert(key, token);
                Ok(Some(value))
            }
        }
    }

    /// A token from `realm`: the OAuth2 POST with an identity token, else a
    /// GET (with Basic credentials when there are some). `offline` asks for
    /// a refresh token too (as `docker login` does), returned beside it.
    #[allow(clippy::too_many_arguments)]
    fn fetch_token(
        &self,
        endpoint: &Endpoint,
        credential_host: &str,
        credential: Option<Credential>,
        realm: &str,
        service: Option<&str>,
        scopes: &Scopes,
        offline: bool,
    ) -> Result<(Token, Option<String>)> {
        let what = format!("token for {}", endpoint.name());
        let realm_host =
            realm.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("").to_owned();
        if !(realm.starts_with("https://") || realm.starts_with("http://")) || realm_host.is_empty()
        {
            return Err(Error::Auth {
                what,
                why: format!("the registry names an unusable token realm {realm:?}"),
            });
        }
        let verify = !(realm.starts_with("http://") || self.config.is_insecure(&realm_host));
        let agent = self.agent(&realm_host, verify)?;
        let response = match &credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = format!(
                    "grant_type=refresh_token&client_id=rbuild&refresh_token={}",
                    form_encode(refresh)
                );
                if let Some(service) = service {
                    form.push_str(&format!("&service={}", form_encode(service)));
                }
                let scope: Vec<&str> = scopes.iter().collect();
                if !scope.is_empty() {
                    form.push_str(&format!("&scope={}", form_encode(&scope.join(" "))));
                }
                let request = http::Request::post(realm)
                    .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.into_bytes())
                    .map_err(|e| internal(&what, e))?;
                agent.run(request).map_err(|e| transport(&what, &realm_host, &e))?
            }
            _ => {
                let mut url = realm.to_owned();
                if let Some(service) = service {
                    push_query(&mut url, "service", service);
                }
                for scope in scopes.iter() {
                    push_query(&mut url, "scope", scope);
                }
                if let Some(Credential::Basic { username, .. }) = &credential {
                    push_query(&mut url, "account", username);
                    if offline {
                        push_query(&mut url, "offline_token", "true");
                        push_query(&mut url, "client_id", "rbuild");
                    }
                }
                let mut request = http::Request::get(&url);
                if let Some(Credential::Basic { username, password }) = &credential {
                    request = request.header(
                        http::header::AUTHORIZATION,
                        format!("Basic {}", BASE64.encode(format!("{username}:{password}"))),
                    );
                }
                let request = request.body(()).map_err(|e| internal(&what, e))?;
                agent.run(request).map_err(|e| transport(&what, &realm_host, &e))?
            }
        };
        let status = response.status();
        let mut body = Vec::new();
        let _ =
            response.into_body().into_with_config().limit(1 << 20).reader().read_to_end(&mut body);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let why = match credential {
                Some(_) => format!(
                    "the token server refused the credentials for {credential_host} ({})",
                    status_text(status)
                ),
                None => format!(
                    "the token server wants credentials for {credential_host}: run `rbuild login {credential_host}`"
                ),
            };
            return Err(Error::Auth { what: endpoint.name(), why });
        }
        if !status.is_success() {
            return Err(Error::Auth {
                what,
                why: format!("the token server answered {}", status_text(status)),
            });
        }
        Token::from_response(&body, Instant::now()).ok_or_else(|| Error::Auth {
            what,
            why: "the token server's answer holds no token".into(),
        })
    }

    /// Sends one request to `endpoint` (`target` is a path under its
    /// repository, or an absolute or root-relative upload `Location`),
    /// authorizing, retrying and re-authorizing as needed. A 401 that
    /// survives a fresh token becomes [`Error::Auth`]; other statuses are
    /// the caller's to read.
    pub(crate) fn send(
        &self,
        endpoint: &Endpoint,
        scopes: &Scopes,
        method: Method,
        target: &str,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> Result<Response<Body>> {
        let scheme = self.scheme(endpoint)?;
        let url = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_owned()
        } else if target.starts_with('/') {
            format!("{scheme}://{}{target}", endpoint.host)
        } else {
            endpoint.url(scheme, target)
        };
        let what = format!("{} {}", method, shown(&url));
        let verify = scheme == "https" && !self.config.is_insecure(&endpoint.host);
        let mut agent = self.agent(&endpoint.host, verify)?;
        let home = origin(&url);
        let mut url = url;
        let mut redirects = 0;
        let mut scopes = scopes.clone();
        let mut reauthorized = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Credentials go to the registry's own origin only, never to
            // the storage host a blob is redirected to.
            let auth = if origin(&url) == home {
                self.authorization(endpoint, &scopes, reauthorized && attempt == 1)?
            } else {
                None
            };
            let mut builder = http::Request::builder().method(method.clone()).uri(&url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            if let Some(auth) = &auth {
                builder = builder.header(http::header::AUTHORIZATION, auth);
            }
            if method == Method::PUT || method == Method::PATCH || method == Method::POST {
                builder = builder.header(http::header::CONTENT_LENGTH, payload.len().to_string());
            }
            let result = match payload {
                Payload::Empty
                    if method == Method::PUT
                        || method == Method::PATCH
                        || method == Method::POST =>
                {
                    agent.run(builder.body(&[][..]).map_err(|e| internal(&what, e))?)
                }
                Payload::Empty => agent.run(builder.body(()).map_err(|e| internal(&what, e))?),
                Payload::Bytes(bytes) => {
                    agent.run(builder.body(bytes).map_err(|e| internal(&what, e))?)
                }
                Payload::File { path, offset, len } => {
                    let mut file = std::fs::File::open(path).map_err(|e| Error::Transport {
                        what: what.clone(),
                        why: format!("{}: {e}", path.display()),
                    })?;
                    file.seek(SeekFrom::Start(offset))
                        .map_err(|e| Error::Transport { what: what.clone(), why: e.to_string() })?;
                    let mut part = file.take(len);
                    agent.run(
                        builder
                            .body(SendBody::from_reader(&mut part))
                            .map_err(|e| internal(&what, e))?,
                    )
                }
            };
            let retries_left = attempt < self.retry.attempts;
            match result {
                Ok(response) => {
                    self.note_warnings(&response);
                    let status = response.status();
                    if status.is_redirection()
                        && (method == Method::GET || method == Method::HEAD)
                        && let Some(location) = response
                            .headers()
                            .get(http::header::LOCATION)
                            .and_then(|v| v.to_str().ok())
                    {
                        redirects += 1;
                        if redirects > 10 {
                            return Err(Error::Transport {
                                what,
                                why: "more than 10 redirects".into(),
                            });
                        }
                        url = redirect_target(&url, location);
                        let host = origin(&url).1;
                        let verify = !url.starts_with("http://") && !self.config.is_insecure(&host);
                        agent = self.agent(&host, verify)?;
                        attempt = 0;
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED && !reauthorized && origin(&url) == home {
                        reauthorized = true;
                        attempt = 0;
                        if let Some(params) = self.learn_challenge(&endpoint.host, &response)
                            && params.get("error").is_some_and(|e| e == "insufficient_scope")
                            && let Some(wanted) = params.get("scope")
                        {
                            for scope in wanted.split(' ') {
                                if let Some(repo) = scope
                                    .strip_prefix("repository:")
                                    .and_then(|s| s.rsplit_once(':'))
                                    .map(|(r, _)| r)
                                {
                                    scopes = scopes.and_pull(repo);
                                }
                            }
                        }
                        // Drop a token the registry no longer takes.
                        lock(&self.tokens).remove(&format!("{}\n{}", endpoint.host, scopes.key()));
                        continue;
                    }
                    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                        let host = credential_host(endpoint);
                        let (_, code) = read_error(response);
                        let has_credential =
                            self.credentials.get(&host, Some(&endpoint.repository))?.is_some();
                        let hint = if has_credential {
                            String::new()
                        } else {
                            format!("; run `rbuild login {host}`")
                        };
                        return Err(Error::Auth {
                            what: endpoint.name(),
                            why: format!(
                                "{}{}{hint}",
                                status_text(status),
                                code.map(|c| format!(" {c}")).unwrap_or_default()
                            ),
                        });
                    }
                    let again = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if again && retries_left {
                        let after = response
                            .headers()
                            .get(http::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs);
                        std::thread::sleep(self.backoff(attempt, after));
                        continue;
                    }
                    return Ok(response);
                }
                Err(e) if retries_left && retryable(&e) => {
                    std::thread::sleep(self.backoff(attempt, None));
                }
                Err(e) => return Err(transport(&what, &endpoint.host, &e)),
            }
        }
    }

    /// Checks `credential` against `host` as `docker login` does: the
    /// registry's `/v2/` must accept it (directly, or through a token from
    /// the realm it names). Returns what to store: the identity token the
    /// token server gave for an offline login, else `credential` itself,
    /// so a password is kept only where the registry offers nothing else.
    pub fn verify_login(&self, host: &str, credential: &Credential) -> Result<Credential> {
        let endpoint = Endpoint {
            host: if host == "docker.io" { "registry-1.docker.io".into() } else { host.to_owned() },
            repository: String::new(),
            plain_http: false,
            mirror: false,
            source: host.to_owned(),
        };
        let scheme = self.scheme(&endpoint)?;
        let challenge = lock(&self.challenges).get(&endpoint.host).cloned();
        let mut keep = credential.clone();
        let header = match challenge {
            None => return Ok(keep),
            Some(Challenge::Basic) => match credential {
                Credential::Basic { username, password } => {
                    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
                }
                Credential::IdentityToken(_) => {
                    return Err(Error::Auth {
                        what: host.to_owned(),
                        why: "the registry takes a user and password, not a token".into(),
                    });
                }
            },
            Some(Challenge::Bearer { realm, service }) => {
                let (token, refresh) = self.fetch_token(
                    &endpoint,
                    host,
                    Some(credential.clone()),
                    &realm,
                    service.as_deref(),
                    &Scopes::default(),
                    true,
                )?;
                if let Some(refresh) = refresh.filter(|r| !r.is_empty()) {
                    keep = Credential::IdentityToken(refresh);
                }
                format!("Bearer {}", token.value)
            }
        };
        let url = format!("{scheme}://{}/v2/", endpoint.host);
        let verify = scheme == "https" && !self.config.is_insecure(&endpoint.host);
        let request = http::Request::get(&url)
            .header(http::header::AUTHORIZATION, header)
            .body(())
            .map_err(|e| internal(host, e))?;
        let response = self
            .agent(&endpoint.host, verify)?
            .run(request)
            .map_err(|e| transport(host, &endpoint.host, &e))?;
        match response.status() {
            s if s.is_success() => Ok(keep),
            s => Err(Error::Auth {
                what: host.to_owned(),
                why: format!("login refused: {}", status_text(s)),
            }),
        }
    }

    pub(crate) fn backoff(&self, attempt: u32, after: Option<Duration>) -> Duration {
        let doubled = self.retry.delay.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        after.unwrap_or(doubled).min(self.retry.max_delay)
    }

    fn note_warnings(&self, response: &Response<Body>) {
        for value in response.headers().get_all(http::header::WARNING) {
            let Ok(text) = value.to_str() else { continue };
            if let Some(rest) = text.strip_prefix("299 ") {
                let message =
                    rest.split_once(' ').map_or(rest, |(_, m)| m).trim().trim_matches('"');
                lock(&self.warnings).insert(message.to_owned());
            }
        }
    }
}

use std::collections::BTreeMap;

/// The host credentials are looked up for: the registry the user named
/// (docker.io for Docker Hub), or a mirror's own host.
fn credential_host(endpoint: &Endpoint) -> String {
    if endpoint.mirror {
        endpoint.host.clone()
    } else if endpoint.host == "registry-1.docker.io" {
        "docker.io".to_owned()
    } else {
        endpoint.host.clone()
    }
}

fn certificates(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// A URL's scheme and authority (host and port): where credentials may go.
fn origin(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    (scheme.to_ascii_lowercase(), authority.to_ascii_lowercase())
}

/// Where a `Location` leads from `url`: absolute, scheme-relative, or a
/// path on the same origin.
fn redirect_target(url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let (scheme, authority) = origin(url);
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let path = shown(url);
    let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
    format!("{base}/{location}")
}

/// A URL as errors show it: without its query (which may carry upload
/// state or tokens).
pub(crate) fn shown(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Transport { what: what.to_owned(), why: format!("cannot make the request: {e}") }
}

/// The error for a failed exchange with `host` about `what`.
pub(crate) fn transport(what: &str, host: &str, e: &ureq::Error) -> Error {
    let tls = match e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    if let Some(why) = tls.and_then(|tls| tls_advice(host, tls)) {
        return Error::Transport { what: what.to_owned(), why };
    }
    let why = match e {
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
            std::io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
            _ => io.to_string(),
        },
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    };
    Error::Transport { what: what.to_owned(), why }
}

/// What a TLS failure means for the user and where the fix goes: the
/// certs.d files docker reads, or the insecure setting.
fn tls_advice(host: &str, e: &rustls::Error) -> Option<String> {
    use rustls::{AlertDescription as Alert, CertificateError as Cert};
    let dir = format!("/etc/docker/certs.d/{host}");
    Some(match e {
        rustls::Error::InvalidCertificate(cert) => {
            let what = match cert {
                Cert::UnknownIssuer | Cert::BadSignature => {
                    "is signed by an unknown authority".to_owned()
                }
                Cert::NotValidForName | Cert::NotValidForNameContext { .. } => {
                    format!("is not valid for {host}")
                }
                Cert::Expired | Cert::ExpiredContext { .. } => "has expired".to_owned(),
                Cert::NotValidYet | Cert::NotValidYetContext { .. } => {
                    "is not valid yet".to_owned()
                }
                other => format!("was refused ({other:?})"),
            };
            format!(
                "x509: the registry's TLS certificate {what}: put the CA that signed it in \
                 {dir}/ca.crt (or `ca` in rbuild's config), or mark {host} insecure"
            )
        }
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::CertificateRequired
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked,
        ) => format!(
            "the registry refused the TLS client certificate (none was sent, or it is not one it \
             trusts): put client.cert and client.key in {dir}/"
        ),
        _ => return None,
    })
}

fn retryable(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => !matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
        ),
        ureq::Error::Timeout(_) | ureq::Error::ConnectionFailed | ureq::Error::Protocol(_) => true,
        _ => false,
    }
}

/// Reads an error response: the status, and the registry's
/// `{"errors":[{code, message}]}` as `CODE: message`, or what the body is
/// when it is not that (an HTML page, a proxy's text).
pub(crate) fn read_error(response: Response<Body>) -> (StatusCode, Option<String>) {
    let status = response.status();
    let html = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let mut body = Vec::new();
    let _ = response.into_body().into_with_config().limit(64 << 10).reader().read_to_end(&mut body);
    if html || body.trim_ascii_start().starts_with(b"<") {
        return (
            status,
            Some(
                "(the server sent an HTML page, not the registry API: is this a registry?)".into(),
            ),
        );
    }
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<One>,
    }
    #[derive(serde::Deserialize)]
    struct One {
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(errors) = serde_json::from_slice::<Errors>(&body)
        && !errors.errors.is_empty()
    {
        let text: Vec<String> = errors
            .errors
            .iter()
            .map(|e| {
                if e.message.is_empty() {
                    e.code.clone()
                } else {
                    format!("{}: {}", e.code, e.message)
                }
            })
            .collect();
        return (status, Some(text.join("; ")));
    }
    let text = String::from_utf8_lossy(&body);
    let line = text.lines().next().unwrap_or("").trim();
    let line: String = line.chars().take(200).collect();
    (status, (!line.is_empty()).then_some(line))
}

/// The error for an unexpected status on `what`.
pub(crate) fn unexpected(what: &str, response: Response<Body>) -> Error {
    let (status, code) = read_error(response);
    if status == StatusCode::NOT_FOUND {
        return Error::NotFound { reference: what.to_owned(), detail: code };
    }
    Error::Registry { what: what.to_owned(), status: status_text(status), code }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_differ_by_port_and_redirects_resolve_like_a_browser() {
        let o = |u: &str| origin(u);
        assert_eq!(
            o("https://Reg.example:5000/v2/x?y"),
            ("https".into(), "reg.example:5000".into())
        );
        assert_ne!(o("http://127.0.0.1:5000/v2/"), o("http://127.0.0.1:5001/v2/"));
        assert_ne!(o("http://reg.example/v2/"), o("https://reg.example/v2/"));
        assert_eq!(o("https://u:p@reg.example/v2/").1, "reg.example");
        let from = "https://reg.example/v2/a/blobs/sha256:1?state=x";
        assert_eq!(
            redirect_target(from, "https://cdn.example/b?sig=1"),
            "https://cdn.example/b?sig=1"
        );
        assert_eq!(redirect_target(from, "//cdn.example/b"), "https://cdn.example/b");
        assert_eq!(redirect_target(from, "/v2/other"), "https://reg.example/v2/other");
        assert_eq!(redirect_target(from, "c"), "https://reg.example/v2/a/blobs/c");
    }
}
