//! Exports read back by our own import give the same image.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;

use rbuild_image::oci_spec::image::{ImageIndex, MediaType};
use rbuild_image::{
    DiffOptions, export_docker_archive, export_oci_archive, export_oci_layout, import, read_config,
    read_layers, sha256_digest,
};

use crate::{one_layer_image, sample_tree, store};

fn tar_members(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect()
}

#[test]
fn an_oci_layout_directory_imports_back_to_the_same_image() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (manifest, layer) = one_layer_image(&blobs, &tree, Some(0), &["/bin/tool"]);
    let out = dir.path().join("layout");
    export_oci_layout(&blobs, &manifest, &out, "v1").unwrap();
    assert_eq!(
        fs::read_to_string(out.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let layer_file = out.join("blobs/sha256").join(layer.descriptor.digest().digest());
    assert_eq!(fs::metadata(&layer_file).unwrap().nlink(), 2, "hard-linked from the store");
    let index: ImageIndex =
        serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.manifests().len(), 1);
    let entry = &index.manifests()[0];
    assert_eq!(entry.digest(), manifest.digest());
    assert_eq!(*entry.media_type(), MediaType::ImageManifest);
    assert_eq!(entry.annotations().as_ref().unwrap()["org.opencontainers.image.ref.name"], "v1");

    // A second tag joins the index; re-exporting a tag replaces it.
    let (other, _) = one_layer_image(&blobs, &tree, Some(1), &["/bin/other"]);
    export_oci_layout(&blobs, &other, &out, "v2").unwrap();
    export_oci_layout(&blobs, &other, &out, "v2").unwrap();
    let index: ImageIndex =
        serde_json::from_slice(&fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.manifests().len(), 2);

    let (_d2, fresh) = store();
    let imported = import(&fresh, &out).unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(imported[0].manifest.digest(), manifest.digest());
    assert_eq!(imported[0].ref_name.as_deref(), Some("v1"));
    assert_eq!(imported[1].manifest.digest(), other.digest());
    assert_eq!(read_layers(&fresh, manifest.digest()).unwrap(), [layer]);
}

#[test]
fn an_oci_archive_imports_back_to_the_same_image() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (manifest, _) = one_layer_image(&blobs, &tree, Some(0), &["/bin/tool"]);
    let out = dir.path().join("image.tar");
    export_oci_archive(&blobs, &manifest, &out, "latest").unwrap();
    let names: Vec<String> = tar_members(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[..4], ["oci-layout", "index.json", "blobs/", "blobs/sha256/"]);
    assert_eq!(names.len(), 4 + 3);
    let (_d2, fresh) = store();
    let imported = import(&fresh, &out).unwrap();
    assert_eq!(imported.len(), 1);
    assert_eq!(imported[0].manifest, manifest);
    assert_eq!(imported[0].name.as_deref(), Some("docker.io/library/latest:latest"));
    // The export is deterministic.
    let again = dir.path().join("again.tar");
    export_oci_archive(&blobs, &manifest, &again, "latest").unwrap();
    assert_eq!(fs::read(&out).unwrap(), fs::read(&again).unwrap());
}

#[test]
fn a_docker_archive_imports_back_with_its_tags() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (manifest, layer) = one_layer_image(&blobs, &tree, Some(0), &["/bin/tool"]);
    let out = dir.path().join("docker.tar");
    let tags = ["sample:v1".to_owned(), "registry.local/team/sample".to_owned()];
    export_docker_archive(&blobs, &manifest, &tags, &out).unwrap();
    let members = tar_members(&out);
    let docker_manifest = &members.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let docker_manifest: serde_json::Value = serde_json::from_slice(docker_manifest).unwrap();
    let config = read_config(&blobs, manifest.digest()).unwrap();
    assert_eq!(
        docker_manifest,
        serde_json::json!([{
            "Config": format!("blobs/sha256/{}", sha256_digest(&rbuild_image::canonical_json(&config).unwrap()).digest()),
            "RepoTags": ["sample:v1", "registry.local/team/sample:latest"],
            "Layers": [format!("blobs/sha256/{}", layer.descriptor.digest().digest())],
        }])
    );
    let (_d2, fresh) = store();
    let imported = import(&fresh, &out).unwrap();
    let names: Vec<_> = imported.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["docker.io/library/sample:v1", "registry.local/team/sample:latest"]);
    // gzip layers recompress to the same bytes, so the image is the same.
    assert_eq!(
        rbuild_image::read_manifest(&fresh, imported[0].manifest.digest()).unwrap(),
        rbuild_image::read_manifest(&blobs, manifest.digest()).unwrap()
    );
    assert_eq!(imported[0].manifest, manifest);
}

