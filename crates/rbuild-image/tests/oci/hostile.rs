//! Archives and layers that try to reach outside are refused on import,
//! and nothing lands outside the store.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use rbuild_image::{Blobs, Error, export_oci_layout, import, read_manifest, sha256_digest};

use crate::{one_layer_image, raw_end, raw_entry, sample_tree, store};

fn docker_archive_with_layer(at: &Path, layer: &[u8]) -> std::path::PathBuf {
    let diff_id = sha256_digest(layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": ["evil:latest"], "Layers": ["l/layer.tar"]},
    ]))
    .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    for (name, body) in
        [("l/layer.tar", layer), ("config.json", &config), ("manifest.json", &manifest)]
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, body).unwrap();
    }
    let path = at.join("evil.tar");
    fs::write(&path, builder.into_inner().unwrap()).unwrap();
    path
}

fn assert_refused(result: rbuild_image::Result<Vec<rbuild_image::ImportedImage>>, needle: &str) {
    match result {
        Err(Error::Invalid { path, why }) => {
            assert!(why.contains(needle), "{}: {why}", path.display());
        }
        other => panic!("expected a refusal naming {needle:?}, got {other:?}"),
    }
}

#[test]
fn a_docker_layer_with_dot_dot_is_refused() {
    let (dir, blobs) = store();
    for name in [&b"../escape"[..], b"a/../../escape", b"/escape"] {
        let mut layer = Vec::new();
        raw_entry(&mut layer, b"ok", tar::EntryType::Regular, b"", b"fine");
        raw_entry(&mut layer, name, tar::EntryType::Regular, b"", b"pwned");
        raw_end(&mut layer);
        let archive = docker_archive_with_layer(dir.path(), &layer);
        assert_refused(import(&blobs, &archive), "is outside the layer");
    }
    let mut layer = Vec::new();
    raw_entry(&mut layer, b"hl", tar::EntryType::Link, b"../../etc/passwd", b"");
    raw_end(&mut layer);
    let archive = docker_archive_with_layer(dir.path(), &layer);
    assert_refused(import(&blobs, &archive), "hard link outside the layer");
    assert!(!dir.path().join("escape").exists());
    assert!(!blobs.root().join("escape").exists());
}

#[test]
fn an_archive_entry_with_dot_dot_is_refused_before_anything_is_written() {
    let (dir, blobs) = store();
    let mut archive = Vec::new();
    raw_entry(&mut archive, b"../../escape", tar::EntryType::Regular, b"", b"pwned");
    raw_end(&mut archive);
    let path = dir.path().join("bad.tar");
    fs::write(&path, &archive).unwrap();
    assert_refused(import(&blobs, &path), "not a plain relative path");
    assert!(!dir.path().join("escape").exists());
    assert!(!blobs.root().join("escape").exists());

    let mut archive = Vec::new();
    raw_entry(&mut archive, b"l/layer.tar", tar::EntryType::Symlink, b"../../../etc/passwd", b"");
    raw_end(&mut archive);
    fs::write(&path, &archive).unwrap();
    assert_refused(import(&blobs, &path), "points outside the archive");
}

/// A layout whose only layer is `layer` (gzip), with a matching diff_id.
fn layout_with_layer(at: &Path, layer: &[u8]) -> std::path::PathBuf {
    let dir = at.join("evil-layout");
    let blobs = Blobs::new(&dir).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(layer).unwrap();
    let gz = gz.finish().unwrap();
    let blob = blobs.put_bytes(&gz).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(layer).to_string()]},
    }))
    .unwrap();
    let config = blobs.put_bytes(&config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest.to_string(), "size": config.size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": blob.digest.to_string(), "size": blob.size}],
    }))
    .unwrap();
    let manifest = blobs.put_bytes(&manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.digest.to_string(), "size": manifest.size,
                       "annotations": {"org.opencontainers.image.ref.name": "evil"}}],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    dir
}

