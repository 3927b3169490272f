//! `POST /images/{name}/push` and `POST /images/create` (pull): the
//! registry client with the request's own credentials, its progress as
//! docker's JSON status lines, a registry's refusal inside the 200 stream
//! (where the CLI looks for it).

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use hyper::Response;
use rbuild_image::oci_spec::image::Digest;
use rbuild_llb::Reference;
use rbuild_registry::{Client, Credential, Credentials, RegistryConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::{ApiError, Body, Call, State, set};

/// The credential of an `X-Registry-Auth` header: base64url of docker's
/// AuthConfig JSON. `{}` (what the CLI sends without a login), an empty
/// or undecodable header: none. The value lives for this request only and
/// is never logged.
pub(crate) fn request_credential(header: Option<&str>) -> Option<Credential> {
    auth_config(&decode_header(header?)?)
}

/// The credentials of an `X-Registry-Config` header (a build's): base64url
/// of a JSON map from registry to AuthConfig. Missing or undecodable: none
/// (as moby); never the server's own.
pub(crate) fn request_auth(header: Option<&str>) -> rbuild_registry::RequestAuth {
    let Some(Value::Object(map)) = header.and_then(decode_header) else {
        return Default::default();
    };
    map.iter().filter_map(|(host, value)| Some((host.clone(), auth_config(value)?))).collect()
}

fn decode_header(text: &str) -> Option<Value> {
    let engines = [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
    ];
    let bytes = engines.iter().find_map(|e| e.decode(text.trim()).ok())?;
    serde_json::from_slice(&bytes).ok()
}

/// docker's AuthConfig: an identity token, a user and password, or `auth`
/// (base64 of `user:password`).
pub(crate) fn auth_config(value: &Value) -> Option<Credential> {
    let field = |k: &str| value.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    if let Some(token) = field("identitytoken") {
        return Some(Credential::IdentityToken(token.to_owned()));
    }
    if let (Some(username), Some(password)) = (field("username"), field("password")) {
        return Some(Credential::Basic { username: username.into(), password: password.into() });
    }
    let pair = base64::engine::general_purpose::STANDARD.decode(field("auth")?).ok()?;
    let (username, password) =
        String::from_utf8(pair).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some(Credential::Basic { username, password })
}

/// JSON lines to the client from a blocking thread.
struct Lines(mpsc::Sender<Bytes>);

impl Lines {
    fn send(&self, value: Value) {
        let mut text = value.to_string();
        text.push_str("\r\n");
        let _ = self.0.blocking_send(Bytes::from(text));
    }

    fn status(&self, text: String) {
        self.send(json!({ "status": text }));
    }

    fn error(&self, message: String) {
        self.send(json!({ "errorDetail": { "message": message }, "error": message }));
    }
}

/// Per-blob progress as docker's status lines.
struct Progress<'a> {
    lines: &'a Lines,
    pulling: bool,
}

impl rbuild_registry::Progress for Progress<'_> {
    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        self.lines.send(json!({
            "status": if self.pulling { "Downloading" } else { "Pushing" },
            "progressDetail": { "current": done, "total": total },
            "id": rbuild_llb::short_digest(digest.as_ref()),
        }));
    }

    fn finished(&self, digest: &Digest, _size: u64, how: &str) {
        let text = rbuild_registry::finished_status(self.pulling, how);
        self.lines.send(json!({
            "status": text,
            "progressDetail": {},
            "id": rbuild_llb::short_digest(digest.as_ref()),
        }));
    }
}

fn client_for(reference: &Reference, call: &Call) -> Result<Client, String> {
    let credential = request_credential(
        call.request.headers().get("X-Registry-Auth").and_then(|v| v.to_str().ok()),
    );
    let config = RegistryConfig::load().map_err(|e| format!("the registry configuration: {e}"))?;
    let auth = credential.map(|c| (reference.domain.clone(), c)).into_iter().collect();
    Ok(Client::new(config, Credentials::of_request(auth)))
}

/// Runs `work` on a blocking thread, its lines the response body.
fn stream(work: impl FnOnce(&Lines) + Send + 'static) -> Response<Body> {
    let (tx, rx) = mpsc::channel(64);
    tokio::task::spawn_blocking(move || work(&Lines(tx)));
    let mut response = Response::new(Body::Stream(rx, None));
    set(&mut response, "Content-Type", "application/json");
    response
}

