//! When a build fails: complete logs of every step, and what names them.

use crate::build::Env;
use crate::util::{eventually, have_root};

/// 3 MiB of lines, some not UTF-8, none alike.
fn big_output() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < 3 << 20 {
        out.extend_from_slice(format!("line {i:07} ").as_bytes());
        out.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 60));
        if i.is_multiple_of(1000) {
            out.extend_from_slice(&[0xff, 0xfe, 0x80]);
        }
        out.push(b'\n');
        i += 1;
    }
    out
}

#[test]
fn every_steps_whole_output_is_in_its_log_and_a_failure_names_its_file() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let big = big_output();
    let ctx = env.context("logs", &[("Dockerfile", "FROM busybox:local\nCOPY big.txt /big.txt\nRUN cat /big.txt\nRUN echo failing; exit 3\n")]);
    std::fs::write(ctx.join("big.txt"), &big).unwrap();
    let logs = env.dir.path().join("step-logs");
    let out = env.build(&ctx, &["--progress=plain", "--log-dir", logs.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);

    // The 3 MiB step: its log is its output, byte for byte, and plain
    // progress showed every line of it.
    let mut files: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let names: Vec<String> =
        files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["0-line3-0.1.log", "0-line4-0.2.log"], "one log per RUN");
    assert!(std::fs::read(&files[0]).unwrap() == big, "the log holds all {} bytes", big.len());
    let lines = big.iter().filter(|b| **b == b'\n').count();
    let shown = err.lines().filter(|l| l.starts_with("  line ")).count();
    assert_eq!(shown, lines, "--progress=plain clips nothing");

    // The failed step: its log, named in the failure.
    assert_eq!(std::fs::read_to_string(&files[1]).unwrap(), "failing\n");
    assert!(
        err.contains(&format!("full log: {}", files[1].display())),
        "{}",
        &err[err.len().saturating_sub(600)..]
    );
}

#[test]
fn github_progress_annotates_the_failed_step_and_warnings_and_writes_the_summary() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local\nENV A=$NOPE\nRUN echo ran\nRUN echo \"a, b: 100%\"; exit 3\n";
    let ctx = env.context("gh", &[("Dockerfile", df)]);
    let summary = env.dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier\n").unwrap();
    let dockerfile = ctx.join("Dockerfile");
    // Automatic on GitHub Actions: --progress=auto is github there.
    let out = crate::util::rbuild()
        .env("RBUILD_ROOT", &env.store)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["build", "-f"])
        .arg(&dockerfile)
        .arg(&ctx)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let file = dockerfile.display().to_string().replace(':', "%3A").replace(',', "%2C");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "::warning file={file},line=2::Usage of undefined variable '$NOPE'\n\
             ::error file={file},line=4,title=RUN echo \"a%2C b%3A 100%25\"; exit 3::exit code 3\n"
        ),
        "the workflow commands, escaped as GitHub documents"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("  ran\n") && err.contains("exited with code 3"),
        "plain lines too: {err}"
    );
    // The summary, appended; seconds vary, so they are checked to be numbers.
    let text = std::fs::read_to_string(&summary).unwrap();
    let rows: Vec<String> = text
        .lines()
        .map(|l| {
            let mut cells: Vec<&str> = l.split(" | ").collect();
            if cells.len() == 4 && cells[2].parse::<f64>().is_ok() {
                cells[2] = "S";
            }
            cells.join(" | ")
        })
        .collect();
    assert_eq!(
        rows,
        [
            "earlier".to_owned(),
            format!("### rbuild build of {}", dockerfile.display()),
            String::new(),
            "| Step | Result | Seconds | Why it ran |".to_owned(),
            "|---|---|---:|---|".to_owned(),
            "| [0] RUN echo ran | ran | S | no earlier build |".to_owned(),
            "| [0] RUN echo \"a, b: 100%\"; exit 3 | **failed**: exit code 3 | S | no earlier build |"
                .to_owned(),
            String::new(),
        ]
    );
}

/// Whether tmux is here (in CI it must be).
fn have_tmux() -> bool {
    let found = std::process::Command::new("tmux").arg("-V").output().is_ok();
    assert!(found || std::env::var_os("CI").is_none(), "tmux is needed in CI");
    found
}

