//! `--cache-to` / `--cache-from`: stores of their own play CI runners that
//! share nothing but a registry (Debian's docker-registry on a loopback
//! port) or a directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::registry::{Registry, have_registry};
use crate::util::{BUSYBOX, have_root, rbuild, tempdir};

/// The bench corpus's multi-stage case (`parallel-stages`), its sleeps cut
/// to one second: four stages, each a COPY and a RUN, and a final stage
/// that copies from each.
const MULTI_STAGE: &str = "\
FROM busybox:local AS stage-a
COPY a.txt /in/a.txt
RUN sleep 1 && sha256sum /in/a.txt > /out.txt && echo a >> /out.txt

FROM busybox:local AS stage-b
COPY b.txt /in/b.txt
RUN sleep 1 && sha256sum /in/b.txt > /out.txt && echo b >> /out.txt

FROM busybox:local AS stage-c
COPY c.txt /in/c.txt
RUN sleep 1 && sha256sum /in/c.txt > /out.txt && echo c >> /out.txt

FROM busybox:local AS stage-d
COPY d.txt /in/d.txt
RUN sleep 1 && sha256sum /in/d.txt > /out.txt && echo d >> /out.txt

FROM busybox:local
COPY --from=stage-a /out.txt /res/a.txt
COPY --from=stage-b /out.txt /res/b.txt
COPY --from=stage-c /out.txt /res/c.txt
COPY --from=stage-d /out.txt /res/d.txt
RUN cat /res/*.txt > /res/all.txt && wc -l /res/all.txt
CMD [\"cat\", \"/res/all.txt\"]
";

/// A CI runner: a store of its own, with the same `busybox:local`.
struct Runner {
    store: PathBuf,
    docker: PathBuf,
}

impl Runner {
    fn new(dir: &Path, name: &str, base: &Path) -> Runner {
        let runner = Runner { store: dir.join(name), docker: dir.join(format!("{name}-docker")) };
        let out = runner.run(&["load", "-i", base.to_str().unwrap()]);
        assert!(out.status.success(), "load: {}", text(&out));
        runner
    }

    fn command(&self) -> Command {
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &self.store)
            .env("DOCKER_CONFIG", &self.docker)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("RBUILD_CONFIG", self.docker.join("none.toml"))
            .env("CONTAINERS_REGISTRIES_CONF", self.docker.join("none.conf"))
            .env("XDG_CONFIG_HOME", self.docker.join("xdg"));
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// Builds `ctx` as `app:1` with `args`; the report's steps.
    fn build(&self, ctx: &Path, args: &[&str]) -> (Output, Vec<Step>) {
        let report = self.store.with_extension("report.json");
        let _ = std::fs::remove_file(&report);
        let mut all = vec!["build", "--progress=plain", "-t", "app:1"];
        all.extend_from_slice(&["--report", report.to_str().unwrap()]);
        all.extend_from_slice(args);
        all.push(ctx.to_str().unwrap());
        let out = self.run(&all);
        let steps = match std::fs::read(&report) {
            Ok(bytes) => {
                let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                value["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| Step {
                        instruction: s["instruction"].as_str().unwrap().to_owned(),
                        cached: s["cached"].as_bool().unwrap(),
                        reason: s["reason"].as_str().unwrap_or("").to_owned(),
                    })
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        (out, steps)
    }

    fn image(&self) -> String {
        rbuild_cache::Store::open(&self.store).unwrap().resolve("docker.io/library/app:1").unwrap()
    }

    fn has_blob(&self, digest: &str) -> bool {
        self.store.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap()).exists()
    }
}

#[derive(Debug)]
struct Step {
    instruction: String,
    cached: bool,
    reason: String,
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `busybox:local` built once, saved for every runner to load.
fn base_archive(dir: &Path) -> PathBuf {
    let ctx = dir.join("base-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(BUSYBOX, ctx.join("busybox")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n",
    )
    .unwrap();
    let store = dir.join("base-store");
    let out = rbuild()
        .env("RBUILD_ROOT", &store)
        .args(["build", "-t", "busybox:local"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success(), "base: {}", text(&out));
    let archive = dir.join("base.tar");
    let out = rbuild()
        .env("RBUILD_ROOT", &store)
        .args(["save", "-o", archive.to_str().unwrap(), "busybox:local"])
        .output()
        .unwrap();
    assert!(out.status.success(), "save: {}", text(&out));
    archive
}

/// The multi-stage context, as the bench corpus's gen.sh writes it.
fn multi_stage_context(dir: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), MULTI_STAGE).unwrap();
    for s in ["a", "b", "c", "d"] {
        let body: String = (1..=100).map(|l| format!("stage {s} input line {l}\n")).collect();
        std::fs::write(ctx.join(format!("{s}.txt")), body).unwrap();
    }
    ctx
}

fn cached(steps: &[Step], starts: &str) -> bool {
    let step = steps
        .iter()
        .find(|s| s.instruction.starts_with(starts))
        .unwrap_or_else(|| panic!("no step {starts} in {steps:?}"));
    step.cached
}

/// The layer a runner's cache record for `instruction` made.
fn layer_of(runner: &Runner, instruction: &str) -> String {
    let store = rbuild_cache::Store::open(&runner.store).unwrap();
    let record = store
        .cache_records()
        .into_iter()
        .find(|r| r.instruction == instruction)
        .unwrap_or_else(|| panic!("no record of {instruction}"));
    record.layer.unwrap().digest
}

#[test]
fn a_second_runner_hits_every_step_through_a_registry_and_makes_the_same_image() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let base = base_archive(dir.path());
    let ctx = multi_stage_context(dir.path());
    let max = format!("type=registry,ref={}/cache/app:main,mode=max", registry.host);
    let from = format!("type=registry,ref={}/cache/app:main", registry.host);

    let a = Runner::new(dir.path(), "a", &base);
    let (out, steps) = a.build(&ctx, &["--cache-to", &max]);
    assert!(out.status.success(), "A: {}", text(&out));
    assert!(steps.iter().all(|s| !s.cached), "A starts cold: {steps:?}");
    let said = format!(
        "[internal] export cache type=registry,ref={}/cache/app:main  13 new, 0 already there",
        registry.host
    );
    assert!(text(&out).contains(&said), "{}", text(&out));
    // Again, nothing new: every record is there already.
    let (out, _) = a.build(&ctx, &["--cache-to", &max]);
    let said = format!(
        "[internal] export cache type=registry,ref={}/cache/app:main  0 new, 13 already there",
        registry.host
    );
    assert!(out.status.success() && text(&out).contains(&said), "{}", text(&out));

    // B: an empty store; every step hits, the image is A's byte for byte.
    let b = Runner::new(dir.path(), "b", &base);
    let (out, steps) = b.build(&ctx, &["--cache-from", &from]);
    assert!(out.status.success(), "B: {}", text(&out));
    assert_eq!(steps.len(), 13, "{steps:?}");
    assert!(steps.iter().all(|s| s.cached), "B hits every step: {steps:?}");
    assert_eq!(b.image(), a.image(), "the same image digest");
    // Lazy: a stage whose result only feeds hits is never downloaded, and
    // the image's own layers are.
    let stage_a_run = "RUN sleep 1 && sha256sum /in/a.txt > /out.txt && echo a >> /out.txt";
    assert!(!b.has_blob(&layer_of(&a, stage_a_run)), "stage-a's RUN layer stayed in the registry");
    assert!(b.has_blob(&layer_of(&a, "RUN cat /res/*.txt > /res/all.txt && wc -l /res/all.txt")));
    // The hits whose layers B fetched are now records of its own: without
    // the registry, the final stage still hits (the stages it only copied
    // from were never fetched, so they run).
    let (out, steps) = b.build(&ctx, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(steps[8..].iter().all(|s| s.cached), "{steps:?}");
    assert!(!cached(&steps, "RUN sleep 1 && sha256sum /in/a.txt"), "{steps:?}");

    // C: a fresh runner on a changed c.txt runs only what follows it, and
    // says why from A's exported history.
    std::fs::write(ctx.join("c.txt"), "edited on runner C\n").unwrap();
    let c = Runner::new(dir.path(), "c", &base);
    let (out, steps) = c.build(&ctx, &["--cache-from", &from]);
    assert!(out.status.success(), "C: {}", text(&out));
    let ran: Vec<&str> =
        steps.iter().filter(|s| !s.cached).map(|s| s.instruction.as_str()).collect();
    assert_eq!(
        ran,
        [
            "COPY c.txt /in/c.txt",
            "RUN sleep 1 && sha256sum /in/c.txt > /out.txt && echo c >> /out.txt",
            "COPY --from=stage-c /out.txt /res/c.txt",
            "COPY --from=stage-d /out.txt /res/d.txt",
            "RUN cat /res/*.txt > /res/all.txt && wc -l /res/all.txt",
        ],
        "{steps:?}"
    );
    let copy_c = steps.iter().find(|s| s.instruction == "COPY c.txt /in/c.txt").unwrap();
    assert_eq!(copy_c.reason, "c.txt changed", "{steps:?}");
    std::fs::write(ctx.join("c.txt"), "").unwrap();
    let ctx = multi_stage_context(dir.path());

    // mode=min exports only the final image's stage: on D, the final stage
    // hits but the intermediate stages run. (Records live in the ref's
    // repository, whatever its tag: a repository of its own here.)
    let min = format!("type=registry,ref={}/cache/app-min:main", registry.host);
    let (out, _) = a.build(&ctx, &["--cache-to", &min]);
    assert!(out.status.success(), "A min: {}", text(&out));
    let d = Runner::new(dir.path(), "d", &base);
    let (out, steps) = d.build(
        &ctx,
        &["--cache-from", &format!("type=registry,ref={}/cache/app-min:main", registry.host)],
    );
    assert!(out.status.success(), "D: {}", text(&out));
    assert!(!cached(&steps, "RUN sleep 1 && sha256sum /in/a.txt"), "min: {steps:?}");
    assert!(!cached(&steps, "COPY a.txt"), "min: {steps:?}");
    assert!(cached(&steps, "COPY --from=stage-a"), "min: {steps:?}");
    assert!(cached(&steps, "RUN cat /res/*.txt"), "min: {steps:?}");
    assert_eq!(d.image(), a.image());
}

#[test]
fn a_directory_cache_works_the_same_and_two_runners_exporting_at_once_leave_it_whole() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let base = base_archive(dir.path());
    let ctx = multi_stage_context(dir.path());

    // type=local: an OCI layout directory.
    let cache = dir.path().join("cache-dir");
    let a = Runner::new(dir.path(), "a", &base);
    let to = format!("type=local,dest={},mode=max", cache.display());
    let (out, _) = a.build(&ctx, &["--cache-to", &to]);
    assert!(out.status.success(), "A: {}", text(&out));
    assert!(cache.join("index.json").is_file() && cache.join("oci-layout").is_file());
    let b = Runner::new(dir.path(), "b", &base);
    let (out, steps) =
        b.build(&ctx, &["--cache-from", &format!("type=local,src={}", cache.display())]);
    assert!(out.status.success(), "B: {}", text(&out));
    assert!(steps.iter().all(|s| s.cached), "{steps:?}");
    assert_eq!(b.image(), a.image());
    // A directory that is not a cache is a warning, not a failure.
    let (out, steps) = b.build(&ctx, &["--cache-from", "type=local,src=/nonexistent/cache"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("--cache-from type=local,/nonexistent/cache"), "{}", text(&out));
    assert!(steps[8..].iter().all(|s| s.cached), "B's own records: {steps:?}");

    // Two cold runners export to one ref at the same time; both succeed
    // and a third reads a whole cache.
    let shared = format!("type=registry,ref={}/cache/race:main,mode=max", registry.host);
    let (e, f) = (Runner::new(dir.path(), "e", &base), Runner::new(dir.path(), "f", &base));
    let spawn = |r: &Runner| {
        r.command()
            .args(["build", "--progress=plain", "-t", "app:1", "--cache-to", &shared])
            .arg(&ctx)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn(&e), spawn(&f));
    let (one, two) = (one.wait_with_output().unwrap(), two.wait_with_output().unwrap());
    assert!(one.status.success(), "E: {}", text(&one));
    assert!(two.status.success(), "F: {}", text(&two));
    let g = Runner::new(dir.path(), "g", &base);
    let from = format!("type=registry,ref={}/cache/race:main", registry.host);
    let (out, steps) = g.build(&ctx, &["--cache-from", &from]);
    assert!(out.status.success(), "G: {}", text(&out));
    assert!(steps.iter().all(|s| s.cached), "{steps:?}");
    assert!(g.image() == e.image() || g.image() == f.image());
}

/// Every path and file under `dir`, gzip members unpacked, as one byte
/// string.
fn everything_in(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        all.extend(entry.path().as_os_str().as_encoded_bytes());
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut plain = Vec::new();
            let _ = std::io::Read::read_to_end(
                &mut flate2::read::MultiGzDecoder::new(bytes.as_slice()),
                &mut plain,
            );
            all.extend(plain);
        }
        all.extend(bytes);
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_dead_registry_fails_the_export_unless_ignored_and_no_secret_or_arg_value_is_shared() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let base = base_archive(dir.path());
    let ctx = dir.path().join("secret-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nARG TOKEN\nARG LEVEL=3\n\
         RUN test -n \"$TOKEN\" && echo \"level $LEVEL\" > /level\n\
         RUN --mount=type=secret,id=tok test \"$(cat /run/secrets/tok)\" = hunter2-s3cret-value\n\
         COPY app.txt /app.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.join("app.txt"), "app\n").unwrap();
    let secret = dir.path().join("tok");
    std::fs::write(&secret, "hunter2-s3cret-value").unwrap();
    let secret_flag = format!("id=tok,src={}", secret.display());
    let args = |to: &str| -> Vec<String> {
        ["--build-arg", "TOKEN=plain-arg-value-9137", "--secret", &secret_flag, "--cache-to", to]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    };
    let a = Runner::new(dir.path(), "a", &base);
    let registry = Registry::start(dir.path(), &[]);
    let to = format!("type=registry,ref={}/cache/secret:main,mode=max", registry.host);
    let args_a = args(&to);
    let (out, _) = a.build(&ctx, &args_a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "A: {}", text(&out));
    let stored = everything_in(&registry.data);
    assert!(contains(&stored, "rbc1-"), "the records are there");
    assert!(contains(&stored, "app.txt"), "file names are, to explain misses");
    for value in ["plain-arg-value-9137", "hunter2-s3cret-value", "level $LEVEL"] {
        assert!(!contains(&stored, value), "{value} is in the registry's storage");
    }
    // B misses on the ARG and says which, without its value.
    let b = Runner::new(dir.path(), "b", &base);
    let from = format!("type=registry,ref={}/cache/secret:main", registry.host);
    let (out, steps) = b.build(
        &ctx,
        &["--build-arg", "TOKEN=another-value", "--secret", &secret_flag, "--cache-from", &from],
    );
    assert!(out.status.success(), "B: {}", text(&out));
    let run = steps.iter().find(|s| s.instruction.starts_with("RUN test -n")).unwrap();
    assert!(!run.cached && run.reason == "TOKEN changed", "{steps:?}");
    assert!(!text(&out).contains("plain-arg-value-9137"), "{}", text(&out));

    // The registry gone: a clear error, or with ignore-error a warning.
    let host = registry.host.clone();
    drop(registry);
    std::fs::write(ctx.join("app.txt"), "changed\n").unwrap();
    let dead = format!("type=registry,ref={host}/cache/secret:main");
    let (out, _) = a.build(&ctx, &args(&dead).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains(&format!("cannot export the cache to {dead}")), "{shown}");
    assert!(shown.contains("ignore-error=true"), "{shown}");
    let ignored = format!("{dead},ignore-error=true");
    let (out, _) = a.build(&ctx, &args(&ignored).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the cache was not exported"), "{}", text(&out));
}

/// The files under a runner's cache mount `dir` (path → content).
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            (rel, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The directory of the one cache mount of a runner's store.
fn cache_mount_dir(runner: &Runner) -> PathBuf {
    let ids: Vec<PathBuf> = std::fs::read_dir(runner.store.join("cache-mounts"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].join("0")
}

#[test]
fn cache_mounts_travel_only_when_asked_and_come_back_before_the_first_run_that_mounts_them() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let registry = Registry::start(dir.path(), &[]);
    let base = base_archive(dir.path());
    let ctx = dir.path().join("pkg-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    // A fake package manager: the first run fills its cache, every run
    // notes itself there and copies what it found into the image.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nARG ROUND\n\
         RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs --mount=type=tmpfs,target=/scratch \
         sh -c '[ -f /var/cache/pkgs/index ] || { mkdir -p /var/cache/pkgs/pool && \
         echo fake-package-index-v1 > /var/cache/pkgs/index && \
         echo fake-deb-payload > /var/cache/pkgs/pool/tool.deb; }; \
         echo $ROUND >> /var/cache/pkgs/rounds; cp /var/cache/pkgs/rounds /rounds'\n",
    )
    .unwrap();
    let (plain, mounts) = (
        format!("type=registry,ref={}/cache/plain:main,mode=max", registry.host),
        format!("type=registry,ref={}/cache/mounts:main,mode=max,cache-mounts=true", registry.host),
    );
    let a = Runner::new(dir.path(), "a", &base);
    let (out, _) = a.build(&ctx, &["--build-arg", "ROUND=a1", "--cache-to", &plain]);
    assert!(out.status.success(), "A: {}", text(&out));
    let stored = everything_in(&registry.data);
    assert!(!contains(&stored, "fake-package-index-v1"), "no cache-mounts=true: nothing leaves A");
    let (out, _) = a.build(&ctx, &["--build-arg", "ROUND=a2", "--cache-to", &mounts]);
    assert!(out.status.success(), "A: {}", text(&out));
    assert!(text(&out).contains("1 new, 0 already there, 1 cache mount(s)"), "{}", text(&out));
    let exported = files_under(&cache_mount_dir(&a));
    assert_eq!(exported.len(), 3, "{exported:?}");

    // B: the RUN misses (another ROUND), finds A's package cache in its
    // mount, and the image shows all three rounds.
    let b = Runner::new(dir.path(), "b", &base);
    let out_dir = dir.path().join("b-out");
    let from = format!("type=registry,ref={}/cache/mounts:main", registry.host);
    let output = format!("type=local,dest={}", out_dir.display());
    let (out, steps) =
        b.build(&ctx, &["--build-arg", "ROUND=b", "--cache-from", &from, "--output", &output]);
    assert!(out.status.success(), "B: {}", text(&out));
    assert!(!steps[0].cached, "{steps:?}");
    assert_eq!(std::fs::read_to_string(out_dir.join("rounds")).unwrap(), "a1\na2\nb\n");
    let mut expected = exported.clone();
    for (path, body) in &mut expected {
        if path == "rounds" {
            body.push_str("b\n");
        }
    }
    assert_eq!(files_under(&cache_mount_dir(&b)), expected, "the same content, plus B's round");

    // C reads the cache exported without cache-mounts=true: its mount
    // starts empty.
    let c = Runner::new(dir.path(), "c", &base);
    let out_dir = dir.path().join("c-out");
    let output = format!("type=local,dest={}", out_dir.display());
    let from = format!("type=registry,ref={}/cache/plain:main", registry.host);
    let (out, _) =
        c.build(&ctx, &["--build-arg", "ROUND=c", "--cache-from", &from, "--output", &output]);
    assert!(out.status.success(), "C: {}", text(&out));
    assert_eq!(std::fs::read_to_string(out_dir.join("rounds")).unwrap(), "c\n");

    // Over cache-mounts-max-size, a mount is left out with a warning.
    let small = format!(
        "type=registry,ref={}/cache/small:main,cache-mounts=true,cache-mounts-max-size=10",
        registry.host
    );
    let (out, _) = a.build(&ctx, &["--build-arg", "ROUND=a3", "--cache-to", &small]);
    assert!(out.status.success(), "A: {}", text(&out));
    assert!(text(&out).contains("cache mount pkgs"), "{}", text(&out));
    assert!(text(&out).contains("left out"), "{}", text(&out));
}

/// Replaces, in the layout-directory cache `cache`, the layer of the record
/// of `key` with `layer` (a plain tar), the record and manifest made to
/// match it as a forger with write access to the cache would.
fn forge_record(cache: &Path, key: &str, layer: &[u8]) {
    let blob = |bytes: &[u8]| -> String {
        let digest = rbuild_image::sha256_digest(bytes).to_string();
        let path = cache.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap());
        std::fs::write(path, bytes).unwrap();
        digest
    };
    let read = |digest: &str| -> serde_json::Value {
        let path = cache.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap());
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index_path = cache.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let tag = format!("rbc1-{key}");
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .unwrap();
    let mut manifest = read(entry["digest"].as_str().unwrap());
    let mut record = read(manifest["config"]["digest"].as_str().unwrap());
    let layer_digest = blob(layer);
    record["layer"]["diff_id"] = layer_digest.clone().into();
    record["layer"]["size"] = layer.len().into();
    let record_bytes = serde_json::to_vec(&record).unwrap();
    manifest["config"]["digest"] = blob(&record_bytes).into();
    manifest["config"]["size"] = record_bytes.len().into();
    manifest["layers"][0] = serde_json::json!({
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        "digest": layer_digest,
        "size": layer.len(),
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    entry["digest"] = blob(&manifest_bytes).into();
    entry["size"] = manifest_bytes.len().into();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn a_forged_record_whose_layer_escapes_its_root_is_refused_when_unpacked() {
    if !have_root() || !have_registry() {
        return;
    }
    let dir = tempdir();
    let base = base_archive(dir.path());
    let ctx = dir.path().join("forge-ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.join("a.txt"), "a\n").unwrap();
    std::fs::write(ctx.join("b.txt"), "b\n").unwrap();
    let cache = dir.path().join("cache");
    let a = Runner::new(dir.path(), "a", &base);
    let to = format!("type=local,dest={}", cache.display());
    let (out, _) = a.build(&ctx, &["--cache-to", &to]);
    assert!(out.status.success(), "A: {}", text(&out));
    let store = rbuild_cache::Store::open(&a.store).unwrap();
    let key = store
        .cache_records()
        .into_iter()
        .find(|r| r.instruction == "COPY a.txt /a.txt")
        .unwrap()
        .key
        .to_string();
    let mut evil = Vec::new();
    for name in [&b"../../../../escaped-from-the-cache"[..], b"/escaped-absolute"] {
        rbuild_test::raw_tar_entry(&mut evil, name, tar::EntryType::Regular, b"", b"pwned");
    }
    rbuild_test::raw_tar_end(&mut evil);
    forge_record(&cache, &key, &evil);

    // B hits the forged COPY a.txt; COPY b.txt misses (b.txt changed) and
    // must run on it: the layer is refused as an image's would be.
    std::fs::write(ctx.join("b.txt"), "changed\n").unwrap();
    let b = Runner::new(dir.path(), "b", &base);
    let from = format!("type=local,src={}", cache.display());
    let (out, _) = b.build(&ctx, &["--cache-from", &from]);
    assert!(!out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("cannot unpack COPY a.txt /a.txt"), "{shown}");
    assert!(!shown.contains("internal error"), "{shown}");
    let escaped = walkdir::WalkDir::new(dir.path())
        .into_iter()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("escaped-"));
    assert!(!escaped, "nothing landed outside the snapshot");
    assert!(!Path::new("/escaped-absolute").exists());
    // B's store kept no record of the forged step to hit next time.
    let b_store = rbuild_cache::Store::open(&b.store).unwrap();
    assert!(b_store.cache_records().iter().all(|r| r.key.to_string() != key));
}
