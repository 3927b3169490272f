//! The context stream: a round trip keeps every byte and attribute, known
//! contents are not sent again, and a hostile stream cannot write outside
//! its destination.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rbuild_context::{
    ContextHashes, Digest, IgnoreFile, StatCache, StreamError, hash, list, read_stream,
    write_stream,
};

fn write(root: &Path, rel: &str, body: &[u8], mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Bytes zstd cannot shrink (xorshift), so the test sees what is sent.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sample_context() -> (tempfile::TempDir, ContextHashes) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "bin/run.sh", b"#!/bin/sh\necho run\n", 0o755);
    write(root, "data/blob.bin", &noise(200_000), 0o640);
    write(root, "a/very/long/path/".repeat(8).as_str().trim_end_matches('/'), b"deep", 0o644);
    write(root, "logs/x.log", b"ignored", 0o644);
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::set_permissions(root.join("empty"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("bin/run.sh", root.join("run")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs-link")).unwrap();
    fs::write(root.join(".dockerignore"), "logs\n").unwrap();
    let ignore = rbuild_context::load_ignore(root, None).unwrap();
    let listing = list(root, &ignore).unwrap();
    let hashes = hash(root, &listing, &mut StatCache::new()).unwrap();
    (dir, hashes)
}

/// Every entry of `hashes` exists under `dest` with the same kind, bytes,
/// link target, mode and mtime (whole seconds).
fn assert_same_tree(src: &Path, dest: &Path, hashes: &ContextHashes) {
    for entry in &hashes.entries {
        let (a, b) = (src.join(&entry.path), dest.join(&entry.path));
        let (ma, mb) = (fs::symlink_metadata(&a).unwrap(), fs::symlink_metadata(&b).unwrap());
        assert_eq!(ma.file_type(), mb.file_type(), "{}", entry.path);
        if ma.file_type().is_symlink() {
            assert_eq!(fs::read_link(&a).unwrap(), fs::read_link(&b).unwrap());
            continue;
        }
        assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "{}", entry.path);
        assert_eq!(ma.mtime(), mb.mtime(), "{}", entry.path);
        if ma.is_file() {
            assert_eq!(fs::read(&a).unwrap(), fs::read(&b).unwrap(), "{}", entry.path);
        }
    }
}

#[test]
fn a_round_trip_keeps_contents_modes_links_and_times() {
    let (src, hashes) = sample_context();
    let mut stream = Vec::new();
    let sent = write_stream(src.path(), &hashes, |_| false, &mut stream, 3).unwrap();
    assert_eq!(sent.files_skipped, 0);
    assert_eq!(sent.entries as usize, hashes.entries.len());
    let dest = tempfile::tempdir().unwrap();
    let got = read_stream(stream.as_slice(), dest.path(), |_| None).unwrap();
    assert_eq!(got, sent);
    assert_same_tree(src.path(), dest.path(), &hashes);
    assert!(!dest.path().join("logs").exists(), "ignored files are not sent");
    // Listing the unpacked copy gives the same digests.
    let again = hash(
        dest.path(),
        &list(dest.path(), &IgnoreFile::default()).unwrap(),
        &mut StatCache::new(),
    )
    .unwrap();
    let digests = |h: &ContextHashes| -> Vec<(String, Digest)> {
        h.entries
            .iter()
            .filter(|e| e.path != ".dockerignore")
            .map(|e| (e.path.clone(), e.digest))
            .collect()
    };
    assert_eq!(digests(&again), digests(&hashes));
}

#[test]
fn contents_the_receiver_holds_are_not_sent() {
    let (src, hashes) = sample_context();
    // The receiver holds every file from an earlier transfer, by digest.
    let store = tempfile::tempdir().unwrap();
    let mut held: HashMap<Digest, PathBuf> = HashMap::new();
    for entry in hashes.entries.iter().filter(|e| e.kind == rbuild_context::EntryKind::File) {
        let path = store.path().join(entry.digest.to_string());
        fs::copy(src.path().join(&entry.path), &path).unwrap();
        held.insert(entry.digest, path);
    }
    let mut full = Vec::new();
    write_stream(src.path(), &hashes, |_| false, &mut full, 3).unwrap();
    let mut thin = Vec::new();
    let sent = write_stream(src.path(), &hashes, |d| held.contains_key(d), &mut thin, 3).unwrap();
    assert_eq!(sent.files_sent, 0);
    assert_eq!(sent.bytes_sent, 0);
    assert_eq!(sent.files_skipped as usize, held.len());
    assert!(thin.len() * 4 < full.len(), "thin {} vs full {}", thin.len(), full.len());

    let dest = tempfile::tempdir().unwrap();
    let got = read_stream(thin.as_slice(), dest.path(), |d| held.get(d).cloned()).unwrap();
    assert_eq!(got.files_skipped, sent.files_skipped);
    assert_eq!(got.bytes_skipped, sent.bytes_skipped);
    assert_same_tree(src.path(), dest.path(), &hashes);

    // Without the held contents the reader says which digest is missing.
    let dest = tempfile::tempdir().unwrap();
    let err = read_stream(thin.as_slice(), dest.path(), |_| None).unwrap_err();
    assert!(matches!(err, StreamError::Missing { .. }), "{err}");
}

#[test]
fn a_held_copy_that_does_not_match_its_digest_is_refused() {
    let (src, hashes) = sample_context();
    let wrong = tempfile::NamedTempFile::new().unwrap();
    fs::write(wrong.path(), "not the contents").unwrap();
    let mut thin = Vec::new();
    write_stream(src.path(), &hashes, |_| true, &mut thin, 1).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err = read_stream(thin.as_slice(), dest.path(), |_| Some(wrong.path().to_owned()));
    assert!(matches!(err, Err(StreamError::DigestMismatch { .. })), "{err:?}");
}

#[test]
fn a_file_edited_after_hashing_is_not_sent_under_the_old_digest() {
    let (src, hashes) = sample_context();
    fs::write(src.path().join("bin/run.sh"), b"#!/bin/sh\necho RUN\n").unwrap();
    let err = write_stream(src.path(), &hashes, |_| false, Vec::new(), 1).unwrap_err();
    assert!(matches!(err, StreamError::Changed { ref path } if path == "bin/run.sh"), "{err}");
}

/// A raw tar entry ([`rbuild_test::raw_tar_entry`]), after the pax header
/// carrying its digest when there is one.
fn raw_entry(
    out: &mut Vec<u8>,
    name: &[u8],
    kind: tar::EntryType,
    link: &[u8],
    body: &[u8],
    digest: Option<Digest>,
) {
    if let Some(d) = digest {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions([("RBUILD.digest", d.to_string().as_bytes())]).unwrap();
        let bytes = builder.into_inner().unwrap();
        // Drop the two zero blocks `into_inner` appended.
        out.extend_from_slice(&bytes[..bytes.len() - 1024]);
    }
    rbuild_test::raw_tar_entry(out, name, kind, link, body);
}

fn finish(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend_from_slice(&[0u8; 1024]);
    let mut enc = zstd::Encoder::new(Vec::new(), 1).unwrap();
    enc.write_all(&tar).unwrap();
    enc.finish().unwrap()
}

#[test]
fn entries_escaping_the_destination_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let body = b"pwned";
    let digest = Some(Digest::of(body));
    let escape_link = outside.path().as_os_str().as_encoded_bytes().to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dot-dot", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"../../pwned", tar::EntryType::Regular, b"", body, digest);
            t
        }),
        ("absolute", {
            let mut t = Vec::new();
            let name = outside.path().join("pwned");
            raw_entry(
                &mut t,
                name.as_os_str().as_encoded_bytes(),
                tar::EntryType::Regular,
                b"",
                body,
                digest,
            );
            t
        }),
        ("through a symlink", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"link", tar::EntryType::Symlink, &escape_link, b"", None);
            raw_entry(&mut t, b"link/pwned", tar::EntryType::Regular, b"", body, digest);
            t
        }),
        ("device", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"dev", tar::EntryType::Char, b"", b"", None);
            t
        }),
        ("hard link", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"hl", tar::EntryType::Link, b"/etc/passwd", b"", None);
            t
        }),
    ];
    for (name, tar) in cases {
        let dest = tempfile::tempdir().unwrap();
        let err = read_stream(finish(tar).as_slice(), dest.path(), |_| None).unwrap_err();
        assert!(matches!(err, StreamError::Refused { .. }), "{name}: {err}");
        assert!(!outside.path().join("pwned").exists(), "{name} wrote outside");
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none(), "{name}");
    }
}

