//! The image endpoints: list, inspect, history, tag, remove, save, load,
//! disk usage and build-cache prune, answered from the store as the
//! docker CLI and the SDKs read them.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{Response, StatusCode};
use rbuild_image::filters::ImageFilters;
use rbuild_image::images::{Image, ImageStoreError, Removed};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::{ApiError, Body, Call, ChannelWriter, State, json as json_response, set};

/// Runs `work` on a blocking thread: the store is files.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the request's worker failed: {e}")))?
}

/// moby's statuses for the image store's errors.
fn store_error(error: ImageStoreError) -> ApiError {
    match error {
        ImageStoreError::NoSuchImage(name) => ApiError::not_found(format!("No such image: {name}")),
        ImageStoreError::Conflict(message) => {
            ApiError::new(StatusCode::CONFLICT, format!("conflict: {message}"))
        }
        e @ (ImageStoreError::Reference(_) | ImageStoreError::DigestTag(_)) => {
            ApiError::bad_request(e.to_string())
        }
        other => ApiError::internal(other.to_string()),
    }
}

fn engine_error(error: rbuild_engine::BuildError) -> ApiError {
    match error {
        rbuild_engine::BuildError::Images(e) => store_error(e),
        other => ApiError::internal(rbuild_engine::error_message(&other)),
    }
}

fn familiar(name: &str) -> String {
    rbuild_llb::familiar_name(name).to_owned()
}

/// `filters`, in either encoding clients send: `{"reference":{"app":true}}`
/// (the CLI) or `{"reference":["app"]}` (the SDK).
fn filter_pairs(text: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(Vec::new()) };
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid filters: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request("invalid filters: expected a JSON object"));
    };
    let mut pairs = Vec::new();
    for (key, values) in map {
        match values {
            Value::Object(set) => pairs.extend(
                set.into_iter()
                    .filter(|(_, on)| on != &Value::Bool(false))
                    .map(|(v, _)| (key.clone(), v)),
            ),
            Value::Array(list) => pairs.extend(
                list.into_iter().filter_map(|v| v.as_str().map(|v| (key.clone(), v.to_owned()))),
            ),
            _ => return Err(ApiError::bad_request(format!("invalid filters: {key}"))),
        }
    }
    Ok(pairs)
}

fn summary(image: &Image, tags: Vec<String>, version: (u32, u32)) -> Value {
    let record = &image.record;
    let untagged = tags.is_empty() && record.repo_digests.is_empty();
    let (tags, digests): (Vec<String>, Vec<String>) = if untagged && version <= (1, 42) {
        (vec!["<none>:<none>".into()], vec!["<none>@<none>".into()])
    } else {
        (tags, record.repo_digests.iter().map(|d| familiar(d)).collect())
    };
    let mut out = json!({
        "Containers": -1,
        "Created": rbuild_image::images::created_secs(record),
        "Id": record.id,
        "Labels": if record.labels.is_empty() { Value::Null } else { json!(record.labels) },
        "ParentId": "",
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": -1,
        "Size": record.size,
    });
    if version < (1, 44) {
        out["VirtualSize"] = json!(record.size);
    }
    out
}

/// `GET /images/json`.
pub(crate) async fn list(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let all = call.query.bool("all");
    let pairs = filter_pairs(call.query.get("filters"))?;
    let version = call.version;
    let images = blocking(move || {
        let list = state.engine.images().map_err(engine_error)?;
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let filters = ImageFilters::parse(&refs, &list).map_err(ApiError::bad_request)?;
        let mut out = Vec::new();
        for image in &list {
            if !filters.shows(image, all) {
                continue;
            }
            // With a reference filter, the tags that match it (as moby).
            let tags: Vec<String> = image
                .names
                .iter()
                .map(|n| familiar(n))
                .filter(|name| {
                    let (repo, tag) = name
                        .rsplit_once(':')
                        .filter(|(_, t)| !t.contains('/'))
                        .unwrap_or((name, "latest"));
                    filters.reference(repo, tag)
                })
                .collect();
            if !filters.references.is_empty() && tags.is_empty() {
                continue;
            }
            out.push(summary(image, tags, version));
        }
        Ok(out)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &Value::Array(images)))
}

