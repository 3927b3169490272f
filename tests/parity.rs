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

#[test]
fn copy_owners_wildcards_and_destination_directories_as_buildkit_makes_them() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "copy",
        &[
            ("a1.txt", "a1\n"),
            ("a2.txt", "a2\n"),
            ("f.txt", "f\n"),
            ("sub/dir1/x", "d\n"),
            (
                "Dockerfile",
                "FROM busybox:local AS a\n\
                 RUN echo 'app:x:1000:2000:app:/home/app:/bin/sh' >> /etc/passwd && \
                 echo 'grp:x:2000:' >> /etc/group && mkdir -p /out/inner && echo hi > /out/o && \
                 echo in > /out/inner/i && chown 65:65 /out/o && chown -R 65:66 /out/inner && \
                 chmod 0700 /out && chmod 0750 /out/inner\n\
                 FROM a\n\
                 COPY --chown=app f.txt /chown-user\n\
                 COPY --chown=1000 f.txt /chown-uid\n\
                 COPY --chown=app:0 f.txt /chown-group\n\
                 COPY a?.txt /out1\n\
                 COPY nomatch* /d/\n\
                 COPY f.txt missing* /d2/\n\
                 COPY --from=a /out/o /from-o\n\
                 COPY --from=a /out /from-dir\n\
                 COPY sub/dir1/ /d4\n\
                 COPY sub/dir1/. /d5\n\
                 COPY --chown=app sub/dir1/ /d6\n\
                 COPY --from=a --chmod=0644 /out /d7\n\
                 RUN stat -c '%n %u:%g %a' /chown-user /chown-uid /chown-group /out1 /from-o \
                 /from-dir /from-dir/o /from-dir/inner /from-dir/inner/i /d4 /d4/x /d5 /d6 /d6/x \
                 /d7 /d7/o /d2 /d2/f.txt > /stat && cat /out1 >> /stat && \
                 { test -e /d && echo d-exists || echo no-d; } >> /stat\n",
            ),
        ],
    );
    std::fs::set_permissions(
        ctx.join("sub/dir1"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let fs = build(&env, &ctx, "copy:1");
    // What docker 26.1 (BuildKit v0.13) wrote for the same Dockerfile:
    // a user name alone takes its primary group, a uid alone itself; one
    // wildcard onto a file path copies each match onto it (the last wins);
    // a wildcard matching nothing is skipped and makes nothing; COPY --from
    // keeps owners, context files are 0:0; a destination made for a
    // directory's contents is 0755 and 0:0 (or --chown's), whatever the
    // source directory's mode and --chmod.
    let expected = "\
/chown-user 1000:2000 644
/chown-uid 1000:1000 644
/chown-group 1000:0 644
/out1 0:0 644
/from-o 65:65 644
/from-dir 0:0 755
/from-dir/o 65:65 644
/from-dir/inner 65:66 750
/from-dir/inner/i 65:66 644
/d4 0:0 755
/d4/x 0:0 644
/d5 0:0 755
/d6 1000:2000 755
/d6/x 1000:2000 644
/d7 0:0 755
/d7/o 65:65 644
/d2 0:0 755
/d2/f.txt 0:0 644
a2
no-d
";
    assert_eq!(std::fs::read_to_string(fs.join("stat")).unwrap(), expected);
}

/// One entry of a hand-made tar: name, kind, link target, body.
type RawEntry<'a> = (&'a str, tar::EntryType, &'a str, &'a str);

/// A tar of `entries`, written byte by byte.
fn tar_of(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, link, body) in entries {
        rbuild_test::raw_tar_entry(
            &mut out,
            name.as_bytes(),
            *kind,
            link.as_bytes(),
            body.as_bytes(),
        );
    }
    rbuild_test::raw_tar_end(&mut out);
    out
}