/// `POST /images/{name}/push?tag=`: one tag, or (no tag) every tag of the
/// repository the store has.
pub(crate) async fn push(
    state: Arc<State>,
    call: Call,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let tag = call.query.get("tag").unwrap_or("").to_owned();
    let text = if tag.is_empty() { name.clone() } else { format!("{name}:{tag}") };
    let reference = Reference::parse(&text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let targets: Vec<Reference> = if tag.is_empty() {
        let repo = reference.repository();
        state
            .engine
            .store()
            .images()
            .into_iter()
            .filter_map(|(n, _)| Reference::parse(&n).ok())
            .filter(|r| r.repository() == repo && r.tag.is_some())
            .collect()
    } else {
        vec![reference.clone()]
    };
    if targets.is_empty() || state.engine.store().resolve(&targets[0].to_string()).is_none() {
        return Err(ApiError::not_found(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        )));
    }
    let client = client_for(&reference, &call).map_err(ApiError::internal)?;
    Ok(stream(move |lines| {
        lines.status(format!("The push refers to repository [{}]", reference.repository()));
        for target in targets {
            let progress = Progress { lines, pulling: false };
            match state.engine.push(&client, &target, &progress) {
                Ok(Some(pushed)) => {
                    let tag = target.tag.clone().unwrap_or_else(|| "latest".into());
                    lines.status(format!("{tag}: digest: {} size: {}", pushed.digest, pushed.size));
                    lines.send(json!({
                        "progressDetail": {},
                        "aux": { "Tag": tag, "Digest": pushed.digest.to_string(), "Size": pushed.size },
                    }));
                }
                Ok(None) => lines.error(format!(
                    "An image does not exist locally with the tag: {}",
                    target.familiar()
                )),
                Err(e) => return lines.error(rbuild_engine::error_message(&e)),
            }
        }
    }))
}

/// `POST /images/create?fromImage=&tag=`: a pull.
pub(crate) async fn pull(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    if call.query.get("fromSrc").is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(
            "importing (fromSrc) is not supported: use rbuild import",
        ));
    }
    let image = call.query.get("fromImage").unwrap_or("").to_owned();
    let tag = call.query.get("tag").unwrap_or("").to_owned();
    let text = match tag.as_str() {
        "" => image.clone(),
        t if t.starts_with("sha256:") => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    let reference = Reference::parse(&text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let platform = match call.query.get("platform").filter(|p| !p.is_empty()) {
        Some(p) => Some(
            rbuild_llb::Platform::parse(p)
                .ok_or_else(|| ApiError::bad_request(format!("invalid platform {p:?}")))?,
        ),
        None => None,
    };
    let client = client_for(&reference, &call).map_err(ApiError::internal)?;
    Ok(stream(move |lines| {
        let what = reference.tag.clone().or(reference.digest.clone()).unwrap_or_default();
        lines.send(json!({
            "status": format!("Pulling from {}", rbuild_llb::familiar_name(&reference.repository())),
            "id": what,
        }));
        let progress = Progress { lines, pulling: true };
        match state.engine.pull(&client, &reference, platform.as_ref(), &progress) {
            Ok((resolved, up_to_date)) => {
                lines.status(format!("Digest: {}", resolved.digest));
                let status = if up_to_date {
                    "Image is up to date for"
                } else {
                    "Downloaded newer image for"
                };
                lines.status(format!("Status: {status} {}", reference.familiar()));
            }
            Err(e) => lines.error(rbuild_engine::error_message(&e)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_config_headers_map_registries_to_credentials() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE.encode(v);
        assert!(request_auth(Some("e30=")).is_empty());
        assert!(request_auth(Some("bnVsbA==")).is_empty(), "null");
        assert!(request_auth(None).is_empty());
        let auth = request_auth(Some(&enc(
            r#"{"127.0.0.1:5000":{"username":"u","password":"p"},"other":{}}"#,
        )));
        assert_eq!(auth.len(), 1);
        assert_eq!(
            auth["127.0.0.1:5000"],
            Credential::Basic { username: "u".into(), password: "p".into() }
        );
    }

    #[test]
    fn registry_auth_headers_decode_as_the_clients_write_them() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE.encode(v);
        assert_eq!(request_credential(Some("e30=")), None, "{{}}: no login");
        assert_eq!(request_credential(None), None);
        assert_eq!(request_credential(Some("not base64!")), None);
        assert_eq!(
            request_credential(Some(&enc(
                r#"{"username":"u","password":"p","serveraddress":"r"}"#
            ))),
            Some(Credential::Basic { username: "u".into(), password: "p".into() })
        );
        let auth = base64::engine::general_purpose::STANDARD.encode("u2:p:2");
        assert_eq!(
            request_credential(Some(&enc(&format!(r#"{{"auth":"{auth}"}}"#)))),
            Some(Credential::Basic { username: "u2".into(), password: "p:2".into() })
        );
        assert_eq!(
            request_credential(Some(&enc(r#"{"identitytoken":"t"}"#))),
            Some(Credential::IdentityToken("t".into()))
        );
    }
}
