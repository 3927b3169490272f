//! The blob store: content addressing, verification, concurrent writers.

use std::fs;
use std::io::Read as _;

use rbuild_image::oci_spec::image::Digest;
use rbuild_image::{Error, sha256_digest};

use crate::store;

#[test]
fn blobs_are_named_by_their_sha256() {
    let (_dir, blobs) = store();
    let blob = blobs.put_bytes(b"hello").unwrap();
    assert_eq!(
        blob.digest.to_string(),
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    assert_eq!(blob.size, 5);
    let path = blobs.path(&blob.digest).unwrap();
    assert_eq!(path, blobs.root().join("blobs/sha256").join(blob.digest.digest()));
    assert!(blobs.has(&blob.digest));
    let mut back = String::new();
    blobs.open(&blob.digest).unwrap().read_to_string(&mut back).unwrap();
    assert_eq!(back, "hello");
    let streamed = blobs.put_reader(&b"hello"[..]).unwrap();
    assert_eq!(streamed, blob);
    // No temp file is left behind.
    let names: Vec<_> = fs::read_dir(blobs.root().join("blobs/sha256")).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn a_verified_put_stores_nothing_on_a_mismatch() {
    let (_dir, blobs) = store();
    let claimed = sha256_digest(b"the real content");
    let err = blobs
        .put_reader_verified(&b"forged content"[..], &claimed, "archive:blob".as_ref())
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("archive:blob"), "{err}");
    assert!(!blobs.has(&claimed));
    assert_eq!(fs::read_dir(blobs.root().join("blobs/sha256")).unwrap().count(), 0);
    blobs.put_reader_verified(&b"the real content"[..], &claimed, "x".as_ref()).unwrap();
    assert!(blobs.has(&claimed));
}

#[test]
fn a_blob_altered_on_disk_is_noticed_on_read() {
    let (_dir, blobs) = store();
    let blob = blobs.put_bytes(b"{\"a\":1}").unwrap();
    fs::write(blobs.path(&blob.digest).unwrap(), b"{\"a\":2}").unwrap();
    assert!(matches!(blobs.read(&blob.digest), Err(Error::DigestMismatch { .. })));
}

#[test]
fn only_sha256_digests_have_a_place() {
    let (_dir, blobs) = store();
    let other: Digest = format!("sha512:{}", "a".repeat(128)).parse().unwrap();
    assert!(blobs.path(&other).is_err());
    assert!(!blobs.has(&other));
    let missing = sha256_digest(b"never stored");
    assert!(matches!(blobs.open(&missing), Err(Error::MissingBlob { .. })));
}

#[test]
fn concurrent_writers_of_one_blob_all_succeed() {
    let (_dir, blobs) = store();
    let content = vec![7u8; 1 << 20];
    let digests: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| blobs.put_reader(content.as_slice()).unwrap().digest))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(fs::read(blobs.path(&digests[0]).unwrap()).unwrap(), content);
    assert_eq!(fs::read_dir(blobs.root().join("blobs/sha256")).unwrap().count(), 1);
}