#[test]
fn add_of_hostile_archives_stays_inside_its_destination_and_pax_globals_make_nothing() {
    if !have_root() {
        return;
    }
    use tar::EntryType::{Directory, Link, Regular, Symlink, XGlobalHeader};
    let env = Env::new();
    let ctx = env.context("hostile", &[]);
    let archives: [(&str, Vec<RawEntry<'_>>); 7] = [
        ("t1.tar", vec![("l", Symlink, "..", ""), ("l/etc/f", Regular, "", "dotdot\n")]),
        ("t2.tar", vec![("r", Symlink, "/", ""), ("r/etc/g", Regular, "", "root\n")]),
        (
            "t3.tar",
            vec![
                ("a", Symlink, "b", ""),
                ("b", Symlink, "../..", ""),
                ("a/chain", Regular, "", "c\n"),
            ],
        ),
        (
            "t4.tar",
            vec![
                ("d", Symlink, "/etc", ""),
                ("d", Directory, "", ""),
                ("d/replaced", Regular, "", "r\n"),
            ],
        ),
        (
            "t5.tar",
            vec![
                ("x", Regular, "", "target\n"),
                ("up", Symlink, "../../..", ""),
                ("hl2", Link, "up/x", ""),
                ("s", Symlink, "/etc", ""),
                ("s/hl", Link, "x", ""),
            ],
        ),
        (
            "t6.tar",
            vec![
                ("gdir/pax_global_header", XGlobalHeader, "", "18 comment=global\n"),
                ("p/file", Regular, "", "pax\n"),
            ],
        ),
        ("t7.tar", vec![("pre/inimage", Regular, "", "through the image's link\n")]),
    ];
    for (name, entries) in &archives {
        std::fs::write(ctx.join(name), tar_of(entries)).unwrap();
    }
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:local\n\
         RUN mkdir -p /sub1 /sub2 /sub3 /sub4 /sub5 /sub6 /sub7 /elsewhere && ln -s /elsewhere /sub7/pre\n\
         ADD t1.tar /sub1/\nADD t2.tar /sub2/\nADD t3.tar /sub3/\nADD t4.tar /sub4/\n\
         ADD t5.tar /sub5/\nADD t6.tar /sub6/\nADD t7.tar /sub7/\n\
         RUN find /sub1 /sub2 /sub3 /sub4 /sub6 > /list0 2>&1; sort /list0 > /list; stat -c '%n %h' /sub5/x >> /list\n",
    )
    .unwrap();
    let fs = build(&env, &ctx, "hostile:1");
    // What docker 26.1 lists for t1–t4 and t6, and t5's hard link through
    // `up -> ../../..` landing on /sub5/x (two names): every link an
    // archive makes resolves inside the destination; the pax global header
    // makes nothing.
    let expected = "\
/sub1\n/sub1/etc\n/sub1/etc/f\n/sub1/l\n/sub2\n/sub2/etc\n/sub2/etc/g\n/sub2/r\n\
/sub3\n/sub3/a\n/sub3/b\n/sub3/chain\n/sub4\n/sub4/d\n/sub4/d/replaced\n\
/sub6\n/sub6/p\n/sub6/p/file\n/sub5/x 3\n";
    assert_eq!(std::fs::read_to_string(fs.join("list")).unwrap(), expected);
    assert!(std::fs::symlink_metadata(fs.join("sub4/d")).unwrap().is_dir());
    // `s -> /etc` then `s/hl`, and the image's own `/sub7/pre -> /elsewhere`:
    // BuildKit refuses these archives (no such directory); rbuild keeps
    // them inside the destination too. Nothing lands outside any of them.
    assert!(fs.join("sub5/etc/hl").is_file());
    assert_eq!(
        std::fs::read_to_string(fs.join("sub7/elsewhere/inimage")).unwrap(),
        "through the image's link\n"
    );
    for outside in ["etc/f", "etc/g", "chain", "etc/replaced", "etc/hl", "gdir", "x"] {
        assert!(!fs.join(outside).exists(), "{outside} landed outside its destination");
    }
    assert_eq!(std::fs::read_dir(fs.join("elsewhere")).unwrap().count(), 0);
}

#[test]
fn cache_mounts_are_told_apart_by_owner_and_mode_and_their_targets_parents_stay_new() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "cache-owner",
        &[(
            "Dockerfile",
            "FROM busybox:local\n\
             RUN mkdir -p /tmp && touch -d @1000000000 /tmp\n\
             RUN --mount=type=cache,target=/c echo one > /c/one; ls /c > /l1; stat -c '%u:%g %a' /c >> /l1\n\
             RUN --mount=type=cache,target=/c,uid=1000 ls /c > /l2; stat -c '%u:%g %a' /c >> /l2\n\
             RUN --mount=type=cache,target=/c,mode=0700 ls /c > /l3; stat -c '%u:%g %a' /c >> /l3\n\
             RUN --mount=type=cache,target=/c ls /c > /l4\n\
             RUN --mount=type=cache,target=/tmp/meta/deep echo x > /tmp/meta/deep/x\n\
             RUN cat /l1 /l2 /l3 /l4 > /all\n",
        )],
    );
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fs = build(&env, &ctx, "cache-owner:1");
    // docker 26.1: the same id with another uid or mode is another (empty)
    // cache; the default one keeps its file.
    assert_eq!(
        std::fs::read_to_string(fs.join("all")).unwrap(),
        "one\n0:0 755\n1000:0 755\n0:0 700\none\n"
    );
    // BuildKit's layer keeps /tmp, which the mount point under it copied
    // up, with the time of the build, not /tmp's old time; the mount
    // points themselves are gone.
    let tmp = std::fs::metadata(fs.join("tmp")).unwrap();
    let mtime = std::os::unix::fs::MetadataExt::mtime(&tmp);
    assert!(mtime >= before as i64, "/tmp keeps its old mtime {mtime}");
    assert!(!fs.join("tmp/meta").exists());
}