#[test]
fn on_failure_shell_opens_a_shell_in_the_failed_steps_state() {
    if !have_root() || !have_tmux() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local\nRUN echo partial-content > /partial.txt; echo wrote; exit 4\n";
    let ctx = env.context("shell", &[("Dockerfile", df)]);
    let code = env.dir.path().join("exit-code");
    let command = format!(
        "RBUILD_ROOT={} {} build --on-failure=shell {}",
        env.store.display(),
        env!("CARGO_BIN_EXE_rbuild"),
        ctx.display()
    );
    // (capture-pane drops the prompt's trailing space)
    let prompt = |pane: &str| pane.lines().any(|l| l.trim_end() == "/ #");
    let shown = in_tmux(&command, prompt, Some("cat /partial.txt; exit"), &code);
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "1", "the usual failure: {shown}");
    let lines: Vec<&str> = shown.lines().map(str::trim_end).collect();
    let typed = lines.iter().position(|l| l.ends_with("cat /partial.txt; exit")).expect(&shown);
    assert_eq!(lines[typed + 1], "partial-content", "the failed step's file: {shown}");
    assert!(shown.contains("the command exited with code 4"), "{shown}");
    assert!(crate::util::mounts_under(&env.store).is_empty());
    // (The tmux server, going away, still shows the command it started.)
    let left: Vec<String> = crate::util::processes_with(&env.store.display().to_string())
        .into_iter()
        .filter(|p| !p.contains("tmux -L"))
        .collect();
    assert!(left.is_empty(), "{left:?}");

    // No terminal: a warning, and the failure as usual.
    let out = env.build(&ctx, &["--on-failure=shell"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--on-failure=shell needs a terminal") && err.contains("code 4"), "{err}");
    let out = env.build(&ctx, &["--on-failure=nap"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Runs `command` in a tmux session of its own on a private server; types
/// `keys` once the pane shows `ready`; returns the pane and the exit code
/// the command left in `code`.
fn in_tmux(
    command: &str,
    ready: impl Fn(&str) -> bool,
    keys: Option<&str>,
    code: &std::path::Path,
) -> String {
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = format!("rbuild-test-{}-t{n}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux").args(["-L", &socket]).args(args).output().unwrap()
    };
    let full = format!("{command}; echo $? > {}; sleep 600", code.display());
    let started = tmux(&["new-session", "-d", "-s", "t", "-x", "200", "-y", "50", &full]);
    assert!(started.status.success(), "{started:?}");
    let pane = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-S", "-200", "-t", "t"]).stdout)
            .into_owned()
    };
    let mut last = String::new();
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("the pane never got ready", || {
            last = pane();
            ready(&last)
        });
        if let Some(keys) = keys {
            tmux(&["send-keys", "-t", "t", keys, "Enter"]);
        }
        eventually("the command did not end", || code.is_file());
    }));
    let shown = pane();
    let _ = tmux(&["kill-server"]);
    if waited.is_err() {
        panic!("tmux: {last}");
    }
    shown
}

#[test]
fn rbuild_debug_opens_a_shell_after_any_step_of_an_image_or_the_last_build() {
    if !have_root() || !have_tmux() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local\nRUN echo one > /one\nRUN echo two > /two\n";
    let ctx = env.context("debug", &[("Dockerfile", df)]);
    let out = env.build(&ctx, &["-t", "dbg:1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rbuild = format!("RBUILD_ROOT={} {}", env.store.display(), env!("CARGO_BIN_EXE_rbuild"));
    let prompt = |pane: &str| pane.lines().any(|l| l.trim_end() == "/ #");

    // After step 4 of 5 (busybox:local's three, then RUN one): /one, no /two.
    let code = env.dir.path().join("code-step");
    let shown = in_tmux(
        &format!("{rbuild} debug --step 4 dbg:1"),
        prompt,
        Some("ls /one /two; exit"),
        &code,
    );
    assert!(
        shown.contains("\n/one\n") && shown.contains("/two: No such file or directory"),
        "{shown}"
    );
    assert!(
        shown.contains("the state after step 4 of 5 of dbg:1: RUN /bin/sh -c echo one"),
        "{shown}"
    );
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "1", "the shell's own exit code");

    // `last`, with a command of its own.
    let code = env.dir.path().join("code-last");
    let shown =
        in_tmux(&format!("{rbuild} debug last -- cat /two"), |p| p.contains("two"), None, &code);
    assert!(shown.lines().any(|l| l.trim_end() == "two"), "{shown}");
    assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "0");
    assert!(crate::util::mounts_under(&env.store).is_empty());

    // Bad asks say what is wrong.
    let code = env.dir.path().join("code-bad");
    let shown = in_tmux(&format!("{rbuild} debug --step 9 dbg:1"), |_| true, None, &code);
    assert!(shown.contains("--step 9: dbg:1 has 5 steps in its history (1 to 5)"), "{shown}");
    let out = crate::util::rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["debug", "dbg:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a terminal"));
}

