//! `rbuild build` end to end: real images from a busybox base made here,
//! checked with umoci, skopeo and runc.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::util::{BUSYBOX, have_root, rbuild, tempdir};

/// A store of its own and a busybox base image in it (`busybox:local`).
pub(crate) struct Env {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) store: PathBuf,
}

impl Env {
    pub(crate) fn new() -> Env {
        let dir = tempdir();
        let store = dir.path().join("store");
        let env = Env { dir, store };
        let ctx = env.context("base", &[]);
        std::fs::copy(BUSYBOX, ctx.join("busybox")).unwrap();
        std::fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
             ENV PATH=/bin\n",
        )
        .unwrap();
        let out = env.build(&ctx, &["-t", "busybox:local"]);
        assert!(out.status.success(), "base image: {}", String::from_utf8_lossy(&out.stderr));
        env
    }

    /// A context directory with `files` (path, content).
    pub(crate) fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.dir.path().join(name);
        std::fs::create_dir_all(&ctx).unwrap();
        for (path, body) in files {
            let p = ctx.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        ctx
    }

    pub(crate) fn build(&self, ctx: &Path, args: &[&str]) -> std::process::Output {
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &self.store).arg("build").args(args).arg(ctx);
        cmd.output().unwrap()
    }

    /// Builds with a report and returns it.
    fn build_report(&self, ctx: &Path, args: &[&str]) -> serde_json::Value {
        let report = self.dir.path().join("report.json");
        let mut all = vec!["--report", report.to_str().unwrap(), "--progress=plain"];
        all.extend_from_slice(args);
        let out = self.build(ctx, &all);
        assert!(out.status.success(), "build failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap()
    }
}

fn steps(report: &serde_json::Value) -> Vec<(String, bool, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["instruction"].as_str().unwrap().to_owned(),
                s["cached"].as_bool().unwrap(),
                s["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{name} is needed in CI (.ci/setup installs it)");
    }
    found
}

const APP: &str = "FROM busybox:local AS base\n\
ARG GREETING=hello\n\
WORKDIR /app\n\
COPY src/ ./src/\n\
RUN cat src/*.txt | wc -l > /app/lines\n\
RUN echo \"$GREETING from $(cat /app/lines) lines\" > /app/message\n\
CMD [\"cat\", \"/app/message\"]\n";

