//! `rbuild push`, `pull`, `login`, `logout` against real registries
//! (Debian's docker-registry), each started by its test on a free loopback
//! port and stopped when the test ends; skopeo reads back what rbuild wrote.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::http::{body_start, forward, respond, serve};
use crate::token_server::{Issued, TokenServer};
use crate::util::{BUSYBOX, have_root, rbuild, tempdir};

/// A docker-registry of the test's own.
pub(crate) struct Registry {
    child: Child,
    pub(crate) host: String,
    pub(crate) data: PathBuf,
}

impl Registry {
    /// Starts one in `dir`; with `users`, htpasswd Basic auth for them.
    pub(crate) fn start(dir: &Path, users: &[(&str, &str)]) -> Registry {
        Registry::start_with(dir, users, "")
    }

    /// Like [`start`](Registry::start), with more YAML for its config.
    fn start_with(dir: &Path, users: &[(&str, &str)], extra: &str) -> Registry {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.join(format!("registry-{port}"));
        std::fs::create_dir_all(&data).unwrap();
        let mut auth = String::new();
        if !users.is_empty() {
            let file = data.join("htpasswd");
            let mut lines = String::new();
            for (user, pass) in users {
                let out = Command::new("htpasswd").args(["-Bbn", user, pass]).output().unwrap();
                assert!(out.status.success());
                lines.push_str(String::from_utf8_lossy(&out.stdout).trim());
                lines.push('\n');
            }
            std::fs::write(&file, lines).unwrap();
            auth = format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", file.display());
        }
        let config = data.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}{extra}",
                data.join("storage").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (.ci/setup installs it)");
        // Readiness, not timing: wait until it accepts connections.
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, host: format!("127.0.0.1:{port}"), data }
    }

    /// The file the registry keeps `digest`'s bytes in.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.data.join(format!("storage/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn have_registry() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v docker-registry && command -v skopeo && command -v htpasswd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "docker-registry, skopeo and htpasswd are needed in CI"
        );
        let _ = writeln!(std::io::stderr(), "skipped: docker-registry, skopeo or htpasswd missing");
    }
    found
}

/// rbuild with a store and a docker config directory of the test's own.
fn run(store: &Path, docker_config: &Path, args: &[&str]) -> Output {
    rbuild()
        .env("RBUILD_ROOT", store)
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("DOCKER_AUTH_CONFIG")
        .env("XDG_CONFIG_HOME", docker_config.join("xdg"))
        .env("RBUILD_CONFIG", docker_config.join("none.toml"))
        .env("CONTAINERS_REGISTRIES_CONF", docker_config.join("none.conf"))
        .args(args)
        .output()
        .unwrap()
}

