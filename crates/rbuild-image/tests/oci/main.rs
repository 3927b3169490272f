//! Blobs, layers, images, exports and imports, checked against each other
//! and against the real tools (umoci, skopeo, runc, docker) where they run.

mod export_import;
mod flatten;
mod hostile;
mod image;
mod layers;
mod store;
mod tools;

use std::fs;
use std::path::{Path, PathBuf};

use rbuild_image::oci_spec::image::Descriptor;
use rbuild_image::{
    Blobs, Compression, DiffOptions, History, ImageConfig, ImageSpec, Layer, layer_from_dir,
    write_image,
};

/// A fresh store in its own temp dir (kept alive by the returned guard).
pub(crate) fn store() -> (tempfile::TempDir, Blobs) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = Blobs::new(dir.path().join("store")).unwrap();
    (dir, blobs)
}

/// A small tree: a dir, a file, an executable, a symlink.
pub(crate) fn sample_tree(at: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let root = at.join("tree");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/greeting"), "hello\n").unwrap();
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::write(root.join("bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("tool", root.join("bin/alias")).unwrap();
    root
}

/// A one-layer image of `tree` with a CMD, written into `blobs`.
pub(crate) fn one_layer_image(
    blobs: &Blobs,
    tree: &Path,
    epoch: Option<u64>,
    cmd: &[&str],
) -> (Descriptor, Layer) {
    let options = DiffOptions { source_date_epoch: epoch };
    let (layer, _) = layer_from_dir(blobs, tree, &options, Compression::Gzip).unwrap();
    let mut config = ImageConfig::for_host();
    config.created = Some(rbuild_image::timestamp(epoch));
    let container = config.config.get_or_insert_default();
    container.cmd = cmd.iter().map(|s| (*s).to_owned()).collect();
    container.env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()];
    config.history = vec![
        History {
            created: Some(rbuild_image::timestamp(epoch)),
            created_by: Some("COPY tree / # buildkit".into()),
            ..History::default()
        },
        History {
            created: Some(rbuild_image::timestamp(epoch)),
            created_by: Some(format!("CMD {cmd:?}")),
            empty_layer: true,
            ..History::default()
        },
    ];
    let spec = ImageSpec {
        config,
        layers: vec![layer.clone()],
        source_date_epoch: epoch,
        ..ImageSpec::default()
    };
    (write_image(blobs, &spec).unwrap(), layer)
}

/// A tool's path, or `None` (the test then skips) when it is missing and
/// this is not CI; in CI (`CI` set) a missing tool fails the test.
#[allow(clippy::print_stderr)]
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required in CI (.ci/setup installs it)"
        );
        eprintln!("skipped: {name} is not installed (.ci/setup installs it)");
    }
    found
}

pub(crate) use rbuild_test::{raw_tar_end as raw_end, raw_tar_entry as raw_entry};