#[test]
fn an_image_runs_under_runc_and_a_second_build_hits_the_cache() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx =
        env.context("app", &[("Dockerfile", APP), ("src/a.txt", "1\n2\n"), ("src/b.txt", "3\n")]);
    let layout = env.dir.path().join("layout");
    let out_arg = format!("type=oci,dest={}", layout.display());
    let first = env.build_report(&ctx, &["-t", "app:1", "--output", &out_arg]);
    assert!(steps(&first).iter().all(|(_, cached, _)| !cached), "{first}");

    if tool("skopeo") {
        let out = Command::new("skopeo")
            .arg("inspect")
            .arg(format!("oci:{}:1", layout.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // busybox:local has 2 layers; WORKDIR, COPY and two RUNs add 4.
        assert_eq!(info["Layers"].as_array().unwrap().len(), 6, "{info}");
    }
    if tool("umoci") && tool("runc") {
        let bundle = env.dir.path().join("bundle");
        let out = Command::new("umoci")
            .args(["unpack", "--image"])
            .arg(format!("{}:1", layout.display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // runc without a terminal, as CI has none.
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["process"]["terminal"] = serde_json::Value::Bool(false);
        std::fs::write(&config_path, config.to_string()).unwrap();
        let id = format!("rbuild-test-{}", std::process::id());
        let out = Command::new("runc").arg("run").arg(&id).current_dir(&bundle).output().unwrap();
        let _ = Command::new("runc").args(["delete", "-f", &id]).output();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello from 3 lines\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let second = env.build_report(&ctx, &["-t", "app:1"]);
    assert!(steps(&second).iter().all(|(_, cached, _)| *cached), "{second}");
}

#[test]
fn a_changed_file_reruns_its_copy_and_what_follows_and_says_why() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx =
        env.context("app", &[("Dockerfile", APP), ("src/a.txt", "1\n2\n"), ("src/b.txt", "3\n")]);
    env.build_report(&ctx, &["-t", "app:1"]);
    std::fs::write(ctx.join("src/b.txt"), "3\n4\n").unwrap();
    let report = env.build_report(&ctx, &["-t", "app:1"]);
    let s = steps(&report);
    let copy = s.iter().find(|(i, _, _)| i.starts_with("COPY")).unwrap();
    assert!(!copy.1 && copy.2.contains("src/b.txt changed"), "{s:?}");
    let workdir = s.iter().find(|(i, _, _)| i.starts_with("WORKDIR")).unwrap();
    assert!(workdir.1, "steps before the change stay cached: {s:?}");
    let run = s.iter().find(|(i, _, _)| i.starts_with("RUN cat")).unwrap();
    assert!(!run.1 && run.2.contains("parent"), "{s:?}");

    // A build arg reruns only the steps that see it.
    let report = env.build_report(&ctx, &["-t", "app:1", "--build-arg", "GREETING=hi"]);
    let s = steps(&report);
    let lines = s.iter().find(|(i, _, _)| i.starts_with("RUN cat")).unwrap();
    let message = s.iter().find(|(i, _, _)| i.starts_with("RUN echo")).unwrap();
    assert!(!message.1 && message.2.contains("GREETING changed hello → hi"), "{s:?}");
    // BuildKit puts every ARG in scope into the env of later RUNs, so the
    // first RUN sees it too (moby/moby#20136).
    assert!(!lines.1, "{s:?}");
}

#[test]
fn independent_stages_run_in_parallel_and_unneeded_ones_never() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox:local AS a\nRUN sleep 2 && echo a > /a\n\
        FROM busybox:local AS b\nRUN sleep 2 && echo b > /b\n\
        FROM busybox:local AS c\nRUN sleep 2 && echo c > /c\n\
        FROM busybox:local AS d\nRUN sleep 2 && echo d > /d\n\
        FROM busybox:local AS broken\nRUN exit 1\n\
        FROM busybox:local\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --from=c /c /c\nCOPY --from=d /d /d\n\
        RUN cat /a /b /c /d\n";
    let ctx = env.context("par", &[("Dockerfile", dockerfile)]);
    let out = env.build(&ctx, &["-t", "par:1", "--progress=json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Overlap from the recorded times of the steps, not from the clock of
    // this test: every sleep started before any of them finished.
    let sleeps = |status: &str| -> Vec<f64> {
        events
            .iter()
            .filter(|e| e["event"] == "step" && e["status"] == status)
            .filter(|e| e["instruction"].as_str().is_some_and(|i| i.starts_with("RUN sleep 2")))
            .map(|e| e["time"].as_f64().unwrap())
            .collect()
    };
    let (starts, ends) = (sleeps("running"), sleeps("done"));
    assert_eq!((starts.len(), ends.len()), (4, 4), "{events:?}");
    let last_start = starts.iter().copied().fold(f64::MIN, f64::max);
    let first_end = ends.iter().copied().fold(f64::MAX, f64::min);
    assert!(last_start < first_end, "the four stages overlap: started {starts:?}, ended {ends:?}");
    let result = events.last().unwrap();
    assert_eq!(result["event"], "result");
    assert!(
        !result["steps"].as_array().unwrap().iter().any(|s| s["instruction"] == "RUN exit 1"),
        "the broken stage is not needed"
    );
}

#[test]
fn a_failing_run_names_its_line_and_exit_code() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "fail",
        &[(
            "Dockerfile",
            "FROM busybox:local\nRUN echo about to fail\nRUN echo oops >&2; exit 7\n",
        )],
    );
    let out = env.build(&ctx, &["-t", "fail:1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Dockerfile:3") && err.contains("exited with code 7") && err.contains("oops"),
        "{err}"
    );
}

#[test]
fn equal_steps_on_different_base_images_stay_apart() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let other =
        env.context("other", &[("Dockerfile", "FROM busybox:local\nRUN echo other > /marker\n")]);
    let out = env.build(&other, &["-t", "other:1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dockerfile = "FROM busybox:local AS a\nRUN cat /marker > /seen 2>/dev/null || echo absent > /seen\n\
        FROM other:1 AS b\nRUN cat /marker > /seen 2>/dev/null || echo absent > /seen\n\
        FROM busybox:local\nCOPY --from=a /seen /a\nCOPY --from=b /seen /b\n";
    let ctx = env.context("two-bases", &[("Dockerfile", dockerfile)]);
    let dest = env.dir.path().join("two-bases-out");
    let output = format!("type=local,dest={}", dest.display());
    let out = env.build(&ctx, &["-t", "two:1", "--output", &output]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "absent\n");
    assert_eq!(
        std::fs::read_to_string(dest.join("b")).unwrap(),
        "other\n",
        "b ran on its own base"
    );
}

#[test]
fn insecure_runs_and_foreign_platforms_are_refused_before_anything_runs() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let insecure = "FROM busybox:local\nRUN touch /ran\nRUN --security=insecure true\n";
    let ctx = env.context("insecure", &[("Dockerfile", insecure)]);
    let out = env.build(&ctx, &["-t", "insecure:1", "--progress=plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:3: RUN --security=insecure is not supported"), "{err}");
    assert!(!err.contains("running"), "no step ran: {err}");

    let other = if std::env::consts::ARCH == "s390x" { "linux/amd64" } else { "linux/s390x" };
    let foreign = format!("FROM --platform={other} busybox:local\nRUN true\n");
    let ctx = env.context("foreign", &[("Dockerfile", foreign.as_str())]);
    let out = env.build(&ctx, &["-t", "foreign:1", "--progress=plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("Dockerfile:1: FROM --platform={other}")), "{err}");
    assert!(!err.contains("running"), "no step ran: {err}");

    // The host's own platform, spelled out, builds.
    let host = "FROM --platform=$BUILDPLATFORM busybox:local\nRUN true\n";
    let ctx = env.context("host", &[("Dockerfile", host)]);
    let out = env.build(&ctx, &["-t", "host:1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_hosts_network_needs_the_entitlement_and_without_slirp4netns_a_step_is_told() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let df =
        "FROM busybox:local\nRUN touch /ran\nRUN --network=host ls /sys/class/net > /host-net\n";
    let ctx = env.context("hostnet", &[("Dockerfile", df)]);
    let out = env.build(&ctx, &["-t", "hostnet:1", "--progress=plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Dockerfile:3: RUN --network=host is not allowed")
            && err.contains("--allow network.host"),
        "{err}"
    );
    assert!(!err.contains("running"), "no step ran: {err}");
    for allow in [["--allow", "network.host"], ["--network", "host"]] {
        let mut args = vec!["-t", "hostnet:1", "--no-cache"];
        args.extend(allow);
        let out = env.build(&ctx, &args);
        assert!(out.status.success(), "{allow:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = env.build(&ctx, &["-t", "hostnet:1", "--allow", "network.everything"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown entitlement \"network.everything\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Without slirp4netns the default network is still a namespace of its
    // own (never the host's), with only lo, and the first step says why.
    let df = "FROM busybox:local\nRUN ls /sys/class/net\nRUN ls /sys/class/net\n";
    let ctx = env.context("noslirp", &[("Dockerfile", df)]);
    let mut cmd = rbuild();
    cmd.env("RBUILD_ROOT", &env.store).env("PATH", "/nonexistent");
    let out =
        cmd.args(["build", "--progress=plain", "-t", "noslirp:1"]).arg(&ctx).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("slirp4netns is not installed").count(), 1, "once: {err}");
    assert_eq!(err.matches("\n  lo\n").count(), 2, "only lo: {err}");
}

#[test]
fn a_build_that_hits_every_step_makes_the_same_image_again() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local\nRUN echo one > /one\nENV A=1\nCOPY f /f\n";
    let ctx = env.context("again", &[("Dockerfile", df), ("f", "f\n")]);
    let digest = |report: &serde_json::Value| -> String {
        let out = rbuild()
            .env("RBUILD_ROOT", &env.store)
            .args(["image", "inspect", "again:1", "--format", "{{.Id}} {{.Created}}"])
            .output()
            .unwrap();
        assert!(report["steps"].is_array());
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let first = digest(&env.build_report(&ctx, &["-t", "again:1"]));
    // Whenever the steps ran, a build that hits them all dates the image
    // by them: the records say they ran in 2001, so the image says so too.
    for entry in std::fs::read_dir(env.store.join("cache")).unwrap() {
        let path = entry.unwrap().path();
        let mut record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        record["created"] = serde_json::json!(1_000_000_000u64);
        std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();
    }
    let report = env.build_report(&ctx, &["-t", "again:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");
    let again = digest(&report);
    assert_ne!(first, again);
    assert!(again.ends_with(" 2001-09-09T01:46:40Z"), "{again}");
    let history = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["history", "--format", "{{.CreatedAt}}", "again:1"])
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&history.stdout);
    let dates: Vec<&str> = history.lines().take(3).collect();
    assert!(
        dates.iter().all(|d| d.starts_with("2001-09-09T01:46:40")),
        "ENV takes its state's date: {history}"
    );
    assert_eq!(digest(&env.build_report(&ctx, &["-t", "again:1"])), again, "and again the same");
}

#[test]
fn source_date_epoch_makes_builds_reproducible() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context("repro", &[("Dockerfile", APP), ("src/a.txt", "1\n")]);
    let digest = |tag: &str| {
        let iid = env.dir.path().join(format!("iid-{tag}"));
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &env.store).env("SOURCE_DATE_EPOCH", "1700000000");
        cmd.args(["build", "--no-cache", "-t", tag, "--iidfile", iid.to_str().unwrap()]).arg(&ctx);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(iid).unwrap()
    };
    assert_eq!(digest("repro:1"), digest("repro:2"));
}

#[test]
fn a_context_bind_mount_hides_ignored_files_and_its_content_is_in_the_key() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox:local\n\
        RUN --mount=type=bind,target=/ctx ls /ctx/src > /listing && cat /ctx/src/a.txt > /a\n\
        RUN cat /listing /a\n";
    let ctx = env.context(
        "bind",
        &[
            ("Dockerfile", dockerfile),
            (".dockerignore", "src/*.key\n"),
            ("src/a.txt", "one\n"),
            ("src/secret.key", "hidden\n"),
        ],
    );
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    env.build_report(&ctx, &["-t", "bind:1", "--output", &out_arg]);
    assert_eq!(std::fs::read_to_string(dest.join("listing")).unwrap(), "a.txt\n");
    assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "one\n");

    // The bound file's content is part of the RUN's key.
    std::fs::write(ctx.join("src/a.txt"), "two\n").unwrap();
    let report = env.build_report(&ctx, &["-t", "bind:1"]);
    let s = steps(&report);
    let run = s.iter().find(|(i, _, _)| i.starts_with("RUN --mount")).unwrap();
    assert!(!run.1 && run.2.contains("src/a.txt changed"), "{s:?}");
    // An ignored file changing changes nothing.
    std::fs::write(ctx.join("src/secret.key"), "other\n").unwrap();
    let report = env.build_report(&ctx, &["-t", "bind:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");
}

#[test]
fn a_context_copied_elsewhere_keeps_its_step_history() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let first = env.context("one", &[("Dockerfile", APP), ("src/a.txt", "1\n")]);
    env.build_report(&first, &["-t", "moved:1"]);
    let second = env.context("two", &[("Dockerfile", APP), ("src/a.txt", "1\n2\n")]);
    let s = steps(&env.build_report(&second, &["-t", "moved:1"]));
    let copy = s.iter().find(|(i, _, _)| i.starts_with("COPY")).unwrap();
    assert!(!copy.1 && copy.2.contains("src/a.txt changed"), "{s:?}");
    assert!(!s.iter().any(|(_, _, reason)| reason.contains("no earlier build")), "{s:?}");
}

#[test]
fn json_progress_is_one_event_per_line_and_ends_with_the_result() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox:local\nRUN echo out-line && echo err-line >&2\nRUN touch /x\n";
    let ctx = env.context("json", &[("Dockerfile", dockerfile)]);
    let iid = env.dir.path().join("iid");
    let out =
        env.build(&ctx, &["-t", "json:1", "--progress=json", "--iidfile", iid.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8(out.stderr)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |kind: &str, status: &str| {
        events
            .iter()
            .filter(|e| e["event"] == kind && (status.is_empty() || e["status"] == status))
            .count()
    };
    assert_eq!(of("step", "running"), 2, "{events:?}");
    assert_eq!(of("step", "done"), 2, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["stream"] == "stdout" && e["text"] == "out-line")
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "log" && e["stream"] == "stderr" && e["text"] == "err-line")
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "result", "{last}");
    assert_eq!(last["id"].as_str().unwrap(), std::fs::read_to_string(&iid).unwrap());
    assert_eq!(last["steps"].as_array().unwrap().len(), 2, "{last}");

    // Cached steps say so; a failure is an event too, with exit code 1.
    let out = env.build(&ctx, &["-t", "json:1", "--progress=json"]);
    let text = String::from_utf8(out.stderr).unwrap();
    assert_eq!(text.matches("\"status\":\"cached\"").count(), 2, "{text}");
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local\nRUN exit 3\n").unwrap();
    let out = env.build(&ctx, &["-t", "json:1", "--progress=json"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error", "{text}");
    assert!(last["message"].as_str().unwrap().contains("exited with code 3"), "{text}");
    assert!(text.contains("\"status\":\"error\""), "{text}");
}

#[test]
fn tty_progress_draws_on_a_terminal_and_is_refused_elsewhere() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx =
        env.context("tty", &[("Dockerfile", "FROM busybox:local\nRUN sleep 0.5 && echo drawn\n")]);
    // Not a terminal: a usage error, nothing built.
    let out = env.build(&ctx, &["-t", "tty:1", "--progress=tty"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a terminal"));
    if !tool("script") {
        return;
    }
    // Under script(1), a pseudo-terminal: the live view, then the summary.
    let command = format!(
        "RBUILD_ROOT={} {} build -t tty:1 --progress=tty {}",
        env.store.display(),
        env!("CARGO_BIN_EXE_rbuild"),
        ctx.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("RUN sleep 0.5 && echo drawn  done in"), "{text}");
    assert!(text.contains("\u{1b}["), "the view redraws with escape codes: {text}");
    assert!(text.contains("built tty:1"), "{text}");
}

/// Every file under `dir` whose bytes contain `needle`.
pub(crate) fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                stack.push(p);
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn secrets_reach_run_steps_but_no_layer_record_or_key() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox:local\n\
        RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len\n\
        RUN --mount=type=secret,id=api,env=API printf %s \"$API\" | wc -c > /envlen\n";
    let ctx = env.context("secret", &[("Dockerfile", dockerfile)]);
    let secret = env.dir.path().join("tok.txt");
    std::fs::write(&secret, "s3cr3t-FILE-VALUE-17").unwrap();
    let dest = env.dir.path().join("rootfs");
    let build = |value: &str| {
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &env.store).env("API_VALUE", value);
        cmd.args(["build", "-t", "secret:1", "--progress=plain"])
            .arg("--secret")
            .arg(format!("id=tok,src={}", secret.display()))
            .args(["--secret", "id=api,env=API_VALUE"])
            .arg("--output")
            .arg(format!("type=local,dest={}", dest.display()))
            .arg(&ctx);
        cmd.output().unwrap()
    };
    let out = build("from-env-VALUE-42");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dest.join("len")).unwrap().trim(), "20");
    assert_eq!(std::fs::read_to_string(dest.join("envlen")).unwrap().trim(), "17");
    for needle in ["s3cr3t-FILE-VALUE-17", "from-env-VALUE-42"] {
        let leaks = files_containing(&env.store, needle.as_bytes());
        assert!(leaks.is_empty(), "{needle} leaked into {leaks:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(needle));
    }
    // Not in the key: another value still hits the cache (as BuildKit).
    let out = build("other");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).lines().filter(|l| l.ends_with("  CACHED")).count(),
        2
    );

    // A required secret that was not given fails before running anything.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nRUN --mount=type=secret,id=missing,required cat /run/secrets/missing\n",
    )
    .unwrap();
    let out = env.build(&ctx, &["-t", "secret:2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Dockerfile:2") && err.contains("secret missing is required"), "{err}");
}