#[test]
fn an_oci_layer_with_dot_dot_is_refused() {
    let (dir, blobs) = store();
    let mut layer = Vec::new();
    raw_entry(&mut layer, b"../../escape", tar::EntryType::Regular, b"", b"pwned");
    raw_end(&mut layer);
    let layout = layout_with_layer(dir.path(), &layer);
    assert_refused(import(&blobs, &layout), "is outside the layer");

    // The same layout with a harmless layer imports: the refusal was the entry.
    let mut layer = Vec::new();
    raw_entry(&mut layer, b"./", tar::EntryType::Directory, b"", b"");
    raw_entry(&mut layer, b"./fine", tar::EntryType::Regular, b"", b"ok");
    raw_end(&mut layer);
    fs::remove_dir_all(&layout).unwrap();
    let layout = layout_with_layer(dir.path(), &layer);
    let imported = import(&blobs, &layout).unwrap();
    assert_eq!(imported[0].name.as_deref(), Some("docker.io/library/evil:latest"));
}

#[test]
fn a_tampered_blob_in_a_layout_is_refused() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (manifest, layer) = one_layer_image(&blobs, &tree, Some(0), &["x"]);
    let out = dir.path().join("layout");
    export_oci_layout(&blobs, &manifest, &out, "t").unwrap();
    let config = read_manifest(&blobs, manifest.digest()).unwrap().config().digest().clone();
    let (_d2, fresh) = store();
    // Replace (not rewrite in place: it is hard-linked to the store) the config.
    let config_path = out.join("blobs/sha256").join(config.digest());
    fs::remove_file(&config_path).unwrap();
    fs::write(&config_path, b"{}").unwrap();
    assert!(matches!(import(&fresh, &out), Err(Error::DigestMismatch { .. })));
    // A layer whose bytes do not match its digest.
    export_oci_layout(&blobs, &manifest, &out, "t").unwrap();
    let layer_path = out.join("blobs/sha256").join(layer.descriptor.digest().digest());
    fs::remove_file(&layer_path).unwrap();
    fs::copy(blobs.path(&config).unwrap(), &config_path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&[0u8; 1024]).unwrap();
    fs::write(&layer_path, gz.finish().unwrap()).unwrap();
    let err = import(&fresh, &out).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!fresh.has(layer.descriptor.digest()));
}

#[test]
fn a_pax_global_header_in_a_layer_makes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut layer = Vec::new();
    raw_entry(
        &mut layer,
        b"gdir/pax_global_header",
        tar::EntryType::XGlobalHeader,
        b"",
        b"18 comment=global\n",
    );
    raw_entry(&mut layer, b"p/file", tar::EntryType::Regular, b"", b"pax\n");
    raw_end(&mut layer);
    rbuild_image::apply_flat(layer.as_slice(), dir.path()).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("p/file")).unwrap(), "pax\n");
    assert!(!dir.path().join("gdir").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_descriptor_whose_size_lies_is_refused() {
    let (dir, blobs) = store();
    let mut layer = Vec::new();
    raw_entry(&mut layer, b"fine", tar::EntryType::Regular, b"", b"ok");
    raw_end(&mut layer);
    let layout = layout_with_layer(dir.path(), &layer);
    // The manifest claims 12345 bytes for its layer.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let layout_blobs = Blobs::new(&layout).unwrap();
    let digest: rbuild_image::oci_spec::image::Digest =
        index["manifests"][0]["digest"].as_str().unwrap().parse().unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&layout_blobs.read(&digest).unwrap()).unwrap();
    manifest["layers"][0]["size"] = 12345.into();
    let forged = layout_blobs.put_bytes(&serde_json::to_vec(&manifest).unwrap()).unwrap();
    let mut index = index;
    index["manifests"][0]["digest"] = forged.digest.to_string().into();
    index["manifests"][0]["size"] = forged.size.into();
    fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    assert_refused(import(&blobs, &layout), "its descriptor says 12345");
}

#[test]
fn a_refused_extended_attribute_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append_pax_extensions([("SCHILY.xattr.bogus.attribute", &b"x"[..])]).unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_size(2);
    header.set_mode(0o644);
    builder.append_data(&mut header, "file", &b"ok"[..]).unwrap();
    let layer = builder.into_inner().unwrap();
    let err = rbuild_image::apply_flat(layer.as_slice(), dir.path()).unwrap_err().to_string();
    assert!(err.contains("bogus.attribute"), "{err}");
}