/// A `docker save` of Docker 20.10: `<id>/layer.tar` uncompressed, a
/// repeated layer as a symlink, `<hex>.json` configs, null RepoTags.
#[test]
fn a_legacy_docker_save_imports_with_layers_recompressed() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let mut layer_tar = Vec::new();
    rbuild_image::diff(&tree, &mut layer_tar, &DiffOptions { source_date_epoch: Some(0) }).unwrap();
    let diff_id = sha256_digest(&layer_tar);
    let config = |cmd: &str| {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": [cmd], "Env": null, "Labels": null},
            "container_config": {"Cmd": null},
            "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        }))
        .unwrap()
    };
    let (c1, c2) = (config("/bin/sh"), config("/bin/tool"));
    let (h1, h2) = (sha256_digest(&c1), sha256_digest(&c2));
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": format!("{}.json", h1.digest()), "RepoTags": ["busybox:local"], "Layers": ["aaaa/layer.tar"]},
        {"Config": format!("{}.json", h2.digest()), "RepoTags": null, "Layers": ["bbbb/layer.tar"]},
    ]))
    .unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, body: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, body).unwrap();
    };
    add("aaaa/VERSION", b"1.0");
    add("aaaa/layer.tar", &layer_tar);
    add(&format!("{}.json", h1.digest()), &c1);
    add(&format!("{}.json", h2.digest()), &c2);
    add("manifest.json", &manifest);
    let mut link = tar::Header::new_gnu();
    link.set_entry_type(tar::EntryType::Symlink);
    link.set_size(0);
    builder.append_link(&mut link, "bbbb/layer.tar", "../aaaa/layer.tar").unwrap();
    let archive = dir.path().join("legacy.tar");
    fs::write(&archive, builder.into_inner().unwrap()).unwrap();

    let imported = import(&blobs, &archive).unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(imported[0].name.as_deref(), Some("docker.io/library/busybox:local"));
    assert_eq!(imported[1].name, None);
    for image in &imported {
        let layers = read_layers(&blobs, image.manifest.digest()).unwrap();
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].diff_id, diff_id);
        assert_eq!(*layers[0].descriptor.media_type(), MediaType::ImageLayerGzip);
    }
    // The config is kept byte for byte: the image ID stays.
    let m = rbuild_image::read_manifest(&blobs, imported[0].manifest.digest()).unwrap();
    assert_eq!(*m.config().digest(), h1);
    let c = read_config(&blobs, imported[1].manifest.digest()).unwrap();
    assert_eq!(c.config.unwrap().cmd, ["/bin/tool"]);
    // The temp directory of the import is gone.
    assert_eq!(fs::read_dir(blobs.root().join("tmp")).unwrap().count(), 0);
}

/// The base images of ../shared/peers, when that setup has run here: the
/// `docker save` archive and the layout skopeo copied from the daemon hold
/// the same root filesystem, and its layer unpacks with a busybox in it.
#[test]
fn the_peers_base_images_import_when_present() {
    let base = std::path::Path::new("/var/lib/rbuild-peers/base");
    let archive = base.join("busybox-local.docker.tar");
    let layout = base.join("oci");
    if !archive.is_file() || !layout.join("index.json").is_file() {
        return;
    }
    let (dir, blobs) = store();
    let from_docker = import(&blobs, &archive).unwrap();
    assert_eq!(from_docker.len(), 1);
    assert_eq!(from_docker[0].name.as_deref(), Some("docker.io/library/busybox:local"));
    let from_layout = import(&blobs, &layout).unwrap();
    assert_eq!(from_layout.len(), 1);
    assert_eq!(from_layout[0].ref_name.as_deref(), Some("busybox"));
    assert_eq!(from_layout[0].name.as_deref(), Some("docker.io/library/busybox:latest"));
    let docker_layers = read_layers(&blobs, from_docker[0].manifest.digest()).unwrap();
    let layout_layers = read_layers(&blobs, from_layout[0].manifest.digest()).unwrap();
    let ids = |l: &[rbuild_image::Layer]| l.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&docker_layers), ids(&layout_layers));
    let config = read_config(&blobs, from_docker[0].manifest.digest()).unwrap();
    assert_eq!(config.config.unwrap().cmd, ["/bin/sh"]);
    if nix::unistd::geteuid().is_root() {
        let snapshot = dir.path().join("snapshot");
        fs::create_dir(&snapshot).unwrap();
        let blob =
            fs::File::open(blobs.path(docker_layers[0].descriptor.digest()).unwrap()).unwrap();
        rbuild_image::apply(flate2::read::GzDecoder::new(blob), &snapshot).unwrap();
        assert_eq!(
            fs::read(snapshot.join("bin/busybox")).unwrap(),
            fs::read("/bin/busybox").unwrap()
        );
        assert_eq!(fs::read_link(snapshot.join("bin/sh")).unwrap().to_str(), Some("busybox"));
    }
}

#[test]
fn zstd_layers_stay_out_of_docker_archives() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let options = DiffOptions { source_date_epoch: Some(0) };
    let (layer, _) =
        rbuild_image::layer_from_dir(&blobs, &tree, &options, rbuild_image::Compression::Zstd)
            .unwrap();
    let spec = rbuild_image::ImageSpec {
        config: rbuild_image::ImageConfig::for_host(),
        layers: vec![layer],
        ..rbuild_image::ImageSpec::default()
    };
    let manifest = rbuild_image::write_image(&blobs, &spec).unwrap();
    let out = dir.path().join("docker.tar");
    let err = export_docker_archive(&blobs, &manifest, &[], &out).unwrap_err();
    assert!(err.to_string().contains("zstd"), "{err}");
    assert!(!out.exists());
    // An OCI layout takes them, and they import back.
    let layout = dir.path().join("layout");
    export_oci_layout(&blobs, &manifest, &layout, "z").unwrap();
    let (_d2, fresh) = store();
    assert_eq!(import(&fresh, &layout).unwrap()[0].manifest, manifest);
}