#[test]
fn unknown_users_pass_where_buildkit_lets_them_and_a_run_as_one_fails() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    // docker 26.1 on the same Dockerfile: WORKDIR and COPY under an unknown
    // USER build (what they make is 0:0); --chown with an unknown name is
    // 0, an unknown group as if none were given.
    let ctx = env.context(
        "users",
        &[
            ("f", "f\n"),
            (
                "Dockerfile",
                "FROM busybox:local\n\
                 RUN mkdir -p /etc && printf 'root:x:0:0::/:/bin/sh\\nsvc:x:1500:2500:svc:/:/bin/sh\\n' \
                 > /etc/passwd && printf 'root:x:0:\\nsvcgrp:x:2500:\\n' > /etc/group\n\
                 USER nosuch\nWORKDIR /w\nCOPY f /f\n\
                 USER svc:nogrp\nWORKDIR /w2\n\
                 USER root\n\
                 COPY --chown=nosuch f /c1\nCOPY --chown=nosuch:svcgrp f /c2\n\
                 COPY --chown=svc:nogrp f /c3\nCOPY --chown=4321:nogrp f /c4\n\
                 RUN stat -c '%n %u:%g' /w /f /w2 /c1 /c2 /c3 /c4 > /owners\n",
            ),
        ],
    );
    let fs = build(&env, &ctx, "users:1");
    assert_eq!(
        std::fs::read_to_string(fs.join("owners")).unwrap(),
        "/w 0:0\n/f 0:0\n/w2 1500:2500\n/c1 0:0\n/c2 0:2500\n/c3 1500:2500\n/c4 4321:4321\n"
    );
    // A RUN as an unknown user fails in both, saying so.
    let ctx =
        env.context("users-run", &[("Dockerfile", "FROM busybox:local\nUSER nosuch\nRUN true\n")]);
    let out = env.build(&ctx, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("nosuch"), "{}", text(&out));
    assert!(text(&out).contains("Dockerfile:3"), "{}", text(&out));
}

#[test]
fn a_directory_copys_destination_takes_the_sources_mtime_but_the_contexts_root_gives_none() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "mtimes",
        &[
            ("sub/dir1/inner/x", "x\n"),
            ("files/f", "f\n"),
            (
                "Dockerfile",
                "FROM busybox:local AS st\n\
                 RUN mkdir -p /out/in && echo o > /out/in/o && touch -d @1100000000 /out /out/in\n\
                 FROM busybox:local\n\
                 RUN mkdir -p /dest && chmod 0700 /dest && touch -d @1000000000 /dest\n\
                 COPY . /all/\nCOPY sub/dir1/ /d4\nCOPY sub/dir1/. /d5\nCOPY files /dest\n\
                 COPY sub /e/sub/\nCOPY --from=st /out /d7\n\
                 RUN stat -c '%n %Y %a' /all /all/sub /d4 /d4/inner /d5 /dest /e/sub /e/sub/dir1 \
                 /d7 /d7/in > /times\n",
            ),
        ],
    );
    let touched = std::process::Command::new("sh")
        .arg("-c")
        .arg("find . -exec touch -h -d @1500000000 {} +")
        .current_dir(&ctx)
        .status()
        .unwrap();
    assert!(touched.success());
    let before =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let fs = build(&env, &ctx, "mtimes:1");
    // docker 26.1 (its own CLI, buildx 0.13, and docker 20.10's alike): the
    // destination of a directory's contents takes the source directory's
    // mtime, made or already there (whose mode stays); from the context's
    // root, which BuildKit receives without its times, it keeps the time of
    // the build; directories inside keep their own.
    let times = std::fs::read_to_string(fs.join("times")).unwrap();
    let mut build_time = Vec::new();
    let mut kept = Vec::new();
    for line in times.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let mtime: u64 = parts[1].parse().unwrap();
        if mtime >= before {
            build_time.push(format!("{} {}", parts[0], parts[2]));
        } else {
            kept.push(format!("{} {} {}", parts[0], mtime, parts[2]));
        }
    }
    assert_eq!(build_time, ["/all 755"]);
    assert_eq!(
        kept,
        [
            "/all/sub 1500000000 755",
            "/d4 1500000000 755",
            "/d4/inner 1500000000 755",
            "/d5 1500000000 755",
            "/dest 1500000000 700",
            "/e/sub 1500000000 755",
            "/e/sub/dir1 1500000000 755",
            "/d7 1100000000 755",
            "/d7/in 1100000000 755",
        ]
    );
}