/// The image `name` (a name, an id, a unique id prefix).
fn find(list: &[Image], name: &str) -> Result<Image, ApiError> {
    rbuild_image::images::find(list, name).map(|(image, _, _)| image.clone()).map_err(store_error)
}

/// `GET /images/{name}/json`.
pub(crate) async fn inspect(state: Arc<State>, name: String) -> Result<Response<Body>, ApiError> {
    let value = blocking(move || {
        let list = state.engine.images().map_err(engine_error)?;
        let image = find(&list, &name)?;
        let blobs = rbuild_image::Blobs::new(state.engine.root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        rbuild_image::images::inspect(&blobs, &image).map_err(store_error)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &value))
}

/// `GET /images/{name}/history`: newest first, as moby.
pub(crate) async fn history(state: Arc<State>, name: String) -> Result<Response<Body>, ApiError> {
    let rows = blocking(move || {
        let list = state.engine.images().map_err(engine_error)?;
        let image = find(&list, &name)?;
        let blobs = rbuild_image::Blobs::new(state.engine.root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let internal = |e: rbuild_image::Error| ApiError::internal(e.to_string());
        let digest =
            image.record.manifest.parse().map_err(|e| ApiError::internal(format!("{e}")))?;
        let manifest = rbuild_image::read_manifest(&blobs, &digest).map_err(internal)?;
        let config =
            rbuild_image::read_config_blob(&blobs, manifest.config().digest()).map_err(internal)?;
        let mut sizes = manifest.layers().iter().map(|l| l.size());
        let mut rows: Vec<Value> = config
            .history
            .iter()
            .map(|h| {
                let size = if h.empty_layer { 0 } else { sizes.next().unwrap_or(0) };
                let created =
                    h.created.as_deref().and_then(rbuild_image::parse_rfc3339).unwrap_or(0);
                json!({
                    "Id": "<missing>",
                    "Created": created,
                    "CreatedBy": h.created_by.clone().unwrap_or_default(),
                    "Tags": Value::Null,
                    "Size": size,
                    "Comment": h.comment.clone().unwrap_or_default(),
                })
            })
            .collect();
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top["Id"] = json!(image.record.id);
            top["Tags"] = json!(image.names.iter().map(|n| familiar(n)).collect::<Vec<_>>());
        }
        Ok(rows)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &Value::Array(rows)))
}

/// `POST /images/{name}/tag?repo=&tag=`: 201, as moby.
pub(crate) async fn tag(
    state: Arc<State>,
    call: Call,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let repo = call.query.get("repo").unwrap_or("").to_owned();
    let tag = call.query.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest").to_owned();
    blocking(move || state.engine.tag(&name, &format!("{repo}:{tag}")).map_err(engine_error))
        .await?;
    let mut response = Response::new(Body::Full(None));
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `DELETE /images/{name}?force=&noprune=`.
pub(crate) async fn remove(
    state: Arc<State>,
    call: Call,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let force = call.query.bool("force");
    let no_prune = call.query.bool("noprune");
    let done = blocking(move || {
        let (done, errors) =
            state.engine.remove_images(&[name], force, no_prune).map_err(engine_error)?;
        if let Some(error) = errors.into_iter().next() {
            return Err(store_error(error));
        }
        Ok(done)
    })
    .await?;
    let lines: Vec<Value> = done
        .into_iter()
        .map(|d| match d {
            Removed::Untagged(name) => json!({ "Untagged": name }),
            Removed::Deleted(id) => json!({ "Deleted": id }),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(lines)))
}

/// `GET /images/get?names=…` and `GET /images/{name}/get`: a docker
/// archive, streamed. Every name is looked up first, so a missing one is
/// a 404 rather than a broken tar.
pub(crate) async fn save(
    state: Arc<State>,
    names: Vec<String>,
) -> Result<Response<Body>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image to save: give names="));
    }
    let checked = {
        let state = state.clone();
        let names = names.clone();
        blocking(move || {
            let list = state.engine.images().map_err(engine_error)?;
            rbuild_image::images::for_save(&list, &names).map(drop).map_err(store_error)
        })
    };
    checked.await?;
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter { tx, buf: Vec::new() };
        // A failure midway ends the body early: the client sees a short tar.
        let _ = state.engine.save(&names, rbuild_image::ArchiveFormat::Docker, None, writer);
    });
    let mut response = Response::new(Body::Stream(rx, None));
    set(&mut response, "Content-Type", "application/x-tar");
    Ok(response)
}

