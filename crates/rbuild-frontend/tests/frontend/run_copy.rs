//! RUN and COPY/ADD: flags, expansion, heredocs, destinations.

use rbuild_frontend::{InlineFile, Op, StageRef};
use rbuild_llb::{NetworkMode, RunMount, SecurityMode};

use crate::util::{err, plan, steps};

fn op(src: &str, n: usize) -> Op {
    steps(&plan(src))[n].op.clone()
}

#[test]
fn mount_values_are_expanded_except_from() {
    // `from=` takes no variable: it names a stage or image literally.
    let e = err("FROM busybox AS tools\nARG S=tools\nRUN --mount=from=$S,target=/b true\n");
    assert!(e.message().contains("'from' doesn't support variable expansion"), "{}", e.message());
    assert_eq!(e.span().line, 3);
    let src = "\
FROM busybox AS tools
FROM busybox
ARG CACHE=/root/.cache
RUN --mount=type=cache,target=$CACHE,id=c-$CACHE --mount=type=bind,from=tools,target=/t true
";
    let Op::Run { mounts, .. } = op(src, 1) else { panic!() };
    let RunMount::Cache { target, id, .. } = &mounts[0].spec else { panic!() };
    assert_eq!((target.as_str(), id.as_str()), ("/root/.cache", "c-/root/.cache"));
    assert_eq!(mounts[1].from, Some(StageRef::Stage(0)));
}

#[test]
fn network_and_security_flags() {
    let Op::Run { network, security, .. } = op("FROM busybox\nRUN --network=none true\n", 0) else {
        panic!()
    };
    assert_eq!((network, security), (NetworkMode::None, SecurityMode::Sandbox));
    let Op::Run { network, security, .. } =
        op("FROM busybox\nRUN --network=host --security=insecure true\n", 0)
    else {
        panic!()
    };
    assert_eq!((network, security), (NetworkMode::Host, SecurityMode::Insecure));
    assert!(err("FROM busybox\nRUN --network=bridge true\n").message().contains("bridge"));
}