/// A static file server on loopback (Python's http.server, which answers
/// If-Modified-Since with 304), its request log in `log`.
struct Server {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, log: PathBuf) -> Server {
        let script = "import http.server,sys,os\n\
            os.chdir(sys.argv[1])\n\
            s=http.server.ThreadingHTTPServer(('127.0.0.1',0),http.server.SimpleHTTPRequestHandler)\n\
            print(s.server_address[1],flush=True)\n\
            s.serve_forever()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 (installed by .ci/setup)");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        Server { child, port: line.trim().parse().unwrap(), log }
    }

    fn requests(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mtime(path: &Path, secs: u64) {
    let ok = Command::new("touch").arg("-d").arg(format!("@{secs}")).arg(path).status().unwrap();
    assert!(ok.success());
}

#[test]
fn add_fetches_urls_revalidates_them_and_checks_checksums() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "hello over http\n").unwrap();
    set_mtime(&www.join("hello.txt"), 1_600_000_000);
    std::fs::write(www.join("pinned.txt"), "pinned\n").unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("inside.txt").unwrap();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append(&h, &b"in\n"[..]).unwrap();
    std::fs::write(www.join("tool.tar"), tar.into_inner().unwrap()).unwrap();
    let server = Server::start(&www, env.dir.path().join("http.log"));
    let base = format!("http://127.0.0.1:{}", server.port);
    // sha256 of "pinned\n".
    let pinned = "sha256:9ceb9ba0bb2d8ca7ea6d8c4d2bd1c2bfc7ac4b4c1bba3e2cb0a4bba5a3f2c1c2";
    let real = {
        let out = Command::new("sha256sum").arg(www.join("pinned.txt")).output().unwrap();
        format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split(' ').next().unwrap())
    };
    assert_ne!(pinned, real, "the made-up digest must be wrong");
    let dockerfile = format!(
        "FROM busybox:local\n\
         ADD --checksum={real} {base}/pinned.txt /pinned.txt\n\
         ADD {base}/hello.txt /downloads/\n\
         ADD {base}/tool.tar /t/\n\
         RUN stat -c '%a %Y' /downloads/hello.txt > /mode && ls /t > /tlist\n"
    );
    let ctx = env.context("url", &[("Dockerfile", &dockerfile)]);
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    env.build_report(&ctx, &["-t", "url:1", "--output", &out_arg]);
    assert_eq!(
        std::fs::read_to_string(dest.join("downloads/hello.txt")).unwrap(),
        "hello over http\n"
    );
    assert_eq!(std::fs::read_to_string(dest.join("pinned.txt")).unwrap(), "pinned\n");
    // Mode 0600 and the server's Last-Modified, as BuildKit; not unpacked.
    assert_eq!(std::fs::read_to_string(dest.join("mode")).unwrap(), "600 1600000000\n");
    assert_eq!(std::fs::read_to_string(dest.join("tlist")).unwrap(), "tool.tar\n");

    // Unchanged: every step cached, the server asked and answering 304.
    let before = server.requests().lines().count();
    let report = env.build_report(&ctx, &["-t", "url:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");
    let log = server.requests();
    let new: Vec<&str> = log.lines().skip(before).collect();
    assert!(new.iter().any(|l| l.contains("/hello.txt") && l.contains("\" 304 ")), "{new:?}");
    assert!(
        !new.iter().any(|l| l.contains("/pinned.txt")),
        "a pinned file already here is not fetched: {new:?}"
    );

    // Changed on the server: that ADD reruns and the report names the URL.
    std::fs::write(www.join("hello.txt"), "changed\n").unwrap();
    set_mtime(&www.join("hello.txt"), 1_600_000_100);
    let s = steps(&env.build_report(&ctx, &["-t", "url:1"]));
    let add = s.iter().find(|(i, _, _)| i.contains("/hello.txt")).unwrap();
    assert!(!add.1 && add.2.contains(&format!("{base}/hello.txt changed")), "{s:?}");
    assert!(s.iter().find(|(i, _, _)| i.contains("pinned")).unwrap().1, "{s:?}");

    // The same bytes with a new Last-Modified: the mtime lands in the layer,
    // so the step reruns and the file carries the new time.
    set_mtime(&www.join("hello.txt"), 1_600_000_200);
    std::fs::remove_dir_all(&dest).unwrap();
    let s = steps(&env.build_report(&ctx, &["-t", "url:1", "--output", &out_arg]));
    assert!(!s.iter().find(|(i, _, _)| i.contains("/hello.txt")).unwrap().1, "{s:?}");
    assert_eq!(std::fs::read_to_string(dest.join("mode")).unwrap(), "600 1600000200\n");

    // Credentials in a URL reach the server but no report, history, store
    // file or image; errors mask them too.
    let with_auth = format!("http://me:s3cret@127.0.0.1:{}", server.port);
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox:local\nADD {with_auth}/pinned.txt /p\nRUN cat /p\n"),
    )
    .unwrap();
    let layout = env.dir.path().join("auth-layout");
    let oci = format!("type=oci,dest={}", layout.display());
    let report = env.build_report(&ctx, &["-t", "url:auth", "--output", &oci]);
    assert!(report.to_string().contains("me:xxxxx@"), "{report}");
    for dir in [&env.store, &layout] {
        assert!(
            files_containing(dir, b"s3cret").is_empty(),
            "{:?}",
            files_containing(dir, b"s3cret")
        );
    }
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox:local\nADD {with_auth}/nope /x\n"),
    )
    .unwrap();
    let out = env.build(&ctx, &["-t", "url:auth2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("404"), "{err}");
    assert!(!err.contains("s3cret") && err.contains("me:xxxxx@"), "{err}");

    // A wrong checksum fails the build and names both digests.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox:local\nADD --checksum={pinned} {base}/hello.txt /x\n"),
    )
    .unwrap();
    let out = env.build(&ctx, &["-t", "url:2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Dockerfile:2") && err.contains("checksum mismatch") && err.contains(pinned),
        "{err}"
    );
    // A missing file is a clear failure too.
    std::fs::write(ctx.join("Dockerfile"), format!("FROM busybox:local\nADD {base}/nope /x\n"))
        .unwrap();
    let out = env.build(&ctx, &["-t", "url:3"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("404"), "{err}");
}

#[test]
fn copy_chmod_takes_symbolic_modes() {
    if !have_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt as _;
    let env = Env::new();
    let ctx = env.context(
        "chmod",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY --chmod=u=rwX,go=rX src/ /s/\nCOPY --chmod=640 src/run.sh /o\n",
            ),
            ("src/data.txt", "d"),
            ("src/run.sh", "r"),
        ],
    );
    let set = |p: &str, m: u32| {
        std::fs::set_permissions(ctx.join(p), std::fs::Permissions::from_mode(m)).unwrap()
    };
    set("src/data.txt", 0o600);
    set("src/run.sh", 0o700);
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    env.build_report(&ctx, &["-t", "chmod:1", "--output", &out_arg]);
    let mode = |p: &str| std::fs::metadata(dest.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode("s/data.txt"), mode("s/run.sh"), mode("o")), (0o644, 0o755, 0o640));
}