/// `rbuild login -u USER --password-stdin HOST`, the password piped in.
fn login(docker_config: &Path, host: &str, user: &str, password: &str) -> Output {
    let mut child = rbuild()
        .env("DOCKER_CONFIG", docker_config)
        .env("RBUILD_CONFIG", docker_config.join("none.toml"))
        .env("CONTAINERS_REGISTRIES_CONF", docker_config.join("none.conf"))
        .args(["login", "-u", user, "--password-stdin", host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Builds a two-layer image (busybox and a file) named `name` into `store`.
fn build_image(dir: &Path, store: &Path, name: &str) {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(BUSYBOX, ctx.join("busybox")).unwrap();
    std::fs::write(ctx.join("hello.txt"), "hello from the registry test\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nCOPY hello.txt /\nENV PATH=/bin\n",
    )
    .unwrap();
    let out = rbuild()
        .env("RBUILD_ROOT", store)
        .args(["build", "-t", name, "--progress=plain"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success(), "build: {}", text(&out));
}

fn skopeo_digest(reference: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{reference}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "skopeo inspect {reference}: {}", text(&out));
    rbuild_image::sha256_digest(&out.stdout).to_string()
}

fn digest_line(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line =
        stdout.lines().find_map(|l| l.split_once(": digest: ")).map(|(_, rest)| rest.to_owned());
    line.unwrap_or_else(|| panic!("no digest line in {stdout}"))
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_pushed_image_reads_back_with_skopeo_and_pulls_into_a_fresh_store_keeping_digests() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let (store, other, config) =
        (dir.path().join("s1"), dir.path().join("s2"), dir.path().join("docker"));
    let app = format!("{}/team/app:1", registry.host);
    build_image(dir.path(), &store, &app);

    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push: {}", text(&out));
    let pushed = digest_line(&out);
    assert_eq!(skopeo_digest(&app), pushed, "skopeo reads the manifest rbuild pushed");
    // A second push finds every blob there.
    let again = run(&store, &config, &["push", &app]);
    assert!(text(&again).contains("Layer already exists"), "{}", text(&again));

    // skopeo copies it (it may rewrite the manifest); rbuild pulls the copy.
    let copy = format!("{}/mirror/copy:2", registry.host);
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .arg(format!("docker://{app}"))
        .arg(format!("docker://{copy}"))
        .status()
        .unwrap();
    assert!(st.success());
    let copied = skopeo_digest(&copy);
    let out = run(&other, &config, &["pull", &copy]);
    assert!(out.status.success(), "pull: {}", text(&out));
    assert!(text(&out).contains(&format!("Digest: {copied}")), "{}", text(&out));
    // Pulled again: nothing new.
    let out = run(&other, &config, &["pull", &copy]);
    assert!(text(&out).contains("Image is up to date"), "{}", text(&out));
    // Pushed elsewhere, the pulled image keeps its digest.
    let third = format!("{}/elsewhere/img:3", registry.host);
    let retag = rbuild_cache::Store::open(&other).unwrap();
    let manifest = retag.resolve(&rbuild_llb::normalize_reference(&copy).unwrap()).unwrap();
    retag.tag(&rbuild_llb::normalize_reference(&third).unwrap(), &manifest).unwrap();
    let out = run(&other, &config, &["push", &third]);
    assert!(out.status.success(), "push: {}", text(&out));
    assert_eq!(digest_line(&out), copied);
    assert!(text(&out).contains("Mounted from another repository"), "{}", text(&out));
    assert_eq!(skopeo_digest(&third), copied);

    let missing = run(&other, &config, &["pull", &format!("{}/team/app:nope", registry.host)]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing).contains("team/app:nope: not found"), "{}", text(&missing));
}

#[test]
fn basic_auth_login_logout_and_a_credential_helper() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[("alice", "wonder-pass-1")]);
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let app = format!("{}/private/app:1", registry.host);
    build_image(dir.path(), &store, &app);

    let out = run(&store, &config, &["push", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("rbuild login {}", registry.host)), "{}", text(&out));

    let login = |password: &str| login(&config, &registry.host, "alice", password);
    let bad = login("wrong-pass");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(!config.join("config.json").exists(), "a refused login writes nothing");
    let good = login("wonder-pass-1");
    assert!(good.status.success(), "{}", text(&good));
    assert!(text(&good).contains("Login Succeeded"));
    assert!(!text(&good).contains("wonder-pass-1") && !text(&bad).contains("wrong-pass"));
    let file = config.join("config.json");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push after login: {}", text(&out));
    assert!(!text(&out).contains("wonder-pass-1"));

    // A credential helper named in config.json supplies them instead.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\n[ \"$1\" = get ] && [ \"$server\" = \"{}\" ] && \
             echo '{{\"ServerURL\":\"'$server'\",\"Username\":\"alice\",\"Secret\":\"wonder-pass-1\"}}' && exit 0\n\
             echo 'credentials not found in native keychain'; exit 1\n",
            registry.host
        ),
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let helper_config = dir.path().join("helper-config");
    std::fs::create_dir_all(&helper_config).unwrap();
    std::fs::write(
        helper_config.join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"test"}}}}"#, registry.host),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let fresh = dir.path().join("s2");
    let out = rbuild()
        .env("RBUILD_ROOT", &fresh)
        .env("DOCKER_CONFIG", &helper_config)
        .env("PATH", &path)
        .env("RBUILD_CONFIG", helper_config.join("none.toml"))
        .env("CONTAINERS_REGISTRIES_CONF", helper_config.join("none.conf"))
        .args(["pull", "-q", &app])
        .output()
        .unwrap();
    assert!(out.status.success(), "pull with the helper: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), app);

    let out = run(&store, &config, &["logout", &registry.host]);
    assert!(text(&out).contains("Removing login credentials"), "{}", text(&out));
    let out = run(&dir.path().join("s3"), &config, &["pull", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn a_corrupted_blob_is_refused_and_the_store_keeps_nothing_of_it() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let app = format!("{}/team/broken:1", registry.host);
    build_image(dir.path(), &store, &app);
    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push: {}", text(&out));
    // The largest layer is busybox: flip one byte of it in the registry.
    let manifest: serde_json::Value = serde_json::from_slice(
        &Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{app}")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();

    let fresh = dir.path().join("s2");
    let out = run(&fresh, &config, &["pull", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&layer) && text(&out).contains("digest"), "{}", text(&out));
    let blobs = fresh.join("blobs/sha256");
    let hex = layer.strip_prefix("sha256:").unwrap();
    let names: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n == hex), "the bad blob was stored");
    assert!(!names.iter().any(|n| n.starts_with(".tmp")), "a partial blob was left: {names:?}");
    assert!(rbuild_cache::Store::open(&fresh).unwrap().images().is_empty(), "the image was named");
}

#[test]
fn a_dockerfile_from_a_registry_image_builds_without_any_load() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let base = format!("{}/base/busybox:1", registry.host);
    build_image(dir.path(), &store, &base);
    let out = run(&store, &config, &["push", &base]);
    assert!(out.status.success(), "push: {}", text(&out));

    let ctx = dir.path().join("app");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {base}\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"cat /hello.txt > /seen\"]\n"
        ),
    )
    .unwrap();
    let fresh = dir.path().join("s2");
    let never =
        run(&fresh, &config, &["build", "--pull=never", "-t", "app:1", ctx.to_str().unwrap()]);
    assert!(!never.status.success());
    assert!(text(&never).contains("--pull=never"), "{}", text(&never));
    assert!(text(&never).contains("Dockerfile:1"), "the FROM line is named: {}", text(&never));

    let report = dir.path().join("report.json");
    let out = run(
        &fresh,
        &config,
        &[
            "build",
            "--progress=plain",
            "--report",
            report.to_str().unwrap(),
            "-t",
            "app:1",
            ctx.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "build: {}", text(&out));
    // The pull shows in the build's progress, a line per layer, and its
    // digest goes in the report.
    let pushed = digest_line(&run(&store, &config, &["push", &base]));
    let shown = text(&out);
    assert!(shown.contains(&format!("[internal] pull {base}  resolved to {pushed}")), "{shown}");
    let lines: Vec<&str> = shown.lines().filter(|l| l.starts_with("[internal] pull ")).collect();
    assert_eq!(lines.len(), 3, "resolved, then each of the two layers: {shown}");
    assert!(lines[0].contains("resolved to"), "{shown}");
    assert!(lines[1..].iter().all(|l| l.contains(": downloaded ")), "{shown}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(report["pulled"], serde_json::json!([{ "image": base, "digest": pushed }]));
    let images = rbuild_cache::Store::open(&fresh).unwrap().images();
    let names: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&base.as_str()), "the base was pulled and named: {names:?}");
    // --pull re-resolves the tag (the same digest: nothing to fetch) and the step hits.
    let out = run(
        &fresh,
        &config,
        &["build", "--pull", "--progress=plain", "-t", "app:1", ctx.to_str().unwrap()],
    );
    assert!(out.status.success(), "build --pull: {}", text(&out));
    assert!(text(&out).contains("CACHED"), "{}", text(&out));
    // In JSON: a resolved event, and the layers it already has.
    let out = run(
        &fresh,
        &config,
        &["build", "--pull", "--progress=json", "-t", "app:1", ctx.to_str().unwrap()],
    );
    assert!(out.status.success(), "build --pull: {}", text(&out));
    let pulls: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "pull")
        .collect();
    let statuses: Vec<&str> = pulls.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["resolved", "exists", "exists"], "{pulls:?}");
    assert_eq!(pulls[0]["digest"], serde_json::json!(pushed));

    // --push sends the result to its registry under each -t name.
    let target = format!("{}/team/built:1", registry.host);
    let out = run(&fresh, &config, &["build", "--push", "-t", &target, ctx.to_str().unwrap()]);
    assert!(out.status.success(), "build --push: {}", text(&out));
    let store = rbuild_cache::Store::open(&fresh).unwrap();
    let built = store.resolve(&target).unwrap();
    assert_eq!(skopeo_digest(&target), built);
    // So does --output type=image,push=true, to its own names.
    let (one, two) =
        (format!("{}/team/out:1", registry.host), format!("{}/team/out:2", registry.host));
    let out = run(
        &fresh,
        &config,
        &[
            "build",
            "--output",
            &format!("type=image,\"name={one},{two}\",push=true"),
            ctx.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "build --output type=image: {}", text(&out));
    // (A new build, so a new `created` and digest when a second has passed.)
    let stored = store.resolve(&one).unwrap();
    assert_eq!(store.resolve(&two).as_deref(), Some(stored.as_str()));
    assert_eq!(skopeo_digest(&one), stored);
    assert_eq!(skopeo_digest(&two), stored);
}

