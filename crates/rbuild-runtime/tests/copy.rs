//! COPY semantics on real directories (owners need root, as in CI).

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;

use rbuild_context::list;
use rbuild_runtime::{CopyError, CopySpec, copy_into};

fn write(root: &Path, rel: &str, body: &str, mode: u32) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

struct Fx {
    _dir: tempfile::TempDir,
    ctx: std::path::PathBuf,
    root: std::path::PathBuf,
}

fn fixture() -> Option<Fx> {
    if !nix::unistd::geteuid().is_root() {
        assert!(std::env::var_os("CI").is_none(), "CI runs these as root");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ctx, root) = (dir.path().join("ctx"), dir.path().join("root"));
    write(&ctx, "src/a.txt", "a", 0o640);
    write(&ctx, "src/sub/b.txt", "b", 0o755);
    write(&ctx, "one.txt", "1", 0o644);
    write(&ctx, "two.txt", "2", 0o644);
    write(&ctx, "secret.env", "KEY=1", 0o600);
    write(&ctx, ".dockerignore", "*.env\n", 0o644);
    std::os::unix::fs::symlink("a.txt", ctx.join("src/link")).unwrap();
    std::os::unix::fs::symlink("src", ctx.join("src-link")).unwrap();
    write(
        &root,
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        0o644,
    );
    write(&root, "etc/group", "root:x:0:\nstaff:x:50:\n", 0o644);
    fs::create_dir_all(root.join("usr/local")).unwrap();
    std::os::unix::fs::symlink("/usr/local", root.join("opt")).unwrap();
    fs::create_dir_all(root.join("existing")).unwrap();
    Some(Fx { _dir: dir, ctx, root })
}

fn copy(fx: &Fx, sources: &[&str], dest: &str) -> Result<(), CopyError> {
    copy_with(
        fx,
        CopySpec {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: dest.into(),
            ..Default::default()
        },
    )
}

fn copy_with(fx: &Fx, spec: CopySpec) -> Result<(), CopyError> {
    let ignore = rbuild_context::load_ignore(&fx.ctx, None).unwrap();
    let listing = list(&fx.ctx, &ignore).unwrap();
    copy_into(&fx.root, &fx.ctx, &listing, &spec).map(drop)
}

#[test]
fn a_directory_source_copies_its_contents_with_modes_times_and_root_owner() {
    let Some(fx) = fixture() else { return };
    copy(&fx, &["src"], "/app").unwrap();
    let app = fx.root.join("app");
    assert_eq!(fs::read_to_string(app.join("a.txt")).unwrap(), "a");
    assert_eq!(fs::read_to_string(app.join("sub/b.txt")).unwrap(), "b");
    assert!(!app.join("src").exists(), "the directory itself is not copied");
    let meta = fs::metadata(app.join("sub/b.txt")).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid(), meta.gid()), (0o755, 0, 0));
    assert_eq!(fs::metadata(app.join("a.txt")).unwrap().mode() & 0o777, 0o640);
    let src_mtime = fs::metadata(fx.ctx.join("src/a.txt")).unwrap().mtime();
    assert_eq!(fs::metadata(app.join("a.txt")).unwrap().mtime(), src_mtime);
    assert_eq!(
        fs::read_link(app.join("link")).unwrap().to_str(),
        Some("a.txt"),
        "links stay links"
    );
}

#[test]
fn no_sources_makes_the_destination_directory() {
    let Some(fx) = fixture() else { return };
    copy_with(
        &fx,
        CopySpec { dest: "/srv/app/data".into(), chown: Some("app".into()), ..Default::default() },
    )
    .unwrap();
    let meta = fs::metadata(fx.root.join("srv/app/data")).unwrap();
    assert!(meta.is_dir());
    // BuildKit (docker 26.1): a user name alone takes its primary group.
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (1000, 1001, 0o755));
}

