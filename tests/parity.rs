//! Where `docker build` (BuildKit, checked against docker 26.1) and rbuild
//! must give the same image: each test states BuildKit's behaviour as its
//! expectation and compares the image's config and files.

use std::path::{Path, PathBuf};

use crate::build::Env;
use crate::util::{have_root, rbuild};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Builds `ctx` as `name`, its file system written to a directory too.
fn build(env: &Env, ctx: &Path, name: &str) -> PathBuf {
    let out_dir = env.dir.path().join(format!("{name}-fs"));
    let output = format!("type=local,dest={}", out_dir.display());
    let out = env.build(ctx, &["-t", name, "--output", &output]);
    assert!(out.status.success(), "{name}: {}", text(&out));
    out_dir
}

/// `image inspect NAME`'s first object.
fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let out =
        rbuild().env("RBUILD_ROOT", &env.store).args(["image", "inspect", name]).output().unwrap();
    assert!(out.status.success(), "inspect {name}: {}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list[0].clone()
}

#[test]
fn workdir_is_kept_as_written_scratch_gets_slash_and_run_sees_no_hostname_variable() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    // BuildKit: an image from scratch has WorkingDir "/".
    let ctx = env.context("scratch", &[("Dockerfile", "FROM scratch\nCOPY f /f\n"), ("f", "x\n")]);
    build(&env, &ctx, "from-scratch:1");
    assert_eq!(inspect(&env, "from-scratch:1")["Config"]["WorkingDir"], "/");
    // BuildKit: an absolute WORKDIR stays as written in the config and the
    // history (`/tmp/`, `/x/./y/`), a relative one is joined and cleaned;
    // the directory is made; a RUN's environment has HOME and PATH (and
    // PWD from the shell) but no HOSTNAME, though the hostname is set.
    let ctx = env.context(
        "workdir",
        &[(
            "Dockerfile",
            "FROM busybox:local\nWORKDIR /tmp/\nRUN pwd > /p1\nWORKDIR /x/./y/\n\
             RUN pwd > /p2 && env | sort > /env && hostname > /host\n",
        )],
    );
    let fs = build(&env, &ctx, "workdir:1");
    let image = inspect(&env, "workdir:1");
    assert_eq!(image["Config"]["WorkingDir"], "/x/./y/");
    assert_eq!(std::fs::read_to_string(fs.join("p1")).unwrap(), "/tmp\n");
    assert_eq!(std::fs::read_to_string(fs.join("p2")).unwrap(), "/x/y\n");
    assert!(fs.join("x/y").is_dir());
    assert_eq!(std::fs::read_to_string(fs.join("host")).unwrap(), "buildkitsandbox\n");
    let env_lines = std::fs::read_to_string(fs.join("env")).unwrap();
    let names: Vec<&str> = env_lines.lines().filter_map(|l| l.split('=').next()).collect();
    assert_eq!(names, ["HOME", "PATH", "PWD", "SHLVL"], "{env_lines}");
    let ctx = env.context(
        "workdir-rel",
        &[("Dockerfile", "FROM workdir:1\nWORKDIR z/../w\nRUN pwd > /p3\n")],
    );
    let fs = build(&env, &ctx, "workdir-rel:1");
    assert_eq!(inspect(&env, "workdir-rel:1")["Config"]["WorkingDir"], "/x/y/w");
    assert_eq!(std::fs::read_to_string(fs.join("p3")).unwrap(), "/x/y/w\n");
    let out = rbuild()
        .env("RBUILD_ROOT", &env.store)
        .args(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "workdir-rel:1"])
        .output()
        .unwrap();
    let history = String::from_utf8_lossy(&out.stdout);
    assert!(history.contains("WORKDIR /x/y/w") && history.contains("WORKDIR /x/./y/"), "{history}");
}