/// Writes `bytes` into an OCI layout's blobs and returns its descriptor JSON.
fn layout_blob(layout: &Path, media: &str, bytes: &[u8]) -> serde_json::Value {
    let digest = rbuild_image::sha256_digest(bytes).to_string();
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(digest.strip_prefix("sha256:").unwrap()), bytes).unwrap();
    serde_json::json!({ "mediaType": media, "digest": digest, "size": bytes.len() })
}

#[test]
fn a_multi_platform_index_gives_the_host_platform_or_the_one_asked_for() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let config_dir = dir.path().join("docker");
    // An OCI layout with one index of two platforms, each its own file.
    let layout = dir.path().join("layout");
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut tar = tar::Builder::new(Vec::new());
        let body = format!("built for {arch}\n");
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "arch.txt", body.as_bytes()).unwrap();
        let layer_bytes = tar.into_inner().unwrap();
        let layer = layout_blob(&layout, "application/vnd.oci.image.layer.v1.tar", &layer_bytes);
        let config = serde_json::json!({
            "architecture": arch, "os": "linux", "config": {},
            "rootfs": { "type": "layers", "diff_ids": [layer["digest"]] }
        });
        let config = layout_blob(
            &layout,
            "application/vnd.oci.image.config.v1+json",
            config.to_string().as_bytes(),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config, "layers": [layer]
        });
        let mut entry = layout_blob(
            &layout,
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        );
        let variant =
            if arch == "arm64" { serde_json::json!("v8") } else { serde_json::Value::Null };
        entry["platform"] = serde_json::json!({ "architecture": arch, "os": "linux" });
        if !variant.is_null() {
            entry["platform"]["variant"] = variant;
        }
        manifests.push(entry);
    }
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests
    });
    let mut top = layout_blob(
        &layout,
        "application/vnd.oci.image.index.v1+json",
        index.to_string().as_bytes(),
    );
    top["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": "multi" });
    std::fs::write(
        layout.join("index.json"),
        serde_json::json!({ "schemaVersion": 2, "manifests": [top] }).to_string(),
    )
    .unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let reference = format!("{}/multi/app:1", registry.host);
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(format!("docker://{reference}"))
        .status()
        .unwrap();
    assert!(st.success());

    // What the registry serves (skopeo may have rewritten what it copied).
    let served = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{reference}")])
        .output()
        .unwrap()
        .stdout;
    let index_digest = rbuild_image::sha256_digest(&served).to_string();
    let served: serde_json::Value = serde_json::from_slice(&served).unwrap();
    let manifests = served["manifests"].as_array().unwrap().clone();
    let host_arch = rbuild_llb::Platform::host().arch;
    let expected = |arch: &str| {
        manifests.iter().find(|m| m["platform"]["architecture"] == arch).unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let pulled = |store: &Path, extra: &[&str]| -> Output {
        let mut args = vec!["pull"];
        args.extend_from_slice(extra);
        args.push(&reference);
        run(store, &config_dir, &args)
    };
    let s1 = dir.path().join("s1");
    let out = pulled(&s1, &[]);
    assert!(out.status.success(), "{}", text(&out));
    // The repo digest is the index's; the store names the platform's manifest.
    assert!(text(&out).contains(&format!("Digest: {index_digest}")), "{}", text(&out));
    let name = rbuild_llb::normalize_reference(&reference).unwrap();
    if host_arch == "amd64" || host_arch == "arm64" {
        assert_eq!(
            rbuild_cache::Store::open(&s1).unwrap().resolve(&name).unwrap(),
            expected(&host_arch)
        );
    }
    let s2 = dir.path().join("s2");
    let out = pulled(&s2, &["--platform", "linux/arm64"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rbuild_cache::Store::open(&s2).unwrap().resolve(&name).unwrap(), expected("arm64"));
    let out = pulled(&dir.path().join("s3"), &["--platform", "linux/s390x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no image for platform linux/s390x")
            && text(&out).contains("linux/arm64/v8"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_pull_through_mirror_is_used_and_when_it_stops_the_primary_serves() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let primary = Registry::start(dir.path(), &[]);
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let app = format!("{}/team/mirrored:1", primary.host);
    build_image(dir.path(), &store, &app);
    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push: {}", text(&out));
    let layer = {
        let raw = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{app}")])
            .output()
            .unwrap()
            .stdout;
        let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        m["layers"][0]["digest"].as_str().unwrap().to_owned()
    };

    let mirror = Registry::start_with(
        dir.path(),
        &[],
        &format!("proxy:\n  remoteurl: http://{}\n", primary.host),
    );
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("none.toml"),
        format!("[registry.\"{}\"]\nmirrors = [\"http://{}\"]\n", primary.host, mirror.host),
    )
    .unwrap();
    let out = run(&dir.path().join("s2"), &config, &["pull", &app]);
    assert!(out.status.success(), "pull through the mirror: {}", text(&out));
    assert!(mirror.blob_file(&layer).is_file(), "the mirror served (and so cached) the layer");

    drop(mirror);
    let out = run(&dir.path().join("s3"), &config, &["pull", &app]);
    assert!(out.status.success(), "pull with the mirror down: {}", text(&out));
}

#[test]
fn token_auth_anonymous_public_pulls_and_a_login_kept_as_an_identity_token() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let tokens = TokenServer::start(dir.path(), ("alice", "token-pass-7"));
    let registry = Registry::start_with(dir.path(), &[], &tokens.registry_yaml());
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let private = format!("{}/private/app:1", registry.host);
    let public = format!("{}/public/base:1", registry.host);
    build_image(dir.path(), &store, &private);
    {
        let s = rbuild_cache::Store::open(&store).unwrap();
        let manifest = s.resolve(&rbuild_llb::normalize_reference(&private).unwrap()).unwrap();
        s.tag(&rbuild_llb::normalize_reference(&public).unwrap(), &manifest).unwrap();
    }
    let hows = |log: &[Issued]| log.iter().map(|i| i.how).collect::<Vec<_>>();

    // Anonymous: the token carries no push right, and the error says what to do.
    let out = run(&store, &config, &["push", &private]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("rbuild login {}", registry.host)), "{}", text(&out));
    let log = tokens.take_log();
    assert!(!log.is_empty() && log.iter().all(|i| i.how == "anonymous"), "{log:?}");

    assert_eq!(login(&config, &registry.host, "alice", "not-it").status.code(), Some(1));
    assert_eq!(hows(&tokens.take_log()), ["refused"]);
    let good = login(&config, &registry.host, "alice", "token-pass-7");
    assert!(good.status.success(), "{}", text(&good));
    // As docker: the login asks for a refresh token and keeps that, not the password.
    let log = tokens.take_log();
    assert_eq!(hows(&log), ["basic"]);
    assert!(log[0].offline, "{log:?}");
    let saved = std::fs::read_to_string(config.join("config.json")).unwrap();
    assert!(!saved.contains("token-pass-7"), "the password was stored: {saved}");
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let identity = saved["auths"][&registry.host]["identitytoken"].as_str().unwrap_or("");
    assert!(identity.starts_with("refresh-"), "{saved}");
    assert!(!text(&good).contains("unencrypted"), "{}", text(&good));

    // Pushes get their tokens by the OAuth2 POST, one per scope set.
    let out = run(&store, &config, &["push", &private]);
    assert!(out.status.success(), "push: {}", text(&out));
    let log = tokens.take_log();
    assert!(!log.is_empty() && log.iter().all(|i| i.how == "refresh"), "{log:?}");
    let mut sets: Vec<&Vec<String>> = log.iter().map(|i| &i.scopes).collect();
    let asked = sets.len();
    sets.sort();
    sets.dedup();
    assert_eq!(sets.len(), asked, "a token was fetched twice for one scope set: {log:?}");
    assert!(
        log.iter().any(|i| i.scopes.contains(&"repository:private/app:pull,push".to_owned())),
        "{log:?}"
    );
    // Into another repository, its blobs are mounted: that token also names the source.
    let out = run(&store, &config, &["push", &public]);
    assert!(out.status.success(), "push: {}", text(&out));
    assert!(text(&out).contains("Mounted from another repository"), "{}", text(&out));
    let pushed = digest_line(&out);
    let log = tokens.take_log();
    assert!(
        log.iter().any(|i| i.scopes.contains(&"repository:private/app:pull".to_owned())
            && i.scopes.contains(&"repository:public/base:pull,push".to_owned())),
        "{log:?}"
    );

    // Without credentials, public/ pulls and private/ does not.
    let anonymous = dir.path().join("anonymous");
    let out = run(&dir.path().join("s2"), &anonymous, &["pull", &public]);
    assert!(out.status.success(), "anonymous pull: {}", text(&out));
    let pulled = rbuild_cache::Store::open(dir.path().join("s2")).unwrap();
    assert_eq!(pulled.resolve(&rbuild_llb::normalize_reference(&public).unwrap()).unwrap(), pushed);
    let log = tokens.take_log();
    assert!(!log.is_empty() && log.iter().all(|i| i.how == "anonymous"), "{log:?}");
    let out = run(&dir.path().join("s3"), &anonymous, &["pull", &private]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(&format!("rbuild login {}", registry.host)), "{}", text(&out));
    // With the identity token, it does.
    let out = run(&dir.path().join("s3"), &config, &["pull", &private]);
    assert!(out.status.success(), "pull: {}", text(&out));
    assert!(!text(&out).contains(identity));
}