#[test]
fn the_destination_rules() {
    let Some(fx) = fixture() else { return };
    copy(&fx, &["one.txt"], "/x/renamed.txt").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("x/renamed.txt")).unwrap(), "1");
    copy(&fx, &["one.txt"], "/y/").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("y/one.txt")).unwrap(), "1");
    copy(&fx, &["one.txt"], "/existing").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("existing/one.txt")).unwrap(), "1");
    assert!(matches!(copy(&fx, &["one.txt", "two.txt"], "/z"), Err(CopyError::DestNotDir(_))));
    copy(&fx, &["*.txt"], "/w/").unwrap();
    assert!(fx.root.join("w/one.txt").exists() && fx.root.join("w/two.txt").exists());
    // BuildKit: a wildcard that matches nothing is no error and makes
    // nothing; a missing literal source still is one.
    copy(&fx, &["*.md"], "/nothing/").unwrap();
    assert!(!fx.root.join("nothing").exists());
    copy(&fx, &["one.txt", "missing*"], "/some/").unwrap();
    assert!(fx.root.join("some/one.txt").exists());
    assert!(matches!(copy(&fx, &["missing.txt"], "/w/"), Err(CopyError::NotFound(_))));
    // One wildcard matching several files onto a path without `/`: each is
    // copied onto it, the last (in name order) wins.
    copy(&fx, &["*.txt"], "/last").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("last")).unwrap(), "2");
}

#[test]
fn ignored_and_outside_sources_are_not_found() {
    let Some(fx) = fixture() else { return };
    assert!(matches!(copy(&fx, &["secret.env"], "/s"), Err(CopyError::NotFound(_))));
    assert!(matches!(copy(&fx, &["../../etc/passwd"], "/p"), Err(CopyError::NotFound(_))));
    // `..` stops at the context root: this is the context's one.txt.
    copy(&fx, &["../one.txt"], "/q").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("q")).unwrap(), "1");
}

#[test]
fn symlinks_in_the_destination_resolve_inside_the_rootfs() {
    let Some(fx) = fixture() else { return };
    // /opt -> /usr/local in the image: the file lands in the image's /usr/local.
    copy(&fx, &["one.txt"], "/opt/").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("usr/local/one.txt")).unwrap(), "1");
    // A top-level source symlink is followed within the context.
    copy(&fx, &["src-link"], "/via-link").unwrap();
    assert!(fx.root.join("via-link/a.txt").exists());
}