#[test]
fn a_stage_can_start_from_an_oci_layout() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let first =
        env.context("first", &[("Dockerfile", "FROM busybox:local\nRUN echo layered > /l\n")]);
    let ctx = env.context(
        "second",
        &[("Dockerfile", "FROM oci-layout://layout:v1\nRUN cat /l > /m\nCMD [\"cat\", \"/m\"]\n")],
    );
    let out_arg = format!("type=oci,dest={}", ctx.join("layout").display());
    env.build_report(&first, &["-t", "lay:v1", "--output", &out_arg]);
    let dest = env.dir.path().join("rootfs");
    let local = format!("type=local,dest={}", dest.display());
    let report = env.build_report(&ctx, &["-t", "fromlayout:1", "--output", &local]);
    assert_eq!(std::fs::read_to_string(dest.join("m")).unwrap(), "layered\n");
    assert!(steps(&report).iter().all(|(_, cached, _)| !cached), "{report}");
    // Built again: the layout's layers are the same, so the step hits.
    let report = env.build_report(&ctx, &["-t", "fromlayout:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");

    // A tag the layout does not have is a located error.
    std::fs::write(ctx.join("Dockerfile"), "FROM oci-layout://layout:v2\nRUN true\n").unwrap();
    let out = env.build(&ctx, &["-t", "fromlayout:2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && err.contains("no image v2") && err.contains(":1:"),
        "{err}"
    );

    // A layout outside the context is out of reach, by `..` or by a link.
    let outside = env.dir.path().join("outside");
    let out_arg = format!("type=oci,dest={}", outside.display());
    env.build_report(&first, &["-t", "lay:v1", "--output", &out_arg]);
    std::os::unix::fs::symlink(&outside, ctx.join("lnk")).unwrap();
    for reference in ["../outside:v1", "lnk:v1", &format!("{}:v1", outside.display())] {
        let text = format!("FROM oci-layout://{reference}\nRUN true\n");
        std::fs::write(ctx.join("Dockerfile"), text).unwrap();
        let out = env.build(&ctx, &["-t", "fromlayout:3"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code() == Some(1) && err.contains("oci-layout://"), "{err}");
    }
}

/// The layer digests of the only image in an OCI layout.
fn layout_layers(layout: &Path) -> Vec<String> {
    let read = |digest: &str| -> serde_json::Value {
        let hex = digest.trim_start_matches("sha256:");
        serde_json::from_slice(&std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap())
            .unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn copy_link_layers_survive_a_changed_base() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "ARG BASE=one\n\
        FROM busybox:local AS one\nRUN echo a > /marker\n\
        FROM busybox:local AS two\nRUN echo b > /marker\n\
        FROM $BASE\nCOPY --link app/ /app/\nRUN cat /marker /app/f > /out\n";
    let ctx = env.context("link", &[("Dockerfile", dockerfile), ("app/f", "file\n")]);
    let layout = |name: &str| env.dir.path().join(name);
    let build = |base: &str| {
        let dest = layout(base);
        let out_arg = format!("type=oci,dest={}", dest.display());
        let local = format!("type=local,dest={}", layout(&format!("{base}-root")).display());
        let arg = format!("BASE={base}");
        let report = env.build_report(
            &ctx,
            &["-t", "link:1", "--build-arg", &arg, "--output", &out_arg, "--output", &local],
        );
        (steps(&report), layout_layers(&dest))
    };
    let (first, one) = build("one");
    let copy =
        |s: &[(String, bool, String)]| s.iter().find(|(i, _, _)| i.starts_with("COPY")).unwrap().1;
    assert!(!copy(&first), "{first:?}");
    let (second, two) = build("two");
    assert!(copy(&second), "the linked COPY is reused over another base: {second:?}");
    let run = second.iter().find(|(i, _, _)| i.starts_with("RUN cat")).unwrap();
    assert!(!run.1, "{second:?}");
    assert_eq!(std::fs::read_to_string(layout("two-root").join("out")).unwrap(), "b\nfile\n");
    assert_eq!(std::fs::read_to_string(layout("one-root").join("out")).unwrap(), "a\nfile\n");
    // busybox:local has 2 layers, the stage's RUN 1, then the linked COPY:
    // the same blob in both images, over different bases.
    assert_ne!(one[2], two[2]);
    assert_eq!(one[3], two[3]);

    // Names in --chown cannot be resolved in a linked layer.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nCOPY --link --chown=app app/ /app/\n",
    )
    .unwrap();
    let out = env.build(&ctx, &["-t", "link:2"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("needs numeric ids"), "{err}");
}

#[test]
fn concurrent_builds_share_a_store_and_prune_waits_for_them() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = |n: usize| {
        format!(
            "FROM busybox:local\nRUN echo shared > /shared\nRUN sleep 1 && echo {n} > /n\nCOPY f /f\n"
        )
    };
    let contexts: Vec<PathBuf> = (0..4)
        .map(|n| env.context(&format!("c{n}"), &[("Dockerfile", &dockerfile(n % 2)), ("f", "x\n")]))
        .collect();
    let spawn = |ctx: &Path, tag: &str, dest: &Path| {
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &env.store)
            .args(["build", "--progress=plain", "-t", tag, "--output"])
            .arg(format!("type=local,dest={}", dest.display()))
            .arg(ctx)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    // Four builds at once, two pairs of equal Dockerfiles.
    let children: Vec<_> = contexts
        .iter()
        .enumerate()
        .map(|(n, ctx)| {
            let dest = env.dir.path().join(format!("out{n}"));
            (dest.clone(), spawn(ctx, &format!("conc:{n}"), &dest))
        })
        .collect();
    for (n, (dest, child)) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "build {n}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(std::fs::read_to_string(dest.join("n")).unwrap(), format!("{}\n", n % 2));
        assert_eq!(std::fs::read_to_string(dest.join("shared")).unwrap(), "shared\n");
    }
    // Everything is in the cache now, whoever wrote it.
    let report = env.build_report(&contexts[3], &["-t", "conc:3"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");

    // A prune started during a build waits for it to end.
    std::fs::write(contexts[0].join("f"), "changed\n").unwrap();
    std::fs::write(
        contexts[0].join("Dockerfile"),
        "FROM busybox:local\nRUN sleep 1.5 && echo slow > /slow\n",
    )
    .unwrap();
    let dest = env.dir.path().join("slow");
    let build = spawn(&contexts[0], "conc:slow", &dest);
    std::thread::sleep(Duration::from_millis(500));
    let prune = rbuild().env("RBUILD_ROOT", &env.store).args(["prune", "-f"]).output().unwrap();
    assert!(prune.status.success(), "{}", String::from_utf8_lossy(&prune.stderr));
    let out = build.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dest.join("slow")).unwrap(), "slow\n");
    // The prune ran after the build: the store holds no snapshot now, and
    // the next build runs its steps again and succeeds.
    let snapshots = std::fs::read_dir(env.store.join("snapshots")).unwrap().count();
    assert_eq!(snapshots, 0);
    let report = env.build_report(&contexts[1], &["-t", "conc:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| !cached), "{report}");
}

#[test]
fn tar_and_docker_outputs() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context("outs", &[("Dockerfile", APP), ("src/a.txt", "1\n")]);
    let tar_path = env.dir.path().join("rootfs.tar");
    let archive = env.dir.path().join("image.tar");
    let tar_arg = format!("type=tar,dest={}", tar_path.display());
    let docker_arg = format!("type=docker,dest={}", archive.display());
    env.build_report(&ctx, &["-t", "outs:1", "--output", &tar_arg, "--output", &docker_arg]);
    let list = Command::new("tar").arg("-tf").arg(&tar_path).output().unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    assert!(names.lines().any(|l| l.trim_start_matches("./") == "app/message"), "{names}");
    assert!(names.lines().any(|l| l.trim_start_matches("./") == "bin/busybox"), "{names}");

    // The docker-archive goes back into a store with `rbuild load`...
    let other = env.dir.path().join("other-store");
    let out =
        rbuild().env("RBUILD_ROOT", &other).args(["load", "-i"]).arg(&archive).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Loaded image: outs:1\n");
    // ...and into docker, when an engine runs here (not in CI).
    let docker_up = Command::new("docker")
        .arg("info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !docker_up {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"skipped the docker load check: no docker engine here\n",
        );
        return;
    }
    let tag = format!("rbuild-test-outs:{}", std::process::id());
    let retag = env.dir.path().join("retag.tar");
    let retag_arg = format!("type=docker,dest={}", retag.display());
    env.build_report(&ctx, &["-t", &tag, "--output", &retag_arg]);
    let load = Command::new("docker").arg("load").arg("-i").arg(&retag).output().unwrap();
    assert!(load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    let run =
        Command::new("docker").args(["run", "--rm", "--network=none", &tag]).output().unwrap();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout), "hello from 1 lines\n");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git (installed by .ci/setup)");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn add_checks_out_git_refs_by_commit() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let work = env.dir.path().join("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    git(&work, &["init", "-q"]);
    std::fs::write(work.join("README"), "readme v1\n").unwrap();
    std::fs::write(work.join("sub/tool.sh"), "#!/bin/sh\necho tool\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(work.join("sub/tool.sh"), std::fs::Permissions::from_mode(0o775))
        .unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    let v1 = git(&work, &["rev-parse", "HEAD"]);
    // Served over dumb HTTP from a bare copy.
    let www = env.dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    git(&www, &["clone", "-q", "--bare", work.to_str().unwrap(), "repo.git"]);
    let bare = www.join("repo.git");
    git(&bare, &["update-server-info"]);
    let server = Server::start(&www, env.dir.path().join("http.log"));
    let url = format!("http://127.0.0.1:{}/repo.git", server.port);
    let dockerfile = format!(
        "FROM busybox:local\n\
         ADD {url}#v1 /src/\n\
         ADD {url}#main:sub /sub/\n\
         RUN ls -a /src > /ls && stat -c %a /sub/tool.sh > /mode\n"
    );
    let ctx = env.context("git", &[("Dockerfile", &dockerfile)]);
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    env.build_report(&ctx, &["-t", "git:1", "--output", &out_arg]);
    assert_eq!(std::fs::read_to_string(dest.join("src/README")).unwrap(), "readme v1\n");
    assert_eq!(
        std::fs::read_to_string(dest.join("ls")).unwrap(),
        ".\n..\nREADME\nsub\n",
        "no .git"
    );
    assert_eq!(std::fs::read_to_string(dest.join("mode")).unwrap(), "755\n");
    let report = env.build_report(&ctx, &["-t", "git:1"]);
    assert!(steps(&report).iter().all(|(_, cached, _)| *cached), "{report}");

    // main moves on: only what reads main reruns, and the report says so.
    std::fs::write(work.join("sub/new.txt"), "new\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "two"]);
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main"]);
    git(&bare, &["update-server-info"]);
    let s = steps(&env.build_report(&ctx, &["-t", "git:1", "--output", &out_arg]));
    assert!(s.iter().find(|(i, _, _)| i.contains("#v1")).unwrap().1, "{s:?}");
    let main = s.iter().find(|(i, _, _)| i.contains("#main")).unwrap();
    assert!(!main.1 && main.2.contains(&format!("{url}#main:sub changed")), "{s:?}");
    assert_eq!(std::fs::read_to_string(dest.join("sub/new.txt")).unwrap(), "new\n");

    // --checksum pins the commit.
    let pinned = |sum: &str| {
        std::fs::write(
            ctx.join("Dockerfile"),
            format!("FROM busybox:local\nADD --checksum={sum} {url}#v1 /p/\n"),
        )
        .unwrap();
        env.build(&ctx, &["-t", "git:2"])
    };
    assert!(pinned(&v1[..12]).status.success());
    let out = pinned("0000000000000000000000000000000000000000");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(1) && err.contains("checksum mismatch") && err.contains(&v1),
        "{err}"
    );
    let out = pinned("abc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("7 to 40 hex digits"), "{err}");

    // A branch named like the tag: the tag wins, as in git, and exactly the
    // resolved ref is fetched. The caller's GIT_* environment is ignored.
    git(&work, &["push", "-q", bare.to_str().unwrap(), "main:refs/heads/v1"]);
    git(&bare, &["update-server-info"]);
    std::fs::write(ctx.join("Dockerfile"), format!("FROM scratch\nADD {url}#v1 /src/\n")).unwrap();
    let _ = std::fs::remove_dir_all(&dest);
    let stray = env.dir.path().join("stray-git-dir");
    let out = rbuild()
        .env("RBUILD_ROOT", env.dir.path().join("fresh-store"))
        .env("GIT_DIR", &stray)
        .env("GIT_CONFIG_PARAMETERS", "'protocol.http.allow'='never'")
        .args(["build", "-t", "git:3", "--output", &out_arg])
        .arg(&ctx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dest.join("src/README").is_file() && !dest.join("src/sub/new.txt").exists());
    assert!(!stray.exists(), "git used the caller's GIT_DIR");
}

#[test]
fn symlinked_sources_are_followed_inside_their_root_and_never_outside() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let dockerfile = "FROM busybox:local AS s\n\
        RUN mkdir -p /usr/lib /data && echo lib > /usr/lib/x.so && echo in-stage > /data/f \
            && ln -s usr/lib /lib && ln -s data /link && ln -s /usr/share/doc /hostdoc\n\
        FROM busybox:local\n\
        COPY --from=s /lib/x.so /from-stage/\n\
        COPY link/a.txt ctxlink /from-context/\n\
        RUN --mount=type=bind,from=s,source=/link,target=/d cat /d/f > /via-link\n\
        RUN --mount=type=bind,from=s,source=/data/f,target=/f \
            cat /f > /file && (echo x > /f 2>/dev/null || echo refused > /file-ro)\n\
        RUN --mount=type=bind,source=ctxlink,target=/c cat /c/a.txt > /ctx-via-link\n";
    let ctx = env.context("links", &[("Dockerfile", dockerfile), ("src/a.txt", "one\n")]);
    std::os::unix::fs::symlink("src", ctx.join("link")).unwrap();
    std::os::unix::fs::symlink("/src", ctx.join("ctxlink")).unwrap();
    std::os::unix::fs::symlink("/usr/share/doc", ctx.join("escape")).unwrap();
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    env.build_report(&ctx, &["-t", "links:1", "--output", &out_arg]);
    let read = |p: &str| std::fs::read_to_string(dest.join(p)).unwrap();
    assert_eq!(read("from-stage/x.so"), "lib\n");
    assert_eq!(read("from-context/a.txt"), "one\n");
    assert_eq!(read("via-link"), "in-stage\n");
    assert_eq!(read("file"), "in-stage\n");
    assert_eq!(read("file-ro"), "refused\n");
    assert_eq!(read("ctx-via-link"), "one\n");

    // The file behind a link is in the key of the steps that read through it.
    std::fs::write(ctx.join("src/a.txt"), "two\n").unwrap();
    let s = steps(&env.build_report(&ctx, &["-t", "links:1"]));
    let copy = s.iter().find(|(i, _, _)| i.starts_with("COPY link")).unwrap();
    assert!(!copy.1 && copy.2.contains("src/a.txt changed"), "{s:?}");

    // Links that point at host paths resolve inside the context or stage,
    // where there is nothing: the host's files are never mounted.
    assert!(Path::new("/usr/share/doc").is_dir());
    for (name, line) in [
        ("escape-context", "RUN --mount=type=bind,source=escape,target=/x ls /x\n"),
        ("escape-stage", "RUN --mount=type=bind,from=s,source=/hostdoc,target=/x ls /x\n"),
    ] {
        let text =
            format!("{}{line}", dockerfile.lines().take(3).collect::<Vec<_>>().join("\n") + "\n");
        std::fs::write(ctx.join(name), text).unwrap();
        let out = env.build(&ctx, &["-t", "links:2", "-f", &ctx.join(name).display().to_string()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("source=") && err.contains("not found in"), "{err}");
    }
}

#[test]
fn add_unpack_flag_is_part_of_the_key() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context("unpack", &[("inner.txt", "inside\n")]);
    let made = Command::new("tar")
        .arg("-cf")
        .arg(ctx.join("a.tar"))
        .arg("-C")
        .arg(&ctx)
        .arg("inner.txt")
        .status();
    assert!(made.unwrap().success());
    let dest = env.dir.path().join("rootfs");
    let out_arg = format!("type=local,dest={}", dest.display());
    for (flag, present, absent) in
        [("", "x/inner.txt", "x/a.tar"), ("--unpack=false ", "x/a.tar", "x/inner.txt")]
    {
        std::fs::write(ctx.join("Dockerfile"), format!("FROM scratch\nADD {flag}a.tar /x/\n"))
            .unwrap();
        let _ = std::fs::remove_dir_all(&dest);
        env.build_report(&ctx, &["-t", "unpack:1", "--output", &out_arg]);
        assert!(dest.join(present).is_file() && !dest.join(absent).exists(), "ADD {flag}");
    }
}

#[test]
fn ten_thousand_env_lines_build_with_every_variable_and_history_entry() {
    if !have_root() {
        return;
    }
    // Each step's state shares its layers and history with its parent's:
    // a copy per step made this quadratic (4,000 lines took 1.6 GB).
    let env = Env::new();
    let mut dockerfile = String::from("FROM busybox:local\n");
    for i in 0..10_000 {
        dockerfile.push_str(&format!("ENV V{i}=value{i}\n"));
    }
    dockerfile.push_str("RUN test \"$V9999\" = value9999 && test \"$V0\" = value0\n");
    let ctx = env.context("envs", &[("Dockerfile", &dockerfile)]);
    let out = env.build(&ctx, &["-t", "envs:1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let inspect = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["image", "inspect", "envs:1"])
        .output()
        .unwrap();
    let image: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let vars = image[0]["Config"]["Env"].as_array().unwrap();
    assert_eq!(vars.iter().filter(|v| v.as_str().unwrap().starts_with('V')).count(), 10_000);
    let history =
        rbuild().env("RBUILD_ROOT", &env.store).args(["history", "-q", "envs:1"]).output().unwrap();
    // busybox:local's 3 entries (COPY, RUN, ENV), 10,000 ENV and the RUN.
    assert_eq!(String::from_utf8_lossy(&history.stdout).lines().count(), 10_004);
}

#[test]
fn a_tree_five_hundred_deep_copies_and_unpacks_whole() {
    if !have_root() {
        return;
    }
    // Each directory is resolved once, one step below the one above it:
    // resolving every parent from the root made this n^4 (500 deep: 196 s).
    let env = Env::new();
    let ctx = env.context(
        "deep",
        &[("Dockerfile", "FROM scratch\nCOPY deep /copied/\nADD deep.tar.gz /added/\n")],
    );
    let mut dir = ctx.join("deep");
    let mut tar =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let mut rel = String::from("deep");
    for i in 0..500 {
        dir.push("d");
        rel.push_str("/d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("f"), format!("{i}\n")).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        tar.append_data(&mut header, &rel, std::io::empty()).unwrap();
        let body = format!("{i}\n");
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(body.len() as u64);
        tar.append_data(&mut header, format!("{rel}/f"), body.as_bytes()).unwrap();
    }
    std::fs::write(ctx.join("deep.tar.gz"), tar.into_inner().unwrap().finish().unwrap()).unwrap();
    let out_dir = env.dir.path().join("deep-out");
    let output = format!("type=local,dest={}", out_dir.display());
    let out = env.build(&ctx, &["--output", &output]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for top in ["copied", "added/deep"] {
        let deepest = out_dir.join(top).join(["d"; 500].join("/")).join("f");
        assert_eq!(std::fs::read_to_string(&deepest).unwrap(), "499\n", "{top}");
        let files = walkdir::WalkDir::new(out_dir.join(top))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .count();
        assert_eq!(files, 500, "{top}");
    }
}

#[test]
fn a_full_disk_is_named_as_such_with_the_step() {
    if !have_root() {
        return;
    }
    // The store on a small tmpfs of the test's own (unmounted at the end).
    let env = Env::new();
    let small = env.dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let store = small.join("store");
    let saved = env.dir.path().join("base.tar");
    let out = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["save", "-o", saved.to_str().unwrap(), "busybox:local"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = rbuild()
        .env("RBUILD_ROOT", &store)
        .args(["load", "-i", saved.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A RUN that fits in the upper dir, whose layer then does not.
    let free = Command::new("df").args(["-B1", "--output=avail"]).arg(&small).output().unwrap();
    let free: u64 =
        String::from_utf8_lossy(&free.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
    let size = free * 6 / 10;
    let ctx = env.context(
        "full",
        &[("Dockerfile", &format!("FROM busybox:local\nRUN head -c {size} /dev/urandom > /x\n"))],
    );
    let out = rbuild()
        .env("RBUILD_ROOT", &store)
        .args(["build", "--progress=plain"])
        .arg(&ctx)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("Dockerfile:2"), "{shown}");
    assert!(
        shown.contains("no space left on device while storing the layer of this step"),
        "{shown}"
    );
    assert!(!shown.contains("/blobs/sha256/.tmp"), "a temp path: {shown}");
    // COPY of a file larger than what is left.
    let ctx = env.context("full-copy", &[("Dockerfile", "FROM busybox:local\nCOPY big /big\n")]);
    std::fs::write(ctx.join("big"), vec![7u8; (free + (1 << 20)) as usize]).unwrap();
    let out = rbuild()
        .env("RBUILD_ROOT", &store)
        .args(["build", "--progress=plain"])
        .arg(&ctx)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("Dockerfile:2"), "{shown}");
    assert!(shown.to_lowercase().contains("no space left on device"), "{shown}");
    assert!(!shown.contains("exited with code 125"), "{shown}");
}

#[test]
fn a_step_reaches_an_ssh_agent_only_when_the_build_is_given_one() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let agent = env.dir.path().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&agent).unwrap();
    let df = "FROM busybox:local\n\
              RUN --mount=type=ssh if test -S \"$SSH_AUTH_SOCK\"; then echo agent-there; \
              else echo no-agent; fi\n";
    let ctx = env.context("ssh", &[("Dockerfile", df)]);
    let build = |args: &[&str], sock: Option<&Path>| {
        let mut cmd = rbuild();
        cmd.env("RBUILD_ROOT", &env.store).env_remove("SSH_AUTH_SOCK");
        if let Some(sock) = sock {
            cmd.env("SSH_AUTH_SOCK", sock);
        }
        let out =
            cmd.args(["build", "--progress=plain", "--no-cache"]).args(args).arg(&ctx).output();
        let out = out.unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // This machine's agent is in the environment, but not given: no agent.
    let (code, err) = build(&[], Some(&agent));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("  no-agent\n") && !err.contains("  agent-there\n"), "{err}");
    // Given, as buildx takes it: `default` ($SSH_AUTH_SOCK) or ID=SOCKET.
    let (code, err) = build(&["--ssh", "default"], Some(&agent));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("  agent-there\n"), "{err}");
    let given = format!("default={}", agent.display());
    let (code, err) = build(&["--ssh", &given], None);
    assert!(code == Some(0) && err.contains("  agent-there\n"), "{err}");
    // A required agent that was not given fails the step, saying what to pass.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\nRUN --mount=type=ssh,id=work,required=true true\n",
    )
    .unwrap();
    let (code, err) = build(&[], Some(&agent));
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no SSH agent \"work\" was forwarded to the build; pass --ssh work=SOCKET"),
        "{err}"
    );
    // Not an agent, or none to take: refused before the build.
    let key = env.dir.path().join("id_ed25519");
    std::fs::write(&key, "not a socket\n").unwrap();
    let (code, err) = build(&["--ssh", &format!("work={}", key.display())], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an agent's socket"), "{err}");
    let (code, err) = build(&["--ssh", "default"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("SSH_AUTH_SOCK is not set"), "{err}");
}

#[test]
fn quiet_prints_the_image_id_alone_or_the_error_alone() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx =
        env.context("quiet", &[("Dockerfile", "FROM busybox:local\nARG UNUSED\nRUN echo built\n")]);
    let out = env.build(&ctx, &["-q", "-t", "quiet:1", "--build-arg", "NOBODY=1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no progress, no warning");
    let id = String::from_utf8_lossy(&out.stdout).into_owned();
    let inspected = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["image", "inspect", "--format", "{{.Id}}", "quiet:1"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&inspected.stdout), id, "stdout is the image id");
    assert!(id.starts_with("sha256:") && id.len() == 72, "{id:?}");
    // --platform: this machine's is taken (scripts name it), another refused.
    let host = rbuild_llb::Platform::host().to_string();
    let out = env.build(&ctx, &["-q", "--platform", &host]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let other = if host == "linux/arm64" { "linux/amd64" } else { "linux/arm64" };
    let out = env.build(&ctx, &["-q", "--platform", other]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only this machine's"), "{out:?}");
    // --progress=quiet is the same; a failure prints its error only.
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local\nRUN echo about-to-fail; exit 3\n")
        .unwrap();
    let out = env.build(&ctx, &["--progress=quiet"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("rbuild: build failed\n") && err.contains("exited with code 3"),
        "{err}"
    );
    assert!(!err.contains("running"), "no progress lines: {err}");
}

#[test]
fn the_metadata_file_has_buildxs_keys_for_the_built_image() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context("meta", &[("Dockerfile", "FROM busybox:local\nRUN echo built > /b\n")]);
    let meta = env.dir.path().join("meta.json");
    let out = env.build(
        &ctx,
        &[
            "-t",
            "meta:1",
            "-t",
            "reg.example/team/meta:2",
            "--metadata-file",
            meta.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let inspected = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["image", "inspect", "--format", "{{.Id}}", "meta:1"])
        .output()
        .unwrap();
    assert_eq!(
        value["containerimage.config.digest"],
        String::from_utf8_lossy(&inspected.stdout).trim()
    );
    assert_eq!(value["image.name"], "docker.io/library/meta:1,reg.example/team/meta:2");
    // The digest is the manifest's: its blob is in the store, of that size.
    let digest = value["containerimage.digest"].as_str().unwrap();
    assert_eq!(value["containerimage.descriptor"]["digest"], digest);
    assert_eq!(
        value["containerimage.descriptor"]["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    let blob = env.store.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap());
    let bytes = std::fs::read(&blob).unwrap();
    assert_eq!(value["containerimage.descriptor"]["size"], bytes.len());
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["config"]["digest"], value["containerimage.config.digest"]);
    // A failed build writes none.
    std::fs::remove_file(&meta).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:local\nRUN exit 1\n").unwrap();
    let out = env.build(&ctx, &["--metadata-file", meta.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!meta.exists());
}

#[test]
fn standard_input_is_the_dockerfile_or_the_context_as_with_docker() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let piped = |args: &[&str], input: &[u8]| {
        use std::io::Write as _;
        let mut child = rbuild()
            .env("RBUILD_ROOT", &env.store)
            .args(["build", "--progress=plain"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let ctx = env.context("stdin", &[("a.txt", "from the context\n")]);
    let ctx_arg = ctx.to_str().unwrap();
    // -f -: the Dockerfile from standard input, the context a directory.
    let (code, err) =
        piped(&["-f", "-", ctx_arg], b"FROM busybox:local\nCOPY a.txt /\nRUN cat /a.txt\n");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("  from the context\n"), "{err}");
    let (code, err) = piped(&["-f", "-", ctx_arg], b"FROM busybox:local\nNOPE x\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("<stdin>:2:1"), "named as standard input: {err}");
    assert!(!err.contains("rbuild-stdin-"), "no temp path: {err}");
    // `-`: a Dockerfile alone, no context to copy from.
    let (code, err) = piped(&["-"], b"FROM busybox:local\nRUN echo no context\n");
    assert!(code == Some(0) && err.contains("  no context\n"), "{err}");
    let (code, err) = piped(&["-"], b"FROM busybox:local\nCOPY a.txt /\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("<stdin>:2") && err.contains("\"a.txt\": not found"), "{err}");
    // `-`: a context tar (here gzip), its Dockerfile named by -f inside it.
    let mut tar =
        tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for (path, body) in [
        ("b.txt", &b"from the tar\n"[..]),
        ("build/Dockerfile", &b"FROM busybox:local\nCOPY b.txt /\nRUN cat /b.txt\n"[..]),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, path, body).unwrap();
    }
    let gz = tar.into_inner().unwrap().finish().unwrap();
    let (code, err) = piped(&["-f", "build/Dockerfile", "-"], &gz);
    assert!(code == Some(0) && err.contains("  from the tar\n"), "{err}");
    let (code, err) = piped(&["-f", "-", "-"], b"FROM scratch\n");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be both"), "{err}");
}

#[test]
fn no_cache_filter_runs_the_named_stage_again_and_the_rest_hits() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local AS deps\nRUN echo deps > /d\n\
              FROM busybox:local AS app\nCOPY --from=deps /d /d\nRUN echo app\n";
    let ctx = env.context("filter", &[("Dockerfile", df)]);
    env.build_report(&ctx, &[]);
    let report = env.build_report(&ctx, &["--no-cache-filter", "DEPS"]);
    let ran: Vec<(String, bool, String)> = steps(&report);
    assert_eq!(
        ran,
        [
            ("RUN echo deps > /d".to_owned(), false, "--no-cache-filter deps".to_owned()),
            ("COPY --from=deps /d /d".to_owned(), true, String::new()),
            ("RUN echo app".to_owned(), true, String::new()),
        ],
        "the same output, so what uses it hits"
    );
    let out = env.build(&ctx, &["--progress=plain", "--no-cache-filter", "nope,app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: --no-cache-filter nope: the Dockerfile has no stage of that name"),
        "{err}"
    );
    assert!(err.contains("RUN echo app  running (--no-cache-filter app)"), "{err}");
}
