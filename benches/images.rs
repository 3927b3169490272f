//! The image store at scale: `images` over 1,000 images (what `rbuild
//! images` does after start-up: read every record and name), and a GC
//! pass that finds nothing to delete among them and 10,000 cache blobs.

use rbuild_cache::Store;
use rbuild_image::Blobs;

fn main() {
    divan::main();
}

/// A store of `n` images sharing one layer, each named `app:N`.
fn store_with(n: usize) -> (tempfile::TempDir, Store, Blobs) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let blobs = Blobs::new(dir.path()).unwrap();
    let layer = blobs.put_bytes(b"a shared layer").unwrap();
    for i in 0..n {
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
            "config": { "Labels": { "n": i.to_string() } },
            "rootfs": { "type": "layers", "diff_ids": [layer.digest.to_string()] }
        });
        let config = blobs.put_bytes(config.to_string().as_bytes()).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": config.digest.to_string(), "size": config.size },
            "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                         "digest": layer.digest.to_string(), "size": layer.size }]
        });
        let manifest = blobs.put_bytes(manifest.to_string().as_bytes()).unwrap();
        let digest = manifest.digest.to_string();
        rbuild_image::images::record(&store, &blobs, &digest, None, &[], &[]).unwrap();
        store.tag(&format!("docker.io/library/app:{i}"), &digest).unwrap();
    }
    (dir, store, blobs)
}

#[divan::bench(sample_count = 20)]
fn list_1000_images(bencher: divan::Bencher<'_, '_>) {
    let (_dir, store, blobs) = store_with(1000);
    bencher.bench(|| divan::black_box(rbuild_image::images::list(&store, &blobs).unwrap().len()));
}

#[divan::bench(sample_count = 10)]
fn gc_1000_images_and_10000_cache_layers(bencher: divan::Bencher<'_, '_>) {
    let (_dir, store, blobs) = store_with(1000);
    for i in 0..10_000u32 {
        let layer = blobs.put_bytes(format!("cache layer {i}").as_bytes()).unwrap();
        let record = rbuild_cache::CacheRecord {
            key: rbuild_llb::KeyBuilder::new().finish().0,
            components: Vec::new(),
            snapshot: None,
            layer: Some(rbuild_cache::LayerRef {
                digest: layer.digest.to_string(),
                diff_id: layer.digest.to_string(),
                size: layer.size,
                media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            }),
            instruction: format!("RUN step {i}"),
            seconds: 0.0,
            bytes: 0,
            created: 0,
        };
        let path = store.root().join("cache").join(format!("{i}.json"));
        std::fs::write(path, serde_json::to_vec(&record).unwrap()).unwrap();
    }
    bencher.bench(|| {
        let stats = rbuild_image::images::gc(&store, &blobs).unwrap().unwrap();
        assert_eq!(stats.blobs, 0);
    });
}
