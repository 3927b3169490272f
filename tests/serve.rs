//! `rbuild serve` with real clients: Debian's docker CLI (the classic
//! builder, `DOCKER_BUILDKIT=0`), the Python docker SDK from PyPI, curl, and
//! raw connections for what no client does on purpose (hang up mid-build).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::build::Env;
use crate::registry::{Registry, have_registry};
use crate::util::{eventually, have_root, mounts_under, processes_with, rbuild};

/// The docker CLI of Debian's docker.io package.
const DOCKER: &str = "/usr/bin/docker";
/// The venv `.ci/setup` makes with the SDK from PyPI.
const PYTHON: &str = "/opt/rbuild-test-venv/bin/python3";

fn have(path: &str, what: &str) -> bool {
    let found = Path::new(path).exists();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{what} ({path}) is needed in CI");
        let _ = writeln!(std::io::stderr(), "skipped: {what} ({path}) missing");
    }
    found
}

/// Waits until `rbuild serve` (its stderr piped) says every listener is
/// open; the rest of its stderr is drained.
fn wait_listening(child: &mut Child) {
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("export DOCKER_HOST") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "rbuild serve ended before listening");
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
}

/// `rbuild serve` on a socket of the test's own, on `env`'s store.
struct Server {
    child: Option<Child>,
    socket: PathBuf,
    docker_config: PathBuf,
}

impl Server {
    fn start(env: &Env) -> Server {
        Server::start_with(env, &env.dir.path().join("server-docker-config"))
    }

