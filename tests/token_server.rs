//! A token server as Docker's token authentication specifies it (the one
//! Docker Hub, GHCR and Harbor run): `GET /token?service&scope` with or
//! without Basic credentials, and the OAuth2 `POST /token` for refresh
//! tokens. It signs ES256 JWTs with a key whose self-signed certificate the
//! test's docker-registry trusts (`auth: token: rootcertbundle`), so the
//! registry checks every token for real. Anyone may pull `public/*`; the
//! one user may pull and push everything.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::http::{Server, respond, serve};

/// One request the token server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issued {
    /// `anonymous`, `basic` (GET with a password), `refresh` (POST with a
    /// refresh token), or `refused`.
    pub(crate) how: &'static str,
    /// The scopes asked for, as sent.
    pub(crate) scopes: Vec<String>,
    /// Whether a refresh token was asked for (`offline_token=true`).
    pub(crate) offline: bool,
}

/// A running token server.
pub(crate) struct TokenServer {
    server: Server,
    cert: PathBuf,
    log: Arc<Mutex<Vec<Issued>>>,
}

const SERVICE: &str = "rbuild-test-registry";
const ISSUER: &str = "rbuild-test-issuer";

impl TokenServer {
    /// Starts one for `user` (name, password), its key made in `dir`.
    pub(crate) fn start(dir: &Path, user: (&str, &str)) -> TokenServer {
        let dir = dir.join("token-server");
        std::fs::create_dir_all(&dir).unwrap();
        let (key_pem, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&dir).output().unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rbuild-test-token",
        ]);
        openssl(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER", "-out", "key.der",
        ]);
        openssl(&["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"]);
        assert!(key_pem.is_file());
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &std::fs::read(dir.join("key.der")).unwrap(),
            &rng,
        )
        .unwrap();
        let cert_der = STANDARD.encode(std::fs::read(dir.join("cert.der")).unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let refresh_tokens: Arc<Mutex<Vec<String>>> = Arc::default();
        let (name, password) = (user.0.to_owned(), user.1.to_owned());
        let record = log.clone();
        let server = serve(move |request, stream| {
            let scopes: Vec<String> = request
                .params("scope")
                .iter()
                .flat_map(|s| s.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .filter(|s| !s.is_empty())
                .collect();
            let offline = request.params("offline_token").iter().any(|v| v == "true");
            let basic = request
                .header("authorization")
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned());
            let who: Result<(&'static str, Option<String>), ()> = match request.method.as_str() {
                "POST" if request.params("grant_type") == ["refresh_token"] => {
                    let token = request.params("refresh_token").pop().unwrap_or_default();
                    if refresh_tokens.lock().unwrap().contains(&token) {
                        Ok(("refresh", Some(name.clone())))
                    } else {
                        Err(())
                    }
                }
                "POST" => Err(()),
                _ => match basic {
                    Some(pair) if pair == format!("{name}:{password}") => {
                        Ok(("basic", Some(name.clone())))
                    }
                    Some(_) => Err(()),
                    None => Ok(("anonymous", None)),
                },
            };
            let Ok((how, subject)) = who else {
                record.lock().unwrap().push(Issued { how: "refused", scopes, offline });
                respond(
                    stream,
                    "401 Unauthorized",
                    &[],
                    br#"{"details":"incorrect username or password"}"#,
                );
                return;
            };
            record.lock().unwrap().push(Issued { how, scopes: scopes.clone(), offline });
            let access: Vec<serde_json::Value> = scopes
                .iter()
                .filter_map(|scope| {
                    let mut parts = scope.splitn(3, ':');
                    let (kind, repo, actions) = (parts.next()?, parts.next()?, parts.next()?);
                    let granted: Vec<&str> = actions
                        .split(',')
                        .filter(|a| {
                            subject.is_some() || (repo.starts_with("public/") && *a == "pull")
                        })
                        .collect();
                    Some(serde_json::json!({ "type": kind, "name": repo, "actions": granted }))
                })
                .collect();
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
            let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "x5c": [cert_der] });
            let claims = serde_json::json!({
                "iss": ISSUER, "sub": subject.clone().unwrap_or_default(), "aud": SERVICE,
                "exp": now + 300, "nbf": now - 10, "iat": now,
                "jti": format!("{now}-{}", record.lock().unwrap().len()), "access": access,
            });
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = key.sign(&rng, signed.as_bytes()).unwrap();
            let jwt = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
            let mut answer =
                serde_json::json!({ "token": jwt, "access_token": jwt, "expires_in": 300 });
            if offline && subject.is_some() {
                let mut known = refresh_tokens.lock().unwrap();
                let token = format!("refresh-{}-{}", now, known.len());
                known.push(token.clone());
                answer["refresh_token"] = serde_json::json!(token);
            }
            respond(
                stream,
                "200 OK",
                &[("Content-Type", "application/json")],
                answer.to_string().as_bytes(),
            );
        });
        TokenServer { server, cert, log }
    }

    /// The registry's `auth:` configuration that sends clients here.
    pub(crate) fn registry_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    \
             issuer: {ISSUER}\n    rootcertbundle: {}\n",
            self.server.addr,
            self.cert.display()
        )
    }

    /// What was asked since the last call, and forget it.
    pub(crate) fn take_log(&self) -> Vec<Issued> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}