/// `rbuild debug ARGS` on the store `store`, without a terminal.
fn debug(store: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = crate::util::rbuild().env("RBUILD_ROOT", store).arg("debug").args(args).output();
    let out = out.unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn on_failure_keep_keeps_the_failed_state_and_debug_last_opens_any_step_by_line() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let df = "FROM busybox:local\n\
              ENV EARLY=e\n\
              WORKDIR /work\n\
              RUN echo base > base.txt\n\
              ENV LATER=l\n\
              SHELL [\"/bin/sh\", \"-e\", \"-c\"]\n\
              RUN echo partial > /partial.txt; \\\n    echo \"$LATER\"; exit 4\n";
    let ctx = env.context("keep", &[("Dockerfile", df)]);
    let out = env.build(&ctx, &["--on-failure=keep", "--progress=plain"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("its state is kept in the store") && err.contains("code 4"), "{err}");

    // By default, the failed step's own state, with its env and workdir.
    let (code, stdout, notes) = debug(
        &env.store,
        &["last", "--", "sh", "-c", "cat /partial.txt base.txt; pwd; echo $EARLY$LATER"],
    );
    assert_eq!(code, Some(0), "{notes}");
    assert_eq!(stdout, "partial\nbase\n/work\nel\n");
    assert!(notes.contains("Dockerfile:7 `RUN echo partial"), "{notes}");
    assert!(notes.contains("failed in, with exit code 4"), "{notes}");
    assert!(notes.contains("its command: /bin/sh -e -c echo partial"), "{notes}");
    // The line of a continuation is the step's too.
    let (code, stdout, _) =
        debug(&env.store, &["--line", "8", "last", "--", "cat", "/partial.txt"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "partial\n"));

    // An earlier step, by line: its files, and the env as it was there.
    let (code, stdout, notes) = debug(
        &env.store,
        &[
            "--line",
            "4",
            "last",
            "--",
            "sh",
            "-c",
            "cat base.txt; ls /partial.txt; echo \"[$EARLY][$LATER]\"",
        ],
    );
    assert_eq!(code, Some(0), "{notes}");
    assert_eq!(stdout, "base\n[e][]\n", "{notes}");
    assert!(
        notes.contains("No such file")
            && notes.contains("after ")
            && notes.contains("Dockerfile:4 `RUN echo base"),
        "{notes}"
    );

    // A line without a state of its own, and an image asked by line.
    let (code, _, notes) = debug(&env.store, &["--line", "5", "last", "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(notes.contains("Dockerfile:5: no step of the last build"), "{notes}");
    assert!(notes.contains("lines 3, 4") && notes.contains("failed at line 7"), "{notes}");
    let (code, _, notes) = debug(&env.store, &["--line", "2", "busybox:local", "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(notes.contains("--line needs the last build"), "{notes}");
    assert!(crate::util::mounts_under(&env.store).is_empty());

    // Without keep, the failure is recorded but its state is not there.
    let out = env.build(&ctx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let (code, _, notes) = debug(&env.store, &["last", "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(
        notes.contains("its state was not kept: build again with --on-failure=keep"),
        "{notes}"
    );

    // --on-failure=shell without a terminal keeps the state instead.
    let out = env.build(&ctx, &["--on-failure=shell"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--on-failure=shell needs a terminal; a failed step's state is kept"),
        "{err}"
    );
    let (code, stdout, _) = debug(&env.store, &["last", "--", "cat", "/partial.txt"]);
    assert_eq!((code, stdout.as_str()), (Some(0), "partial\n"));

    // The kept state goes with the build cache.
    let out = crate::util::rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["builder", "prune", "-a", "-f"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _, notes) = debug(&env.store, &["last", "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(notes.contains("no build has ended in this store since"), "{notes}");
}

#[test]
fn a_failure_bundle_reopens_on_an_empty_store_without_secret_values() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let secret = "s3cr3t-VALUE-4711";
    let df = "FROM busybox:local\n\
              ARG FLAVOUR=plain\n\
              WORKDIR /src\n\
              RUN --mount=type=secret,id=token --mount=type=cache,target=/cache \\\n    \
              echo partial-$FLAVOUR > /partial.txt; cat /run/secrets/token; echo; exit 5\n";
    let ctx = env.context("bundle", &[("Dockerfile", df)]);
    let secret_file = env.dir.path().join("token");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let bundle = env.dir.path().join("failure.tar");
    let out = env.build(
        &ctx,
        &[
            "--secret",
            &format!("id=token,src={}", secret_file.display()),
            "--build-arg",
            "FLAVOUR=spicy",
            "--failure-bundle",
            bundle.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("the failure bundle is {}", bundle.display())), "{err}");
    let bytes = std::fs::read(&bundle).unwrap();
    assert!(
        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret's value is in the bundle"
    );
    let grep = std::process::Command::new("grep").args(["-a", "-c", secret]).arg(&bundle).output();
    assert_eq!(grep.unwrap().status.code(), Some(1), "grep finds the secret's value in the bundle");
    // It is a docker archive, as skopeo reads it.
    let inspected = std::process::Command::new("skopeo")
        .args(["inspect", "--config", &format!("docker-archive:{}", bundle.display())])
        .output()
        .unwrap();
    assert!(inspected.status.success(), "{}", String::from_utf8_lossy(&inspected.stderr));
    let config: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(config["config"]["WorkingDir"], "/src");
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh"]));

    // Another store, empty: the failed step's files, env and workdir.
    let other = env.dir.path().join("other-store");
    let (code, stdout, notes) = debug(
        &other,
        &[bundle.to_str().unwrap(), "--", "sh", "-c", "cat /partial.txt; pwd; echo $FLAVOUR"],
    );
    assert_eq!(code, Some(0), "{notes}");
    assert_eq!(stdout, "partial-spicy\n/src\nspicy\n");
    assert!(notes.contains("failed in, with exit code 5"), "{notes}");
    assert!(notes.contains("not mounted here: secret token, cache /cache"), "{notes}");
    assert!(notes.contains("its last output:") && notes.contains("    ****"), "{notes}");
    assert!(!notes.contains(secret), "{notes}");
    assert!(crate::util::mounts_under(&other).is_empty());

    // On a terminal, in a third store: the state's shell, where the step was.
    if have_tmux() {
        let third = env.dir.path().join("third-store");
        let rbuild = format!("RBUILD_ROOT={} {}", third.display(), env!("CARGO_BIN_EXE_rbuild"));
        let code = env.dir.path().join("code-bundle");
        let prompt = |pane: &str| pane.lines().any(|l| l.trim_end() == "/src #");
        let shown = in_tmux(
            &format!("{rbuild} debug {}", bundle.display()),
            prompt,
            Some("cat /partial.txt; exit 3"),
            &code,
        );
        let lines: Vec<&str> = shown.lines().map(str::trim_end).collect();
        let typed =
            lines.iter().position(|l| l.ends_with("cat /partial.txt; exit 3")).expect(&shown);
        assert_eq!(lines[typed + 1], "partial-spicy", "{shown}");
        assert_eq!(std::fs::read_to_string(&code).unwrap().trim(), "3", "{shown}");
        assert!(crate::util::mounts_under(&third).is_empty());
    }

    // Cut short, damaged, or not a bundle: said of the user's file.
    let cut = env.dir.path().join("cut.tar");
    let record_at = bytes.windows(19).position(|w| w == b"rbuild-failure.json").unwrap();
    for (name, content) in [
        ("half", bytes[..bytes.len() / 2].to_vec()),
        ("record", bytes[..record_at].to_vec()),
        ("flipped", {
            let mut b = bytes.clone();
            b[bytes.len() / 2] ^= 0x55;
            b
        }),
    ] {
        std::fs::write(&cut, &content).unwrap();
        let (code, _, notes) = debug(&other, &[cut.to_str().unwrap(), "--", "true"]);
        assert_eq!(code, Some(1), "{name}: {notes}");
        assert!(
            notes.contains(&format!("{}: not a usable failure bundle", cut.display())),
            "{name}: {notes}"
        );
        assert!(!notes.contains(&other.display().to_string()), "a path of the store: {notes}");
        let why = match name {
            "half" => "reading its next entry: unexpected EOF",
            "record" => "it has no rbuild-failure.json (it is cut short",
            _ => "expected digest sha256:", // (after the blob's name)
        };
        let said = notes.split_once("failure bundle: ").map(|(_, s)| s).unwrap_or_default();
        assert!(said.starts_with(why) || (name == "flipped" && said.contains(why)), "{notes}");
    }
    let saved = env.dir.path().join("saved.tar");
    let out = crate::util::rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["save", "-o", saved.to_str().unwrap(), "busybox:local"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, _, notes) = debug(&other, &[saved.to_str().unwrap(), "--", "true"]);
    assert_eq!(code, Some(1));
    assert!(notes.contains("it has no rbuild-failure.json"), "{notes}");

    // A step that fails before a command runs leaves no bundle, and says so.
    let ctx = env.context("no-bundle", &[("Dockerfile", "FROM busybox:local\nCOPY absent /\n")]);
    let none = env.dir.path().join("none.tar");
    let out = env.build(&ctx, &["--failure-bundle", none.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed before a command ran: no failure bundle"), "{err}");
    assert!(!none.exists());
}