    /// With `docker_config` as the server's own `DOCKER_CONFIG`.
    fn start_with(env: &Env, docker_config: &Path) -> Server {
        let socket = env.dir.path().join("rbuild.sock");
        let mut child = rbuild()
            .env("RBUILD_ROOT", &env.store)
            .env("DOCKER_CONFIG", docker_config)
            .args(["serve", "-H"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_listening(&mut child);
        let docker_config = env.dir.path().join("docker-config");
        std::fs::create_dir_all(&docker_config).unwrap();
        Server { child: Some(child), socket, docker_config }
    }

    fn docker(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new(DOCKER)
            .current_dir(dir)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CONFIG", &self.docker_config)
            .args(args)
            .output()
            .unwrap()
    }

    fn docker_ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.docker(dir, args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("curl")
            .args(["-s", "--unix-socket"])
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGTERM, and the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_docker_cli_builds_and_manages_images_through_serve() {
    if !have_root() || !have(DOCKER, "the docker CLI") || !have_registry() {
        return;
    }
    let env = Env::new();
    let mut server = Server::start(&env);
    let df = "FROM busybox:local\nARG K\nRUN echo \"hi $K\"\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\n";
    let ctx = env.context("app", &[("Dockerfile", df), ("hello.txt", "hello world\n")]);
    let iid = env.dir.path().join("iid");
    let iid_arg = iid.to_str().unwrap();
    let out = server.docker_ok(
        &ctx,
        &[
            "build",
            "-t",
            "app",
            "--build-arg",
            "K=V",
            "-f",
            "Dockerfile",
            "--iidfile",
            iid_arg,
            ".",
        ],
    );
    assert!(
        out.contains("  hi V\n") && out.contains("  hello world\n"),
        "the output streams: {out}"
    );
    assert!(out.contains("Successfully tagged app:latest"), "{out}");
    let id = std::fs::read_to_string(&iid).unwrap();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    assert!(out.contains(&format!("Successfully built {}", &id[7..19])), "{out}");
    let inspected =
        server.docker_ok(&ctx, &["image", "inspect", "app", "--format", "{{.Id}} {{.RepoTags}}"]);
    assert_eq!(inspected.trim(), format!("{id} [app:latest]"));

    // -q: the id alone; the steps hit the cache.
    let out = server.docker_ok(&ctx, &["build", "-q", "-t", "app:q", "--build-arg", "K=V", "."]);
    assert_eq!(out.trim(), id);

    // A Dockerfile outside the context: the CLI sends a tar without its
    // end; it builds all the same.
    let outside = env.context("outside", &[("Dockerfile", df)]);
    let other = env.context("other", &[("hello.txt", "hello again\n")]);
    let dockerfile = outside.join("Dockerfile");
    let out = server
        .docker_ok(&other, &["build", "-t", "other", "-f", dockerfile.to_str().unwrap(), "."]);
    assert!(out.contains("  hello again\n"), "{out}");

    // --add-host reaches the steps' /etc/hosts; a bad one is a 400.
    let hosts =
        env.context("hosts", &[("Dockerfile", "FROM busybox:local\nRUN grep db /etc/hosts\n")]);
    let out = server.docker_ok(
        &hosts,
        &["build", "--add-host", "db:10.9.8.7", "--add-host", "cache:10.9.8.6", "."],
    );
    assert!(out.contains("  10.9.8.7\tdb\n"), "{out}");
    let other = if cfg!(target_arch = "aarch64") { "linux/amd64" } else { "linux/arm64" };
    let out = server.docker(&hosts, &["build", "--platform", other, "."]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("only this machine's"), "{out:?}");
    let out = server.docker(&hosts, &["build", "--add-host", "db:host-gateway", "."]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("host-gateway is not supported"),
        "{out:?}"
    );

    // A failing RUN: its exit code is the CLI's; a parse error is a 400.
    let failing = env.context(
        "failing",
        &[("Dockerfile", "FROM busybox:local\nRUN echo about to fail; exit 3\n")],
    );
    let out = server.docker(&failing, &["build", "."]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("about to fail") && text.contains("exited with code 3"), "{text}");
    let bad = env.context("bad", &[("Dockerfile", "FROM busybox:local\nFOOBAR x\n")]);
    let out = server.docker(&bad, &["build", "."]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Error response from daemon: dockerfile parse error line 2"), "{err}");
    assert!(!err.contains(&env.store.display().to_string()), "no store path in errors: {err}");

    // images, tag, history, rmi.
    server.docker_ok(&ctx, &["tag", "app", "app:v2"]);
    let list = server.docker_ok(&ctx, &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(list.contains(&format!("app:v2 {}", &id[7..19])), "{list}");
    assert!(list.contains("busybox:local "), "{list}");
    let history =
        server.docker_ok(&ctx, &["history", "--no-trunc", "--format", "{{.CreatedBy}}", "app"]);
    assert!(history.lines().next().is_some_and(|l| l.contains("cat /hello.txt")), "{history}");
    assert_eq!(server.docker_ok(&ctx, &["rmi", "app:v2"]).trim(), "Untagged: app:v2");

    // save | load, through rbuild both ways.
    let archive = env.dir.path().join("app.tar");
    server.docker_ok(&ctx, &["save", "-o", archive.to_str().unwrap(), "app"]);
    let removed = server.docker_ok(&ctx, &["rmi", "app", "app:q"]);
    assert!(removed.contains(&format!("Deleted: {id}")), "{removed}");
    let loaded = server.docker_ok(&ctx, &["load", "-i", archive.to_str().unwrap()]);
    // `save app` is every tag of the repository, as docker's.
    assert_eq!(loaded.trim(), "Loaded image: app:latest\nLoaded image: app:q");
    let inspected = server.docker_ok(&ctx, &["image", "inspect", "app", "--format", "{{.Id}}"]);
    assert_eq!(inspected.trim(), id, "the same image came back");

    // push to a registry of the test's own; skopeo reads it back.
    let registry = Registry::start(env.dir.path(), &[]);
    let target = format!("{}/serve/app:1", registry.host);
    server.docker_ok(&ctx, &["tag", "app", &target]);
    let pushed = server.docker_ok(&ctx, &["push", &target]);
    assert!(pushed.contains("1: digest: sha256:"), "{pushed}");
    let skopeo = Command::new("skopeo")
        .args([
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.Digest}}",
            &format!("docker://{target}"),
        ])
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", String::from_utf8_lossy(&skopeo.stderr));
    let digest = String::from_utf8_lossy(&skopeo.stdout).trim().to_owned();
    assert!(pushed.contains(&digest), "{pushed} vs {digest}");

    let df = server.docker_ok(&ctx, &["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Images ")), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Build Cache ")), "{df}");

    let status = server.stop();
    assert!(status.success(), "{status}");
    assert!(!server.socket.exists(), "the socket goes at shutdown");
}

/// A tar of `files`, ended properly.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = Vec::new();
    for (name, body) in files {
        rbuild_test::raw_tar_entry(
            &mut tar,
            name.as_bytes(),
            tar::EntryType::Regular,
            b"",
            body.as_bytes(),
        );
    }
    rbuild_test::raw_tar_end(&mut tar);
    tar
}

/// Sends `POST path` with `body` on a connection of its own; returns the
/// connection with the request sent.
fn post(socket: &Path, path: &str, body: &[u8]) -> UnixStream {
    let mut conn = UnixStream::connect(socket).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    conn
}

/// Reads from `conn` until `needle` has come (or the answer ends); returns
/// all read.
fn read_until(conn: &mut UnixStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn the_api_negotiates_refuses_hostile_contexts_and_cleans_up_after_clients() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let mut server = Server::start(&env);

    // Version negotiation and moby's error shapes.
    let ping = server.curl(&["-i", "http://d/_ping"]);
    assert!(ping.starts_with("HTTP/1.1 200"), "{ping}");
    assert!(ping.to_ascii_lowercase().contains("api-version: 1.45"), "{ping}");
    assert!(ping.to_ascii_lowercase().contains("builder-version: 1"), "{ping}");
    assert!(ping.ends_with("OK"), "{ping}");
    let version: serde_json::Value =
        serde_json::from_str(&server.curl(&["http://d/v1.41/version"])).unwrap();
    assert_eq!(
        (version["ApiVersion"].as_str(), version["MinAPIVersion"].as_str()),
        (Some("1.45"), Some("1.24"))
    );
    assert_eq!(
        server.curl(&["-w", " %{http_code}", "http://d/v1.99/version"]),
        r#"{"message":"client version 1.99 is too new. Maximum supported API version is 1.45"} 400"#
    );
    assert!(server.curl(&["http://d/v1.12/info"]).contains("client version 1.12 is too old"));
    assert_eq!(
        server.curl(&["-w", " %{http_code}", "http://d/v1.41/nothing/here"]),
        r#"{"message":"page not found"} 404"#
    );
    let session = server.curl(&["-w", " %{http_code}", "-X", "POST", "http://d/session"]);
    assert!(session.contains("DOCKER_BUILDKIT=0") && session.ends_with(" 404"), "{session}");
    assert_eq!(
        server.curl(&["-w", " %{http_code}", "http://d/v1.41/images/nothing:1/json"]),
        r#"{"message":"No such image: nothing:1"} 404"#
    );
    // A tag docker would refuse is a 400, checked before the image is looked up.
    assert_eq!(
        server.curl(&[
            "-w",
            " %{http_code}",
            "-X",
            "POST",
            "http://d/v1.41/images/nothing/tag?repo=Bad"
        ]),
        r#"{"message":"invalid reference format: repository name (library/Bad) must be lowercase"} 400"#
    );
    assert_eq!(
        server.curl(&[
            "-w",
            " %{http_code}",
            "-X",
            "POST",
            "http://d/v1.41/images/nothing/tag?repo=x&tag=1"
        ]),
        r#"{"message":"No such image: nothing"} 404"#
    );

    // A context entry that climbs out is refused before anything runs,
    // and nothing lands outside (nor stays in the store's tmp/).
    let mut hostile = Vec::new();
    rbuild_test::raw_tar_entry(
        &mut hostile,
        b"Dockerfile",
        tar::EntryType::Regular,
        b"",
        b"FROM busybox:local\n",
    );
    rbuild_test::raw_tar_entry(&mut hostile, b"../../escaped", tar::EntryType::Regular, b"", b"x");
    rbuild_test::raw_tar_end(&mut hostile);
    let tar_file = env.dir.path().join("hostile.tar");
    std::fs::write(&tar_file, &hostile).unwrap();
    let answer = server.curl(&[
        "-w",
        " %{http_code}",
        "-X",
        "POST",
        "--data-binary",
        &format!("@{}", tar_file.display()),
        "http://d/v1.41/build",
    ]);
    assert!(answer.contains("refused") && answer.ends_with(" 400"), "{answer}");
    let tmp = env.store.join("tmp");
    assert!(!env.store.join("escaped").exists() && !tmp.join("escaped").exists());
    let leftovers = |dir: &Path| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers(&tmp), 0, "the request's directory went");

    // A client that hangs up mid-build: its step is killed, its mounts go,
    // and the server serves on.
    // (The instruction says `st""arted`, so only its output says `started`.)
    let df = "FROM busybox:local\nRUN echo st\"\"arted; sleep 6061\n";
    let mut conn = post(&server.socket, "/v1.41/build?t=hangup", &tar_of(&[("Dockerfile", df)]));
    let seen = read_until(&mut conn, "started");
    assert!(seen.contains("started"), "{seen}");
    eventually("the step did not start", || processes_with("sleep 6061").len() == 1);
    drop(conn);
    eventually("the hung-up build's step was not killed", || {
        processes_with("sleep 6061").is_empty()
    });
    eventually("the hung-up build left mounts", || mounts_under(&env.store).is_empty());
    eventually("the hung-up build left its context", || leftovers(&tmp) == 0);

    // Four builds at once, all through.
    let builds: Vec<_> = (0..4)
        .map(|i| {
            let socket = server.socket.clone();
            std::thread::spawn(move || {
                let df = format!("FROM busybox:local\nRUN echo {i} > /n\nRUN cat /n\n");
                let mut conn = post(
                    &socket,
                    &format!("/v1.41/build?t=four:{i}"),
                    &tar_of(&[("Dockerfile", &df)]),
                );
                read_until(&mut conn, "Successfully tagged")
            })
        })
        .collect();
    for (i, build) in builds.into_iter().enumerate() {
        let answer = build.join().unwrap();
        assert!(answer.contains(&format!("Successfully tagged four:{i}")), "{answer}");
    }

    // SIGTERM mid-build: the build is cancelled, nothing is left, exit 0.
    let df = "FROM busybox:local\nRUN echo st\"\"arted; sleep 6062\n";
    let mut conn = post(&server.socket, "/v1.41/build", &tar_of(&[("Dockerfile", df)]));
    assert!(read_until(&mut conn, "started").contains("started"));
    eventually("the step did not start", || processes_with("sleep 6062").len() == 1);
    let status = server.stop();
    assert!(status.success(), "{status}");
    let rest = read_until(&mut conn, "never said");
    assert!(rest.contains("cancelled"), "the client hears why: {rest}");
    assert!(processes_with("sleep 6062").is_empty(), "{:?}", processes_with("sleep 6062"));
    assert!(mounts_under(&env.store).is_empty(), "{:?}", mounts_under(&env.store));
    assert!(!server.socket.exists());
}

#[test]
fn the_python_sdk_builds_lists_and_saves_through_serve() {
    if !have_root() || !have(PYTHON, "the Python docker SDK's venv") {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env);
    let ctx = env.context(
        "py",
        &[("Dockerfile", "FROM busybox:local\nARG FOO\nRUN echo \"foo=$FOO\" > /foo\n")],
    );
    let bad = env.context("pybad", &[("Dockerfile", "FROM busybox:local\nRUN exit 4\n")]);
    let saved = env.dir.path().join("py.tar");
    let script = format!(
        r#"
import docker, sys
c = docker.DockerClient(base_url="unix://{socket}")
image, logs = c.images.build(path="{ctx}", tag="py:1", buildargs={{"FOO": "py"}}, labels={{"k": "v"}})
assert "py:1" in image.tags, image.tags
assert image.labels.get("k") == "v", image.labels
quiet, _ = c.images.build(path="{ctx}", tag="py:1", buildargs={{"FOO": "py"}}, labels={{"k": "v"}}, quiet=True)
assert quiet.id == image.id, (quiet.id, image.id)
tags = [t for i in c.images.list() for t in i.tags]
assert "py:1" in tags and "busybox:local" in tags, tags
assert [i.id for i in c.images.list(name="py")] == [image.id]
with open("{saved}", "wb") as f:
    for chunk in c.images.get("py:1").save(named=True):
        f.write(chunk)
try:
    c.images.build(path="{bad}")
    sys.exit("a failing build did not raise")
except docker.errors.BuildError as e:
    print("BuildError:", e.msg)
print("id:", image.id)
"#,
        socket = server.socket.display(),
        ctx = ctx.display(),
        bad = bad.display(),
        saved = saved.display(),
    );
    let out = Command::new(PYTHON).arg("-c").arg(&script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("BuildError:") && text.contains("exited with code 4"), "{text}");
    // What the SDK saved loads into another store as the same image.
    let other = env.dir.path().join("other-store");
    let load =
        rbuild().env("RBUILD_ROOT", &other).args(["load", "-i"]).arg(&saved).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&load.stdout), "Loaded image: py:1\n");
    let id = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().to_owned();
    let inspect = rbuild()
        .env("RBUILD_ROOT", &other)
        .args(["image", "inspect", "py:1", "--format", "{{.Id}}"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&inspect.stdout).trim(), id);
}

