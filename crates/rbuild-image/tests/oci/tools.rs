//! The exports as the real tools see them: umoci unpacks the layout, runc
//! runs the bundle, skopeo inspects the layout and both archives, docker
//! loads the docker-archive (when a daemon runs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use rbuild_image::oci_spec::image::Descriptor;
use rbuild_image::{Blobs, export_docker_archive, export_oci_archive, export_oci_layout};

use crate::{one_layer_image, store, tool};

/// A one-layer image holding only a static busybox, with its path.
fn busybox_image(blobs: &Blobs, at: &Path) -> Option<Descriptor> {
    let busybox = Path::new("/bin/busybox");
    if !busybox.is_file() {
        assert!(std::env::var_os("CI").is_none(), "busybox-static is required in CI");
        return None;
    }
    let tree = at.join("rootfs");
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::copy(busybox, tree.join("bin/busybox")).unwrap();
    Some(one_layer_image(blobs, &tree, Some(0), &["/bin/busybox", "sh"]).0)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn skopeo_inspects_the_layout_and_both_archives() {
    let Some(skopeo) = tool("skopeo") else { return };
    let (dir, blobs) = store();
    let Some(manifest) = busybox_image(&blobs, dir.path()) else { return };
    let layout = dir.path().join("layout");
    export_oci_layout(&blobs, &manifest, &layout, "v1").unwrap();
    let oci_tar = dir.path().join("oci.tar");
    export_oci_archive(&blobs, &manifest, &oci_tar, "v1").unwrap();
    let docker_tar = dir.path().join("docker.tar");
    export_docker_archive(&blobs, &manifest, &["bb:v1".to_owned()], &docker_tar).unwrap();
    let refs = [
        format!("oci:{}:v1", layout.display()),
        format!("oci-archive:{}:v1", oci_tar.display()),
        format!("docker-archive:{}", docker_tar.display()),
    ];
    for image in refs {
        let out = run(Command::new(&skopeo).args(["inspect", &image]));
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["Os"], "linux", "{image}: {out}");
        assert_eq!(json["Layers"].as_array().map(Vec::len), Some(1), "{image}: {out}");
        if !image.starts_with("docker-archive") {
            assert_eq!(json["Digest"], manifest.digest().to_string(), "{image}: {out}");
        }
        let config = run(Command::new(&skopeo).args(["inspect", "--config", &image]));
        let config: serde_json::Value = serde_json::from_str(&config).unwrap();
        assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/busybox", "sh"]), "{image}");
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn umoci_unpacks_the_layout_and_runc_runs_it() {
    let Some(umoci) = tool("umoci") else { return };
    let (dir, blobs) = store();
    let Some(manifest) = busybox_image(&blobs, dir.path()) else { return };
    let layout = dir.path().join("layout");
    export_oci_layout(&blobs, &manifest, &layout, "latest").unwrap();
    let bundle = dir.path().join("bundle");
    let mut unpack = Command::new(&umoci);
    unpack.arg("unpack");
    if !is_root() {
        unpack.arg("--rootless");
    }
    run(unpack.arg("--image").arg(format!("{}:latest", layout.display())).arg(&bundle));
    let busybox = bundle.join("rootfs/bin/busybox");
    assert_eq!(fs::read(&busybox).unwrap(), fs::read("/bin/busybox").unwrap());
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    assert_eq!(config["process"]["args"], serde_json::json!(["/bin/busybox", "sh"]));

    if !is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs as root");
        return;
    }
    let Some(runc) = tool("runc") else { return };
    config["process"]["args"] = serde_json::json!(["/bin/busybox", "echo", "hi"]);
    config["process"]["terminal"] = serde_json::json!(false);
    fs::write(&config_path, serde_json::to_vec(&config).unwrap()).unwrap();
    let state: PathBuf = dir.path().join("runc-state");
    let id = format!("rbuild-image-test-{}", std::process::id());
    let out = run(Command::new(&runc)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null()));
    assert_eq!(out, "hi\n");
}

#[test]
fn docker_loads_the_docker_archive_when_a_daemon_runs() {
    // No daemon is no failure, in CI too: the issue asks for this check
    // only where a docker engine is present.
    let docker = "docker";
    let daemon = Command::new(docker).arg("info").output().is_ok_and(|o| o.status.success());
    if !daemon {
        return;
    }
    let (dir, blobs) = store();
    let Some(manifest) = busybox_image(&blobs, dir.path()) else { return };
    let archive = dir.path().join("docker.tar");
    let tag = format!("rbuild-image-test:{}", std::process::id());
    export_docker_archive(&blobs, &manifest, std::slice::from_ref(&tag), &archive).unwrap();
    let out = run(Command::new(docker).arg("load").arg("-i").arg(&archive));
    assert!(out.contains(&tag), "{out}");
    let said = run(Command::new(docker).args(["run", "--rm", &tag, "/bin/busybox", "echo", "hi"]));
    let _ = Command::new(docker).args(["rmi", &tag]).output();
    assert_eq!(said, "hi\n");
}