#[test]
fn a_hard_link_out_of_an_added_archive_is_refused_naming_the_link() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx =
        env.context("hardlink-out", &[("Dockerfile", "FROM busybox:local\nADD hl.tar /x/\n")]);
    std::fs::write(
        ctx.join("hl.tar"),
        tar_of(&[("link", tar::EntryType::Link, "../../etc/passwd", "")]),
    )
    .unwrap();
    let out = env.build(&ctx, &[]);
    assert!(!out.status.success());
    let shown = text(&out);
    assert!(
        shown.contains("hard link \"link\" points to \"../../etc/passwd\", outside the archive"),
        "{shown}"
    );
    assert!(shown.contains("Dockerfile:2"), "{shown}");
    assert!(!shown.contains("snapshots/"), "an internal path: {shown}");
}

#[test]
fn copy_wildcards_are_gos_filepath_match() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env.context(
        "wildcards",
        &[
            ("ax", "a\n"),
            ("bx", "b\n"),
            ("!x", "bang\n"),
            ("st*r", "star\n"),
            ("sub/f", "s\n"),
            (
                "Dockerfile",
                "FROM busybox:local\n\
                 COPY [!a]x /not-negation/\n\
                 COPY [^a]x /negation/\n\
                 COPY su[a-c]/? /class-dir/\n\
                 COPY st\\*r /escaped/\n\
                 RUN cd / && ls not-negation negation class-dir escaped > /listed\n",
            ),
        ],
    );
    let fs = build(&env, &ctx, "wildcards:1");
    // What docker 26.1 listed: `!` is a member of a class, not its
    // negation (that is `^`); `?` and a class match within a component;
    // `\*` is a literal star.
    let expected =
        "class-dir:\nf\n\nescaped:\nst*r\n\nnegation:\n!x\nbx\n\nnot-negation:\n!x\nax\n";
    assert_eq!(std::fs::read_to_string(fs.join("listed")).unwrap(), expected);
}

#[test]
fn a_steps_etc_hosts_is_buildkits_with_the_added_hosts_in_its_key() {
    if !have_root() {
        return;
    }
    let env = Env::new();
    let ctx = env
        .context("hosts", &[("Dockerfile", "FROM busybox:local\nRUN cat /etc/hosts > /hosts\n")]);
    // What docker 26.1 wrote for `--add-host foo.example:10.1.2.3`: its own
    // localhost lines (never the machine's /etc/hosts), then each added host.
    let fs = |args: &[&str], name: &str| {
        let out_dir = env.dir.path().join(name);
        let output = format!("type=local,dest={}", out_dir.display());
        let mut all = vec!["--progress=plain", "--output", &output];
        all.extend_from_slice(args);
        let out = env.build(&ctx, &all);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{err}");
        (std::fs::read_to_string(out_dir.join("hosts")).unwrap(), err)
    };
    let base = "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    let (hosts, _) = fs(&[], "plain");
    assert_eq!(hosts, base);
    let (hosts, err) =
        fs(&["--add-host", "foo.example:10.1.2.3", "--add-host", "v6=[fe80::1]"], "added");
    assert_eq!(hosts, format!("{base}10.1.2.3\tfoo.example\nfe80::1\tv6\n"));
    assert!(err.contains("RUN cat /etc/hosts > /hosts  running"), "another key: {err}");
    let (_, err) = fs(&[], "plain-again");
    assert!(err.contains("RUN cat /etc/hosts > /hosts  CACHED"), "the first key still hits: {err}");
    let out = env.build(&ctx, &["--add-host", "gw:host-gateway"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("host-gateway is not supported"));
}