#[test]
fn rbuild_build_h_sends_only_what_the_server_lacks() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let mut server = Server::start(&env);
    let df = "FROM busybox:local\nCOPY . /ctx\nRUN cat /ctx/a.txt && ls /ctx | wc -l\n";
    let files: Vec<(String, String)> =
        (0..20).map(|i| (format!("f{i:02}.txt"), format!("file {i}\n").repeat(100))).collect();
    let mut all: Vec<(&str, &str)> = files.iter().map(|(n, b)| (n.as_str(), b.as_str())).collect();
    all.extend([("Dockerfile", df), ("a.txt", "one\n")]);
    let ctx = env.context("remote", &all);
    let host = format!("unix://{}", server.socket.display());
    let report = env.dir.path().join("remote-report.json");
    let build = || {
        let out = rbuild()
            .args(["build", "-H", &host, "--progress=plain", "-t", "remote:1", "--report"])
            .arg(&report)
            .arg(&ctx)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        (err, report)
    };
    let (err, first) = build();
    assert!(err.contains("  one\n  22\n"), "the step's output shows here: {err}");
    assert_eq!(first["context"]["files_sent"], 22, "{first}");
    std::fs::write(ctx.join("a.txt"), "two\n").unwrap();
    let (err, second) = build();
    assert!(err.contains("  two\n"), "{err}");
    assert_eq!(second["context"]["files_sent"], 1, "only the changed file: {second}");
    assert_eq!(second["context"]["files_skipped"], 21, "{second}");
    assert_eq!(second["context"]["bytes_sent"], 4);
    let steps = second["steps"].as_array().unwrap();
    assert_eq!(
        steps.iter().filter(|s| s["cached"] == false).count(),
        2,
        "COPY and RUN ran: {second}"
    );
    // The image is the server's.
    let images =
        rbuild().env("RBUILD_ROOT", &env.store).args(["images", "remote"]).output().unwrap();
    assert!(String::from_utf8_lossy(&images.stdout).contains("remote "), "{images:?}");

    // A failing build fails here with the server's words; a secret is
    // refused before anything is sent.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local\nRUN exit 5\n").unwrap();
    let out = rbuild().args(["build", "-H", &host, "--progress=plain"]).arg(&ctx).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exited with code 5"), "{out:?}");
    let out = rbuild()
        .args(["build", "-H", &host, "--cache-to", "type=local,dest=/tmp/rbuild-escape"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("type=local is a directory of the server")
    );
    assert!(!Path::new("/tmp/rbuild-escape").exists(), "the server wrote nothing there");
    // A secret travels in the request, reaches its RUN, and is nowhere in
    // the server's store after.
    let secret = env.dir.path().join("token");
    std::fs::write(&secret, "remote-s3cret-value").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c\n",
    )
    .unwrap();
    let out = rbuild()
        .args(["build", "-H", &host, "--progress=plain", "--secret"])
        .arg(format!("id=tok,src={}", secret.display()))
        .arg(&ctx)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("  19\n"), "the step read the 19 bytes: {err}");
    assert!(!err.contains("remote-s3cret-value"));
    let found = crate::build::files_containing(&env.store, b"remote-s3cret-value");
    assert!(found.is_empty(), "{found:?}");
    // Beyond loopback, no secret or login would cross unencrypted: refused
    // before anything is sent (192.0.2.1 is a documentation address).
    let out = rbuild()
        .args(["build", "-H", "tcp://192.0.2.1:2375", "--secret"])
        .arg(format!("id=tok,src={}", secret.display()))
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks plain HTTP"), "{out:?}");
    assert!(server.stop().success());
}