#[test]
fn chown_chmod_exclude_and_parents() {
    let Some(fx) = fixture() else { return };
    copy_with(
        &fx,
        CopySpec {
            sources: vec!["src".into()],
            dest: "/owned/".into(),
            chown: Some("app:staff".into()),
            chmod: Some(rbuild_llb::Chmod::Octal(0o700)),
            exclude: vec!["sub".into()],
            ..Default::default()
        },
    )
    .unwrap();
    let meta = fs::metadata(fx.root.join("owned/a.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (1000, 50, 0o700));

    // Symbolic: applied to each entry's own mode, X only where x was or on dirs.
    let old = filetime::FileTime::from_unix_time(1_500_000_000, 0);
    filetime::set_file_times(fx.ctx.join("src/sub"), old, old).unwrap();
    filetime::set_file_times(fx.ctx.join("src"), old, old).unwrap();
    copy_with(
        &fx,
        CopySpec {
            sources: vec!["src".into()],
            dest: "/sym/".into(),
            chmod: Some(rbuild_llb::Chmod::parse("u=rwX,go=rX").unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    let mode = |p: &str| fs::metadata(fx.root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("sym/a.txt"), 0o644, "640 without x");
    assert_eq!(mode("sym/sub/b.txt"), 0o755, "755 keeps x");
    assert_eq!(mode("sym/sub"), 0o755, "a directory gets X");
    // Directory mtimes survive the entries written into them.
    let mtime = |p: &str| fs::metadata(fx.root.join(p)).unwrap().mtime();
    assert_eq!(mtime("sym/sub"), 1_500_000_000);
    assert!(!fx.root.join("owned/sub").exists(), "--exclude");
    let dir = fs::metadata(fx.root.join("owned")).unwrap();
    assert_eq!((dir.uid(), dir.gid()), (1000, 50), "a created destination belongs to --chown");

    copy_with(
        &fx,
        CopySpec {
            sources: vec!["one.txt".into()],
            dest: "/u/".into(),
            chown: Some("app".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let meta = fs::metadata(fx.root.join("u/one.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1001), "a user name alone: its primary group");
    // BuildKit (docker 26.1) does not fail on a name it cannot find: an
    // unknown user is 0, an unknown group as if none were given.
    for (chown, ids) in [
        ("ghost", (0, 0)),
        ("ghost:staff", (0, 50)),
        ("app:ghosts", (1000, 1001)),
        ("4321:ghosts", (4321, 4321)),
        ("1000", (1000, 1000)),
    ] {
        copy_with(
            &fx,
            CopySpec {
                sources: vec!["one.txt".into()],
                dest: format!("/v-{chown}/"),
                chown: Some(chown.into()),
                ..Default::default()
            },
        )
        .unwrap();
        let meta = fs::metadata(fx.root.join(format!("v-{chown}/one.txt"))).unwrap();
        assert_eq!((meta.uid(), meta.gid()), ids, "--chown={chown}");
    }

    copy_with(
        &fx,
        CopySpec {
            sources: vec!["src/sub/b.txt".into()],
            dest: "/keep/".into(),
            parents: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(fx.root.join("keep/src/sub/b.txt").exists());
}

#[test]
fn add_unpacks_local_archives_and_keeps_them_inside() {
    let Some(fx) = fixture() else { return };
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [("vendor/lib.txt", "lib\n"), ("../../escape.txt", "no\n")] {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(body.len() as u64);
        h.set_mode(0o640);
        h.set_uid(123);
        h.set_gid(45);
        h.set_cksum();
        tar.append(&h, body.as_bytes()).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    fs::write(fx.ctx.join("vendor.tar.gz"), gz.finish().unwrap()).unwrap();
    fs::write(fx.ctx.join("plain.tar"), &raw).unwrap();
    let add = |src: &str, dest: &str| {
        copy_with(
            &fx,
            CopySpec {
                sources: vec![src.into()],
                dest: dest.into(),
                unpack: true,
                ..Default::default()
            },
        )
    };
    add("vendor.tar.gz", "/srv/v/").unwrap();
    let lib = fx.root.join("srv/v/vendor/lib.txt");
    assert_eq!(fs::read_to_string(&lib).unwrap(), "lib\n");
    let meta = fs::metadata(&lib).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (123, 45, 0o640),
        "the archive's owners and modes"
    );
    assert_eq!(
        fs::read_to_string(fx.root.join("srv/v/escape.txt")).unwrap(),
        "no\n",
        "`..` stays inside"
    );
    add("plain.tar", "/srv/p").unwrap();
    assert!(fx.root.join("srv/p/vendor/lib.txt").exists());
    // Every compression BuildKit knows, told by content, not by name.
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    std::io::Write::write_all(&mut bz, &raw).unwrap();
    fs::write(fx.ctx.join("b.archive"), bz.finish().unwrap()).unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, &raw).unwrap();
    fs::write(fx.ctx.join("x.archive"), xz.finish().unwrap()).unwrap();
    fs::write(fx.ctx.join("z.archive"), zstd::encode_all(&raw[..], 1).unwrap()).unwrap();
    for (name, dest) in [("b.archive", "/srv/b"), ("x.archive", "/srv/x"), ("z.archive", "/srv/z")]
    {
        add(name, dest).unwrap();
        assert_eq!(
            fs::read_to_string(fx.root.join(&dest[1..]).join("vendor/lib.txt")).unwrap(),
            "lib\n",
            "{name}"
        );
    }
    // Compressed but not a tar: copied as it is.
    let mut not_tar = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    std::io::Write::write_all(&mut not_tar, b"just text").unwrap();
    fs::write(fx.ctx.join("text.bz2"), not_tar.finish().unwrap()).unwrap();
    add("text.bz2", "/srv/t/").unwrap();
    assert!(fx.root.join("srv/t/text.bz2").is_file());
    // Not an archive: copied as it is.
    add("one.txt", "/srv/o/").unwrap();
    assert_eq!(fs::read_to_string(fx.root.join("srv/o/one.txt")).unwrap(), "1");
    // COPY never unpacks.
    copy(&fx, &["vendor.tar.gz"], "/srv/c/").unwrap();
    assert!(fx.root.join("srv/c/vendor.tar.gz").is_file());
}