#[test]
fn a_broken_download_resumes_with_range_and_429_and_503_are_retried() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    let app = format!("{}/team/flaky:1", registry.host);
    build_image(dir.path(), &store, &app);
    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push: {}", text(&out));
    let pushed = digest_line(&out);
    let manifest: serde_json::Value = serde_json::from_slice(
        &Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw", &format!("docker://{app}")])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let big = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap()
        .clone();
    let (layer, size) = (big["digest"].as_str().unwrap().to_owned(), big["size"].as_u64().unwrap());
    let config_blob = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let cut = size / 2;

    // In front of the registry: the first manifest request gets 429 (wait
    // a second), the config blob's first GET 503, the big layer's first
    // GET is cut off halfway through its body.
    type Seen = (String, String, Option<String>, std::time::Instant);
    let seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>> = std::sync::Arc::default();
    let log = seen.clone();
    let upstream = registry.host.clone();
    let (layer_path, config_path) =
        (format!("/v2/team/flaky/blobs/{layer}"), format!("/v2/team/flaky/blobs/{config_blob}"));
    let (layer_at, config_at) = (layer_path.clone(), config_path.clone());
    let proxy = serve(move |request, stream| {
        let (layer_path, config_path) = (&layer_at, &config_at);
        let path = request.path().to_owned();
        let first = {
            let mut log = log.lock().unwrap();
            let first = !log.iter().any(|(m, p, _, _)| *m == request.method && *p == path);
            let range = request.header("range").map(str::to_owned);
            log.push((request.method.clone(), path.clone(), range, std::time::Instant::now()));
            first
        };
        if first && path.starts_with("/v2/team/flaky/manifests/") {
            respond(stream, "429 Too Many Requests", &[("Retry-After", "1")], b"slow down");
            return;
        }
        if first && path == *config_path {
            respond(stream, "503 Service Unavailable", &[], b"");
            return;
        }
        let response = forward(&upstream, request);
        let end = if first && path == *layer_path {
            body_start(&response) + cut as usize
        } else {
            response.len()
        };
        let _ = stream.write_all(&response[..end]);
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });

    let through = format!("{}/team/flaky:1", proxy.addr);
    let fresh = dir.path().join("s2");
    let out = run(&fresh, &config, &["pull", &through]);
    assert!(out.status.success(), "pull: {}", text(&out));
    let pulled = rbuild_cache::Store::open(&fresh).unwrap();
    assert_eq!(
        pulled.resolve(&rbuild_llb::normalize_reference(&through).unwrap()).unwrap(),
        pushed
    );

    let seen = seen.lock().unwrap().clone();
    let layer_gets: Vec<&Seen> =
        seen.iter().filter(|(m, p, _, _)| m == "GET" && *p == layer_path).collect();
    assert_eq!(layer_gets.len(), 2, "{seen:?}");
    assert_eq!(layer_gets[0].2, None);
    assert_eq!(
        layer_gets[1].2.as_deref(),
        Some(format!("bytes={cut}-").as_str()),
        "resumed where it broke"
    );
    let manifest_requests: Vec<&Seen> =
        seen.iter().filter(|(_, p, _, _)| p.contains("/manifests/")).collect();
    assert!(manifest_requests.len() >= 2, "{seen:?}");
    let waited = manifest_requests[1].3.duration_since(manifest_requests[0].3);
    assert!(
        waited >= std::time::Duration::from_secs(1),
        "Retry-After was not honoured: {waited:?}"
    );
    assert_eq!(seen.iter().filter(|(_, p, _, _)| *p == config_path).count(), 2, "{seen:?}");
}