#[test]
fn a_build_pulls_with_its_clients_login_never_the_servers() {
    if !have_root() || !have(DOCKER, "the docker CLI") || !have_registry() {
        return;
    }
    let env = Env::new();
    let registry = Registry::start(env.dir.path(), &[("builder", "s3cret")]);
    let private = format!("{}/private/busybox:1", registry.host);
    // The server's machine is logged in, and puts a base image there.
    let server_config = env.dir.path().join("server-login");
    let login = rbuild()
        .env("DOCKER_CONFIG", &server_config)
        .args(["login", "-u", "builder", "--password-stdin", &registry.host])
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(b"s3cret")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    let rb = |args: &[&str]| {
        let out = rbuild()
            .env("RBUILD_ROOT", &env.store)
            .env("DOCKER_CONFIG", &server_config)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    rb(&["tag", "busybox:local", &private]);
    rb(&["push", &private]);
    rb(&["rmi", &private]);
    let server = Server::start_with(&env, &server_config);
    let df = format!("FROM {private}\nRUN echo pulled\n");
    let ctx = env.context("private", &[("Dockerfile", df.as_str())]);

    // A client without a login: the server's is not lent to it.
    let out = server.docker(&ctx, &["build", "--pull", "."]);
    assert_ne!(out.status.code(), Some(0));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.to_lowercase().contains("unauthorized") || text.contains("401"), "{text}");

    // With its own login (the CLI sends it as X-Registry-Config), it pulls.
    let auth =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"builder:s3cret");
    std::fs::write(
        server.docker_config.join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, registry.host),
    )
    .unwrap();
    let out = server.docker_ok(&ctx, &["build", "--pull", "-t", "from-private", "."]);
    assert!(out.contains("  pulled\n"), "{out}");
    // No password in the server's store or its logs of the build.
    let found = crate::build::files_containing(&env.store, b"s3cret");
    assert!(found.is_empty(), "{found:?}");

    // rbuild build -H: the same, with this machine's login lent for the
    // build's registries; --push goes from the server with it.
    let host = format!("unix://{}", server.socket.display());
    let remote = |config: &Path, args: &[&str]| {
        let out = rbuild()
            .env("DOCKER_CONFIG", config)
            .args(["build", "-H", &host, "--progress=plain", "--pull=always"])
            .args(args)
            .arg(&ctx)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("s3cret"), "{text}");
        (out.status.code(), text)
    };
    let no_login = env.dir.path().join("no-login");
    std::fs::create_dir_all(&no_login).unwrap();
    let (code, text) = remote(&no_login, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.to_lowercase().contains("unauthorized") || text.contains("401"), "{text}");
    let target = format!("{}/private/app:1", registry.host);
    let (code, text) = remote(&server.docker_config, &["--push", "-t", &target]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("[internal] pull {private}  resolved to sha256:")), "{text}");
    let prefix = format!("[internal] push {target}  digest: ");
    let pushed = text.lines().find_map(|l| l.strip_prefix(prefix.as_str())).expect(&text);
    let digest = pushed.split(' ').next().unwrap();
    assert!(
        text.contains(&format!("[internal] push {target}  ")) && text.contains(": pushed "),
        "{text}"
    );
    let skopeo = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--creds", "builder:s3cret"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert!(skopeo.status.success(), "{}", String::from_utf8_lossy(&skopeo.stderr));
    let inspected: serde_json::Value = serde_json::from_slice(&skopeo.stdout).unwrap();
    assert_eq!(inspected["Digest"], digest, "the registry has what the server pushed");
    // A push to a registry this machine has no login for fails the build.
    let elsewhere = format!("{}/private/app:1", registry.host.replace("127.0.0.1", "localhost"));
    let (code, text) = remote(&server.docker_config, &["--push", "-t", &elsewhere]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("cannot push {elsewhere}")), "{text}");
    let (code, text) = remote(&server.docker_config, &["--push"]);
    assert_eq!((code, text.contains("--push needs a -t NAME")), (Some(2), true), "{text}");
    let found = crate::build::files_containing(&env.store, b"s3cret");
    assert!(found.is_empty(), "{found:?}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate it
/// signed, and a client certificate of another CA, made with openssl in
/// `dir`.
fn make_certs(dir: &Path) {
    let sh = |script: &str| {
        let out = Command::new("sh").arg("-c").arg(script).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ca = |name: &str| {
        format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN={name} \
             -keyout {name}-key.pem -out {name}.pem"
        )
    };
    sh(&ca("ca"));
    sh(&ca("rogue-ca"));
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let signed = |name: &str, by: &str, ext: &str| {
        format!(
            "openssl req -newkey rsa:2048 -nodes -subj /CN={name} -keyout {name}-key.pem -out {name}.csr && \
             openssl x509 -req -in {name}.csr -CA {by}.pem -CAkey {by}-key.pem -CAcreateserial -days 2 \
             -extfile {ext} -out {name}.pem"
        )
    };
    sh(&signed("server", "ca", "server.ext"));
    sh(&signed("client", "ca", "client.ext"));
    sh(&signed("rogue", "rogue-ca", "client.ext"));
}

#[test]
fn tcp_beyond_loopback_needs_tls_and_tls_needs_a_client_certificate() {
    if !have_root() || !have(DOCKER, "the docker CLI") {
        return;
    }
    let env = Env::new();
    let out = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["serve", "-H", "tcp://0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TCP beyond loopback"), "{out:?}");

    let certs = env.dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_certs(&certs);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pem = |name: &str| certs.join(format!("{name}.pem")).display().to_string();
    let key = |name: &str| certs.join(format!("{name}-key.pem")).display().to_string();
    let mut child = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["serve", "-H", &format!("tcp://127.0.0.1:{port}"), "--tlsverify"])
        .args(["--tlscacert", &pem("ca"), "--tlscert", &pem("server"), "--tlskey", &key("server")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&mut child);
    let docker = |dir: &Path, args: &[&str]| {
        Command::new(DOCKER)
            .current_dir(dir)
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CONFIG", env.dir.path().join("tls-docker-config"))
            .args(["--tlsverify", "--tlscacert", &pem("ca"), "--tlscert", &pem("client")])
            .args(["--tlskey", &key("client"), "-H", &format!("tcp://127.0.0.1:{port}")])
            .args(args)
            .output()
            .unwrap()
    };
    let version = docker(env.dir.path(), &["version", "--format", "{{.Server.Platform.Name}}"]);
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), "rbuild", "{version:?}");
    let ctx = env.context("tls", &[("Dockerfile", "FROM busybox:local\nRUN echo over-tls\n")]);
    let built = docker(&ctx, &["build", "-t", "tls:1", "."]);
    assert!(
        built.status.success() && String::from_utf8_lossy(&built.stdout).contains("  over-tls\n"),
        "{built:?}"
    );

    // Without a certificate, or with one of another CA: no answer at all.
    let curl = |extra: &[&str]| {
        Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", &pem("ca")])
            .args(extra)
            .arg(format!("https://127.0.0.1:{port}/_ping"))
            .output()
            .unwrap()
    };
    let good = curl(&["--cert", &pem("client"), "--key", &key("client")]);
    assert_eq!(String::from_utf8_lossy(&good.stdout), "200");
    let (rogue, rogue_key) = (pem("rogue"), key("rogue"));
    for extra in [vec![], vec!["--cert", rogue.as_str(), "--key", rogue_key.as_str()]] {
        let bad = curl(&extra);
        assert!(!bad.status.success(), "{extra:?}: {bad:?}");
        assert_eq!(String::from_utf8_lossy(&bad.stdout), "000", "{extra:?}");
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn rbuild_build_h_brings_each_output_back_whole_and_leaves_nothing_when_it_fails() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let mut server = Server::start(&env);
    let df = "FROM busybox:local\nCOPY a.txt /ctx/a.txt\nRUN mkdir -p /made && echo made > /made/f && ln -s f /made/link\n";
    let ctx = env.context("outputs", &[("Dockerfile", df), ("a.txt", "one\n")]);
    let host = format!("unix://{}", server.socket.display());
    let out_dir = env.dir.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let at = |name: &str| out_dir.join(name);
    let output = |kind: &str, name: &str| format!("type={kind},dest={}", at(name).display());
    let outputs = [
        output("local", "fs"),
        output("tar", "fs.tar"),
        output("docker", "docker.tar"),
        output("oci", "oci.tar"),
        output("oci", "layout"),
    ];
    let mut args = vec!["build", "-H", &host, "--progress=plain", "-t", "outputs:1"];
    for o in &outputs {
        args.extend(["--output", o.as_str()]);
    }
    let out = rbuild().args(&args).arg(&ctx).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let manifest = err
        .lines()
        .find_map(|l| l.strip_prefix("built outputs:1 ("))
        .and_then(|l| l.split(')').next())
        .expect(&err)
        .to_owned();

    // The same outputs of the same image, made by a local build on the
    // server's store (every step a hit), are what came back.
    let local = env.dir.path().join("local-fs");
    let built = env.build(
        &ctx,
        &["-t", "outputs:1", "--output", &format!("type=local,dest={}", local.display())],
    );
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let diff = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(&local)
        .arg(at("fs"))
        .output()
        .unwrap();
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stdout));
    assert_eq!(std::fs::read_link(at("fs/made/link")).unwrap(), Path::new("f"));
    assert_eq!(std::fs::read_to_string(at("fs/ctx/a.txt")).unwrap(), "one\n");
    let listed = Command::new("tar").arg("-tf").arg(at("fs.tar")).output().unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).lines().any(|l| l == "made/f"), "{listed:?}");
    for source in [
        format!("docker-archive:{}", at("docker.tar").display()),
        format!("oci-archive:{}", at("oci.tar").display()),
        format!("oci:{}", at("layout").display()),
    ] {
        let inspected = Command::new("skopeo").args(["inspect", &source]).output().unwrap();
        assert!(
            inspected.status.success(),
            "{source}: {}",
            String::from_utf8_lossy(&inspected.stderr)
        );
        let value: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
        if !source.starts_with("docker-archive:") {
            assert_eq!(value["Digest"], manifest.as_str(), "{source}");
        }
    }
    let leftovers = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".rbuild-output-"))
            .collect()
    };
    assert!(leftovers(&out_dir).is_empty(), "{:?}", leftovers(&out_dir));
    // -q: the image id alone, here as locally; the metadata file names it.
    let meta = env.dir.path().join("meta.json");
    let out = rbuild()
        .args(["build", "-H", &host, "-q", "-t", "outputs:1", "--metadata-file"])
        .arg(&meta)
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(value["containerimage.digest"], manifest.as_str());
    assert_eq!(value["containerimage.config.digest"], String::from_utf8_lossy(&out.stdout).trim());
    assert!(value["containerimage.descriptor"]["size"].as_u64().is_some_and(|s| s > 0), "{value}");
    let inspected = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["image", "inspect", "--format", "{{.Id}}", "outputs:1"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, inspected.stdout);

    // A failed build writes no output, and leaves no temp file.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local\nRUN exit 3\n").unwrap();
    let failed = out_dir.join("failed.tar");
    let out = rbuild()
        .args(["build", "-H", &host, "--progress=plain", "--output"])
        .arg(format!("type=docker,dest={}", failed.display()))
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!failed.exists());
    assert!(leftovers(&out_dir).is_empty(), "{:?}", leftovers(&out_dir));
    assert!(server.stop().success());
}