#[test]
fn a_tampered_file_is_refused_and_removed() {
    let mut t = Vec::new();
    raw_entry(&mut t, b"app.sh", tar::EntryType::Regular, b"", b"evil", Some(Digest::of(b"good")));
    let dest = tempfile::tempdir().unwrap();
    let err = read_stream(finish(t).as_slice(), dest.path(), |_| None).unwrap_err();
    assert!(matches!(err, StreamError::DigestMismatch { .. }), "{err}");
    assert!(!dest.path().join("app.sh").exists());
}

#[test]
fn a_held_file_with_the_same_metadata_is_linked_and_any_other_copied() {
    let (src, hashes) = sample_context();
    // The receiver's copies: one per digest, made by an earlier read.
    let first = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut full = Vec::new();
    write_stream(src.path(), &hashes, |_| false, &mut full, 3).unwrap();
    rbuild_context::read_stream_into(full.as_slice(), first.path(), |_| None, &mut files).unwrap();
    assert!(files.iter().all(|(_, _, came)| *came), "all came in the stream");
    let held: HashMap<Digest, PathBuf> = files.iter().map(|(p, d, _)| (*d, p.clone())).collect();

    let mut thin = Vec::new();
    write_stream(src.path(), &hashes, |d| held.contains_key(d), &mut thin, 3).unwrap();
    let second = tempfile::tempdir().unwrap();
    let mut again = Vec::new();
    let stats = rbuild_context::read_stream_into(
        thin.as_slice(),
        second.path(),
        |d| held.get(d).cloned(),
        &mut again,
    )
    .unwrap();
    assert_eq!(stats.files_sent, 0);
    let ino = |p: &Path| fs::metadata(p).unwrap().ino();
    for (path, digest, came) in &again {
        assert!(!came);
        assert_eq!(ino(path), ino(&held[digest]), "{} is the held file itself", path.display());
    }
    assert_same_tree(src.path(), second.path(), &hashes);

    // The same contents under another mode: a copy, and the held file keeps
    // its own mode.
    let script = first.path().join("bin/run.sh");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o700)).unwrap();
    let third = tempfile::tempdir().unwrap();
    rbuild_context::read_stream_into(
        thin.as_slice(),
        third.path(),
        |d| held.get(d).cloned(),
        &mut Vec::new(),
    )
    .unwrap();
    assert_ne!(ino(&third.path().join("bin/run.sh")), ino(&script));
    assert_eq!(fs::metadata(third.path().join("bin/run.sh")).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::metadata(&script).unwrap().mode() & 0o7777, 0o700);
}