/// `POST /images/load`: the archive as the body; JSON lines naming what
/// was loaded.
pub(crate) async fn load(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let dir = crate::build::request_dir(&state)?;
    let path = dir.path().join("archive");
    crate::build::spool(call.request.into_body(), &path, state.config.max_context_bytes).await?;
    let lines = blocking(move || {
        let loaded = state.engine.load(&path);
        drop(dir);
        Ok(match loaded {
            Ok(images) => images
                .into_iter()
                .map(|image| json!({ "stream": format!("{image}\n") }))
                .collect::<Vec<_>>(),
            Err(e) => {
                let message =
                    format!("cannot load the archive: {}", rbuild_engine::error_message(&e));
                vec![json!({ "errorDetail": { "message": message }, "error": message })]
            }
        })
    })
    .await?;
    let mut body = String::new();
    for line in lines {
        body.push_str(&line.to_string());
        body.push_str("\r\n");
    }
    let mut response = Response::new(Body::Full(Some(Bytes::from(body))));
    set(&mut response, "Content-Type", "application/json");
    Ok(response)
}

/// `GET /system/df`.
pub(crate) async fn disk_usage(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let version = call.version;
    let value = blocking(move || {
        let list = state.engine.images().map_err(engine_error)?;
        let blobs = rbuild_image::Blobs::new(state.engine.root())
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let store = state.engine.store();
        let usage = rbuild_image::images::disk_usage(store, &blobs, &list);
        let images: Vec<Value> = list
            .iter()
            .zip(&usage.images)
            .map(|(image, one)| {
                let tags = image.names.iter().map(|n| familiar(n)).collect();
                let mut row = summary(image, tags, version);
                row["SharedSize"] = json!(one.shared);
                row["Containers"] = json!(0);
                row
            })
            .collect();
        let cache: Vec<Value> = store
            .cache_records()
            .iter()
            .map(|r| {
                json!({
                    "ID": r.key.to_string(),
                    "Type": "regular",
                    "Description": r.instruction,
                    "InUse": false,
                    "Shared": false,
                    "Size": rbuild_cache::Store::record_bytes(r),
                    "CreatedAt": rbuild_image::rfc3339(r.created),
                    "LastUsedAt": rbuild_image::rfc3339(r.created),
                    "UsageCount": 1,
                })
            })
            .collect();
        Ok(json!({
            "LayersSize": usage.images_size,
            "Images": images,
            "Containers": [],
            "Volumes": [],
            "BuildCache": cache,
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, &value))
}

/// `POST /build/prune?all=&keep-storage=`.
pub(crate) async fn prune_cache(state: Arc<State>, call: Call) -> Result<Response<Body>, ApiError> {
    let all = call.query.bool("all");
    let keep = match call.query.get("keep-storage").filter(|k| !k.is_empty() && *k != "0") {
        Some(k) => Some(
            k.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid keep-storage {k:?}")))?,
        ),
        None => None,
    };
    let stats = blocking(move || {
        let stats = if all || keep.is_none() {
            state.engine.prune(false)
        } else {
            state.engine.prune_cache(keep, None)
        };
        stats.map_err(engine_error)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "CachesDeleted": [], "SpaceReclaimed": stats.bytes }),
    ))
}