#[test]
fn rbuild_build_h_brings_back_the_logs_and_the_failure_bundle_named_as_given() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let mut server = Server::start(&env);
    let df = "FROM busybox:local\nRUN echo first\nRUN echo partial > /partial.txt; printf 'a\\nb\\n'; exit 4\n";
    let ctx = env.context("remote-failure", &[("Dockerfile", df)]);
    let host = format!("unix://{}", server.socket.display());
    let logs = env.dir.path().join("logs");
    let bundle = env.dir.path().join("failure.tar");
    let out = rbuild()
        .args(["build", "-H", &host, "--progress=plain", "--log-dir"])
        .arg(&logs)
        .arg("--failure-bundle")
        .arg(&bundle)
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("full log: {}/", logs.display())), "{err}");
    assert!(err.contains(&format!("the failure bundle is {}", bundle.display())), "{err}");
    assert!(!err.contains(&env.store.display().to_string()), "a path of the server's: {err}");
    let mut names: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    let failed_log = names.iter().find(|n| n.contains("line3")).expect("the failed step's log");
    assert_eq!(std::fs::read_to_string(logs.join(failed_log)).unwrap(), "a\nb\n");
    assert!(err.contains(&format!("full log: {}", logs.join(failed_log).display())), "{err}");
    // The bundle reopens in a store of this machine's own.
    let here = env.dir.path().join("client-store");
    let opened = rbuild()
        .env("RBUILD_ROOT", &here)
        .args(["debug"])
        .arg(&bundle)
        .args(["--", "cat", "/partial.txt"])
        .output()
        .unwrap();
    assert!(opened.status.success(), "{}", String::from_utf8_lossy(&opened.stderr));
    assert_eq!(String::from_utf8_lossy(&opened.stdout), "partial\n");
    let beside: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".rbuild-output-"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
    // --on-failure stays the server's: refused, pointing at the bundle.
    let out =
        rbuild().args(["build", "-H", &host, "--on-failure=keep"]).arg(&ctx).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--failure-bundle FILE"), "{out:?}");
    assert!(server.stop().success());
}