#[test]
fn run_heredoc_is_the_command_and_a_shebang_heredoc_a_file() {
    let Op::Run { args, files, .. } = op("FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\n", 0)
    else {
        panic!()
    };
    assert_eq!(args, ["/bin/sh", "-c", "echo a\necho b\n"]);
    assert!(files.is_empty());
    let Op::Run { args, files, .. } =
        op("FROM busybox\nRUN <<-EOF\n\t#!/usr/bin/env python3\n\tprint(1)\n\tEOF\n", 0)
    else {
        panic!()
    };
    assert_eq!(args, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
    assert_eq!(
        files,
        [InlineFile {
            path: "/dev/pipes/EOF".into(),
            content: "#!/usr/bin/env python3\nprint(1)\n".into(),
            mode: 0o755
        }]
    );
    let Op::Run { args, .. } = op("FROM busybox\nRUN python3 <<EOF\nprint(1)\nEOF\n", 0) else {
        panic!()
    };
    assert_eq!(args, ["/bin/sh", "-c", "python3 <<EOF\nprint(1)\nEOF"]);
}

#[test]
fn copy_sources_and_dest_are_expanded_and_dest_resolved_against_workdir() {
    let src = "FROM busybox\nENV SRC=src DST=out\nWORKDIR /app\nCOPY $SRC/a.txt \"$SRC\"/b $DST/\nCOPY x .\nCOPY [\"j\", \"/abs\"]\n";
    let p = plan(src);
    let s = steps(&p);
    let Op::Copy { sources, dest, add, from, .. } = &s[2].op else { panic!() };
    assert_eq!(sources, &["src/a.txt", "src/b"]);
    assert_eq!(dest, "/app/out/");
    assert!(!add && from.is_none());
    let Op::Copy { dest, .. } = &s[3].op else { panic!() };
    assert_eq!(dest, "/app/");
    let Op::Copy { sources, dest, .. } = &s[4].op else { panic!() };
    assert_eq!((sources.as_slice(), dest.as_str()), (&["j".to_owned()][..], "/abs"));
}

#[test]
fn copy_flags_are_read_and_expanded() {
    let src = "FROM busybox\nARG U=app MODE=0640\n\
               COPY --chown=$U:$U --chmod=$MODE --link --parents --exclude=*.tmp --exclude=$U a /d/\n";
    let Op::Copy { chown, chmod, link, parents, exclude, .. } = op(src, 1) else { panic!() };
    assert_eq!(chown.as_deref(), Some("app:app"));
    assert_eq!(chmod.map(|c| c.to_string()).as_deref(), Some("0640"));
    // --link with --chmod is an ordinary copy in BuildKit.
    assert!(!link && parents);
    assert_eq!(exclude, ["*.tmp", "app"]);
}

#[test]
fn add_flags() {
    let src = "FROM busybox\nADD --checksum=sha256:abc --keep-git-dir --unpack=false https://x/y.tgz /d/\n";
    let Op::Copy { add, checksum, keep_git_dir, unpack, sources, .. } = op(src, 0) else {
        panic!()
    };
    assert!(add && keep_git_dir);
    assert_eq!(checksum.as_deref(), Some("sha256:abc"));
    assert_eq!(unpack, Some(false));
    assert_eq!(sources, ["https://x/y.tgz"]);
    let Op::Copy { unpack, .. } = op("FROM busybox\nADD a.tar /\n", 0) else { panic!() };
    assert_eq!(unpack, None);
}

#[test]
fn copy_heredocs_become_files_expanded_unless_quoted() {
    let src = "FROM busybox\nENV NAME=world\nCOPY <<EOF <<'RAW' /etc/\nhello $NAME\nEOF\nraw $NAME\nRAW\n";
    let Op::Copy { sources, heredocs, .. } = op(src, 1) else { panic!() };
    assert!(sources.is_empty());
    assert_eq!(
        heredocs,
        [
            ("EOF".to_owned(), "hello world\n".to_owned()),
            ("RAW".to_owned(), "raw $NAME\n".to_owned())
        ]
    );
}

#[test]
fn bad_chmod_is_an_error_at_the_flag() {
    let e = err("FROM busybox\nCOPY --chmod=999 a /b\n");
    assert_eq!(
        e.message(),
        "invalid chmod parameter: '999'. it should be octal string and between 0 and 07777"
    );
    assert_eq!((e.span().line, e.span().column), (2, 6));
    let Op::Copy { chmod, .. } = op("FROM busybox\nCOPY --chmod=u=rwX,go=rX a /b\n", 0) else {
        panic!()
    };
    assert_eq!(chmod.map(|c| c.to_string()).as_deref(), Some("u=rwX,go=rX"));
}

#[test]
fn copy_from_with_a_variable_is_an_error() {
    let e = err("FROM busybox AS a\nFROM busybox\nARG S=a\nCOPY --from=$S /x /x\n");
    assert!(e.message().contains("variable expansion is not supported for --from"));
    assert_eq!(e.span().line, 4);
}

#[test]
fn step_text_is_the_instruction_as_written() {
    let src = "FROM busybox\nARG TOKEN=s3cret\nRUN --mount=type=secret,id=t \\\n    curl -H \"$TOKEN\" x\n";
    let p = plan(src);
    let step = &steps(&p)[1];
    assert_eq!((step.line, step.end_line), (3, 4));
    assert!(step.text.contains("$TOKEN") && !step.text.contains("s3cret"), "{}", step.text);
}

#[test]
fn copy_needs_a_destination() {
    assert!(err("FROM busybox\nCOPY onlyone\n").message().contains("at least two arguments"));
}

#[test]
fn mount_targets_resolve_against_workdir() {
    let src = "FROM busybox AS src\nFROM busybox\nWORKDIR /w\n\
               RUN --mount=from=src,src=/s,rw --mount=type=cache,target=c --mount=type=tmpfs,dst=/t x\n";
    let Op::Run { mounts, .. } = op(src, 1) else { panic!() };
    let targets: Vec<&str> = mounts
        .iter()
        .map(|m| match &m.spec {
            RunMount::Bind { target, .. }
            | RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target, .. } => target.as_str(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(targets, ["/w", "/w/c", "/t"]);
    assert_eq!(mounts[0].from, Some(StageRef::Stage(0)));
    let e = err("FROM busybox\nRUN --mount=type=cache,target=/ x\n");
    assert!(e.message().contains("invalid mount target"), "{}", e.message());
}

#[test]
fn run_sees_user_and_workdir_in_force() {
    let src = "FROM busybox\nUSER 1000:1000\nWORKDIR /app\nRUN id\n";
    let Op::Run { user, cwd, .. } = op(src, 2) else { panic!() };
    assert_eq!((user.as_str(), cwd.as_str()), ("1000:1000", "/app"));
}

#[test]
fn copy_and_add_source_rules() {
    assert_eq!(
        err("FROM busybox\nCOPY https://x/y /\n").message(),
        "source can't be a URL for COPY"
    );
    assert_eq!(
        err("FROM busybox\nCOPY https://github.com/o/r.git /\n").message(),
        "source can't be a git ref for COPY"
    );
    assert_eq!(
        err("FROM busybox\nADD --checksum=sha256:00 https://x/a https://x/b /\n").message(),
        "checksum can't be specified for multiple sources"
    );
    assert_eq!(
        err("FROM busybox\nADD --checksum=sha256:00 local.tar /\n").message(),
        "checksum requires HTTP(S) or Git sources"
    );
    let Op::Copy { sources, .. } =
        op("FROM busybox\nADD https://github.com/o/r.git?ref=v1&keep-git-dir=1 /src\n", 0)
    else {
        panic!()
    };
    assert_eq!(sources, ["https://github.com/o/r.git?ref=v1&keep-git-dir=1"]);
}

#[test]
fn copy_history_is_buildkits() {
    let src = "FROM busybox\nARG U=app\nWORKDIR /w\nCOPY --chown=$U --chmod=644 --link a <<EOF d/\nx\nEOF\n";
    let p = plan(src);
    let step = &steps(&p)[2];
    assert_eq!(step.history.as_deref(), Some("COPY --chown=app --chmod=644 a <<EOF d/ # buildkit"));
    let Op::Copy { link, dest, .. } = &step.op else { panic!() };
    assert!(!link, "--link with --chmod copies in place, as BuildKit does");
    assert_eq!(dest, "/w/d/");
    let Op::Copy { link, .. } = op("FROM busybox\nCOPY --link a /b\n", 0) else { panic!() };
    assert!(link);
}

#[test]
fn build_network_applies_to_runs_without_a_flag() {
    let mut o = crate::util::opts();
    o.network = NetworkMode::None;
    let p = crate::util::plan_with("FROM busybox\nRUN a\nRUN --network=host b\n", &o);
    let nets: Vec<NetworkMode> = steps(&p)
        .iter()
        .filter_map(|s| match &s.op {
            Op::Run { network, .. } => Some(*network),
            _ => None,
        })
        .collect();
    assert_eq!(nets, [NetworkMode::None, NetworkMode::Host]);
}