/// `openssl` with `args` in `dir`, which must succeed.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "openssl {args:?}: {}", text(&out));
}

#[test]
fn tls_with_a_private_ca_and_a_client_certificate_from_certs_d() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    // A CA, a server certificate for 127.0.0.1 and a client certificate it signs.
    let pki = dir.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rbuild test CA",
        ],
    );
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        openssl(
            &pki,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        std::fs::write(pki.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            &pki,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    let registry = Registry::start_with(
        dir.path(),
        &[],
        &format!(
            "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\n    clientcas:\n      - {0}/ca.crt\n",
            pki.display()
        ),
    );
    let (store, config) = (dir.path().join("s1"), dir.path().join("docker"));
    std::fs::create_dir_all(&config).unwrap();
    // Loopback is insecure by default, as in dockerd; here it must verify.
    std::fs::write(
        config.join("none.toml"),
        format!("[registry.\"{}\"]\ninsecure = false\n", registry.host),
    )
    .unwrap();
    let app = format!("{}/team/tls:1", registry.host);
    build_image(dir.path(), &store, &app);

    let out = run(&store, &config, &["push", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let expected = format!(
        "signed by an unknown authority: put the CA that signed it in /etc/docker/certs.d/{}/ca.crt",
        registry.host
    );
    assert!(text(&out).contains(&expected), "{}", text(&out));
    assert!(
        text(&out).contains("certificate") && text(&out).contains(&registry.host),
        "{}",
        text(&out)
    );

    // The CA in certs.d (here the per-user one podman reads): the server is
    // trusted, but the registry wants a client certificate.
    let certs = config.join("xdg/containers/certs.d").join(&registry.host);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(pki.join("ca.crt"), certs.join("ca.crt")).unwrap();
    let out = run(&store, &config, &["push", &app]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refused the TLS client certificate"), "{}", text(&out));

    std::fs::copy(pki.join("client.crt"), certs.join("client.cert")).unwrap();
    std::fs::copy(pki.join("client.key"), certs.join("client.key")).unwrap();
    let out = run(&store, &config, &["push", &app]);
    assert!(out.status.success(), "push over verified TLS: {}", text(&out));
    let pushed = digest_line(&out);
    let fresh = dir.path().join("s2");
    let out = run(&fresh, &config, &["pull", &app]);
    assert!(out.status.success(), "pull over verified TLS: {}", text(&out));
    let pulled = rbuild_cache::Store::open(&fresh).unwrap();
    assert_eq!(pulled.resolve(&rbuild_llb::normalize_reference(&app).unwrap()).unwrap(), pushed);
}

#[test]
fn a_misbehaving_registry_gets_a_clear_error_and_the_store_stays_as_it_was() {
    if !have_root() || !have_registry() {
        return;
    }
    // Each repository of this fake registry misbehaves in its own way.
    let layer: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let layer_digest = rbuild_image::sha256_digest(&layer).to_string();
    let config = serde_json::json!({
        "architecture": rbuild_llb::Platform::host().arch, "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] }
    })
    .to_string();
    let config_digest = rbuild_image::sha256_digest(config.as_bytes()).to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": layer_digest, "size": layer.len() }]
    })
    .to_string();
    let oci = "application/vnd.oci.image.manifest.v1+json";
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = requests.clone();
    let realm = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let realm_in = realm.clone();
    let layer_hex = layer_digest.strip_prefix("sha256:").unwrap().to_owned();
    let fake = serve(move |request, stream| {
        let path = request.path().to_owned();
        seen.lock().unwrap().push(format!("{} {path}", request.method));
        let head = request.method == "HEAD";
        let manifest_of = |repo: &str| path == format!("/v2/bad/{repo}/manifests/1");
        if path == "/v2/" {
            respond(stream, "200 OK", &[], b"{}");
        } else if path == "/token" {
            respond(stream, "200 OK", &[], br#"{"token":"never-good-enough"}"#);
        } else if path.starts_with("/v2/bad/loop/") {
            let challenge =
                format!("Bearer realm=\"{}\",service=\"fake\"", realm_in.get().unwrap());
            respond(stream, "401 Unauthorized", &[("WWW-Authenticate", &challenge)], b"");
        } else if manifest_of("digest") {
            let wrong = format!("sha256:{}", "0".repeat(64));
            let body = if head { &b""[..] } else { manifest.as_bytes() };
            respond(
                stream,
                "200 OK",
                &[("Content-Type", oci), ("Docker-Content-Digest", &wrong)],
                body,
            );
        } else if manifest_of("huge") && !head {
            let mut big = manifest.clone().into_bytes();
            big.truncate(big.len() - 1);
            big.extend(std::iter::repeat_n(b' ', 5 << 20));
            big.push(b'}');
            respond(stream, "200 OK", &[("Content-Type", oci)], &big);
        } else if manifest_of("html") && !head {
            respond(
                stream,
                "200 OK",
                &[("Content-Type", "text/html")],
                b"<html><body>Welcome to our portal</body></html>",
            );
        } else if manifest_of("media") && !head {
            let weird = br#"{"schemaVersion":2,"mediaType":"application/x-weird"}"#;
            respond(stream, "200 OK", &[("Content-Type", "application/x-weird")], weird);
        } else if manifest_of("short") && !head {
            respond(stream, "200 OK", &[("Content-Type", oci)], manifest.as_bytes());
        } else if path == format!("/v2/bad/short/blobs/{config_digest}") {
            respond(stream, "200 OK", &[], config.as_bytes());
        } else if path == format!("/v2/bad/short/blobs/{layer_digest}") {
            // Always half the body, whatever the Range asked.
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                layer.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&layer[..500]);
            let _ = stream.shutdown(std::net::Shutdown::Both);
        } else if head {
            // No digest header: the client has to GET.
            respond(stream, "200 OK", &[("Content-Type", oci)], b"");
        } else {
            respond(stream, "404 Not Found", &[], br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#);
        }
    });
    realm.set(format!("http://{}/token", fake.addr)).unwrap();

    let dir = tempdir();
    let config_dir = dir.path().join("docker");
    let cases = [
        ("digest", "the manifest has digest"),
        ("huge", "the manifest is larger than 4194304 bytes"),
        ("html", "HTML page instead of a manifest"),
        ("media", "unsupported manifest type \"application/x-weird\""),
        ("loop", "401 Unauthorized"),
        ("short", "the connection broke at 500 of 1000 bytes"),
    ];
    for (repo, why) in cases {
        let reference = format!("{}/bad/{repo}:1", fake.addr);
        let store = dir.path().join(format!("store-{repo}"));
        requests.lock().unwrap().clear();
        let out = run(&store, &config_dir, &["pull", &reference]);
        assert_eq!(out.status.code(), Some(1), "{repo}: {}", text(&out));
        // The error line names the repository (the tag too, where it is about
        // the tag's manifest or blobs) and what was wrong.
        let error = String::from_utf8_lossy(&out.stderr).into_owned();
        let named =
            if repo == "loop" { format!("{}/bad/{repo}", fake.addr) } else { reference.clone() };
        assert!(error.contains(&named) && error.contains(why), "{repo}: {}", text(&out));
        let opened = rbuild_cache::Store::open(&store).unwrap();
        assert!(opened.images().is_empty(), "{repo}: an image was named");
        let blobs = store.join("blobs/sha256");
        let names: Vec<String> = std::fs::read_dir(&blobs)
            .map(|d| d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        assert!(
            !names.iter().any(|n| n.starts_with(".tmp")),
            "{repo}: a partial blob was left: {names:?}"
        );
        assert!(!names.contains(&layer_hex), "{repo}: the short layer was stored");
        if repo == "loop" {
            let manifests =
                requests.lock().unwrap().iter().filter(|r| r.contains("/manifests/")).count();
            assert!(manifests <= 2, "a 401 loop: {:?}", requests.lock().unwrap());
        }
    }
}

#[test]
fn a_blob_redirected_to_another_host_gets_no_credentials() {
    if !have_root() || !have_registry() {
        return;
    }
    use base64::Engine as _;
    let layer: Vec<u8> = b"layer bytes served by the storage host".to_vec();
    let layer_digest = rbuild_image::sha256_digest(&layer).to_string();
    let config = serde_json::json!({
        "architecture": rbuild_llb::Platform::host().arch, "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] }
    })
    .to_string();
    let config_digest = rbuild_image::sha256_digest(config.as_bytes()).to_string();
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": layer_digest, "size": layer.len() }]
    })
    .to_string();
    // The storage host (an S3 or CDN stand-in): records what it was sent.
    let storage_seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Option<String>>::new()));
    let record = storage_seen.clone();
    let storage = serve(move |request, stream| {
        record.lock().unwrap().push(request.header("authorization").map(str::to_owned));
        respond(stream, "200 OK", &[], &layer);
    });
    // The registry: Basic auth, blobs redirected to the storage host.
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pass"));
    let storage_url = format!("http://{}/signed/{layer_digest}?X-Sig=abc", storage.addr);
    let registry = serve(move |request, stream| {
        if request.header("authorization") != Some(expected.as_str()) {
            respond(
                stream,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Basic realm=\"fake\"")],
                b"",
            );
            return;
        }
        let path = request.path();
        if path == "/v2/" {
            respond(stream, "200 OK", &[], b"{}");
        } else if path.ends_with("/manifests/1") {
            let oci = "application/vnd.oci.image.manifest.v1+json";
            let body = if request.method == "HEAD" { &b""[..] } else { manifest.as_bytes() };
            respond(stream, "200 OK", &[("Content-Type", oci)], body);
        } else if path.ends_with(&config_digest) {
            respond(stream, "200 OK", &[], config.as_bytes());
        } else {
            respond(stream, "307 Temporary Redirect", &[("Location", &storage_url)], b"");
        }
    });
    let dir = tempdir();
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pass");
    std::fs::write(
        docker.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.addr),
    )
    .unwrap();
    let reference = format!("{}/team/redirected:1", registry.addr);
    let store = dir.path().join("s1");
    let out = run(&store, &docker, &["pull", &reference]);
    assert!(out.status.success(), "pull: {}", text(&out));
    assert!(rbuild_image::Blobs::new(&store).unwrap().has(&layer_digest.parse().unwrap()));
    let seen = storage_seen.lock().unwrap().clone();
    assert_eq!(seen, vec![None], "the storage host got: {seen:?}");
    assert!(!text(&out).contains("X-Sig"), "the signed URL was shown: {}", text(&out));
}
