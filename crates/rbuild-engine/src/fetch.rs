//! `ADD <http(s) URL>`: the file is fetched into the store once and
//! revalidated on later builds with the server's ETag and Last-Modified, so
//! an unchanged URL costs one small request; `--checksum` pins the content
//! and then no request is made at all when it is already here.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{SourceError, fail};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

/// A fetched file, ready to be copied.
#[derive(Clone, Debug)]
pub(crate) struct Download {
    /// The content in the store (mode 0600, mtime from Last-Modified).
    pub(crate) path: PathBuf,
    /// `sha256:<hex>` of the content: what the step's key holds.
    pub(crate) digest: String,
    /// The name the file gets when the destination is a directory.
    pub(crate) filename: String,
    /// The server's Last-Modified, which becomes the file's mtime and so
    /// is part of the step's key too (as in BuildKit).
    pub(crate) last_modified: Option<String>,
}

/// What the store remembers of a URL to revalidate it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// The URL with any credentials masked; the file name is a hash of the
    /// whole URL.
    url: String,
    digest: String,
    filename: String,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Checks a `--checksum` value: only SHA-256 is supported, as in BuildKit.
pub(crate) fn parse_checksum(text: &str) -> Result<String, SourceError> {
    let hex = text.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        fail!("--checksum={text}: expected sha256:<64 hex digits>");
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

fn record_path(dir: &Path, url: &str) -> PathBuf {
    let name = blake3::hash(url.as_bytes()).to_hex();
    dir.join(format!("url-{}.json", &name[..32]))
}

/// Where a fetched file lives: by digest and mtime, so each variant is
/// written once and never changed after (two URLs may serve the same
/// bytes with different Last-Modified dates).
fn data_path(dir: &Path, r: &Record) -> PathBuf {
    dir.join(format!("{}-{}", r.digest.replace(':', "-"), mtime_secs(r)))
}

fn mtime_secs(r: &Record) -> u64 {
    r.last_modified
        .as_deref()
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// Fetches `url` into `dir` (the store's downloads), or revalidates the
/// copy already there; `tmp` is on the same file system, for atomic renames.
pub(crate) fn fetch(
    dir: &Path,
    tmp: &Path,
    url: &str,
    checksum: Option<&str>,
) -> Result<Download, SourceError> {
    let shown = rbuild_llb::redact_credentials(url).into_owned();
    let record_file = record_path(dir, url);
    let known: Option<Record> =
        std::fs::read(&record_file).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let known = known.filter(|r| r.url == shown && data_path(dir, r).is_file());
    if let (Some(r), Some(sum)) = (&known, checksum)
        && r.digest == sum
    {
        return Ok(done(dir, r));
    }

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        // A server that stops sending must not hang the build forever.
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_call(Some(Duration::from_secs(3600)))
        .user_agent(concat!("rbuild/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.get(url);
    if let Some(r) = &known {
        if let Some(etag) = &r.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(date) = &r.last_modified {
            request = request.header("If-Modified-Since", date);
        }
    }
    let response = request.call().map_err(|e| {
        SourceError(format!("GET {shown}: {}", rbuild_llb::redact_credentials(&e.to_string())))
    })?;
    let status = response.status();
    if status.as_u16() == 304
        && let Some(r) = known
    {
        return verified(&r, checksum).map(|()| done(dir, &r));
    }
    if !status.is_success() {
        fail!("GET {shown}: {status}");
    }
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let etag = header("etag");
    let last_modified = header("last-modified");
    let filename = filename(url, header("content-disposition").as_deref());

    // Stream to a temp file while hashing, then move into place by digest.
    std::fs::create_dir_all(tmp)?;
    let mut file =
        tempfile::Builder::new().prefix(&rbuild_cache::temp_prefix("fetch")).tempfile_in(tmp)?;
    let mut hasher = sha2::Sha256::new();
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| SourceError(format!("GET {shown}: reading the body: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
    }
    let digest = format!("sha256:{}", hex(&hasher.finalize()));
    let record = Record { url: shown, digest, filename, etag, last_modified };
    verified(&record, checksum)?;
    file.as_file().sync_all()?;
    std::fs::set_permissions(file.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let mtime = filetime::FileTime::from_unix_time(mtime_secs(&record) as i64, 0);
    filetime::set_file_mtime(file.path(), mtime)?;
    file.persist(data_path(dir, &record)).map_err(|e| e.error)?;
    rbuild_cache::write_atomic(&record_file, &serde_json::to_vec_pretty(&record)?)?;
    Ok(done(dir, &record))
}

fn verified(record: &Record, checksum: Option<&str>) -> Result<(), SourceError> {
    match checksum {
        Some(sum) if sum != record.digest => fail!(
            "{}: checksum mismatch: expected {sum}, the content is {}",
            record.url,
            record.digest
        ),
        _ => Ok(()),
    }
}

fn done(dir: &Path, r: &Record) -> Download {
    Download {
        path: data_path(dir, r),
        digest: r.digest.clone(),
        filename: r.filename.clone(),
        last_modified: r.last_modified.clone(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// BuildKit's choice of name: Content-Disposition's filename, else the
/// URL path's last segment, else `download`.
fn filename(url: &str, disposition: Option<&str>) -> String {
    if let Some(d) = disposition {
        for param in d.split(';').skip(1) {
            if let Some((k, v)) = param.trim().split_once('=')
                && k.trim().eq_ignore_ascii_case("filename")
            {
                let v = v.trim().trim_matches('"');
                let base = v.rsplit('/').next().unwrap_or(v);
                if !v.ends_with('/') && !base.is_empty() && base != "." && base != ".." {
                    return base.to_owned();
                }
            }
        }
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or(rest);
    match path.split_once('/') {
        Some((_, p)) => match p.trim_end_matches('/').rsplit('/').next() {
            Some(base) if !base.is_empty() && base != "." && base != ".." => base.to_owned(),
            _ => "download".to_owned(),
        },
        None => "download".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_buildkit() {
        assert_eq!(filename("http://h/a/b.tar.gz?x=1", None), "b.tar.gz");
        assert_eq!(filename("http://h/", None), "download");
        assert_eq!(filename("http://h", None), "download");
        assert_eq!(filename("http://h/a/", None), "a");
        assert_eq!(filename("http://h/x", Some("attachment; filename=\"y.txt\"")), "y.txt");
        assert_eq!(filename("http://h/x", Some("attachment; filename=\"../../etc\"")), "etc");
        assert_eq!(filename("http://h/x", Some("attachment; filename=\"..\"")), "x");
    }

    #[test]
    fn checksums_are_sha256() {
        let hex = "a".repeat(64);
        assert_eq!(parse_checksum(&format!("sha256:{hex}")).unwrap(), format!("sha256:{hex}"));
        assert!(parse_checksum("sha512:abc").is_err());
        assert!(parse_checksum("sha256:xyz").is_err());
    }
}
