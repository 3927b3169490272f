//! `rbuild context ls`: what a build sees of its context.

use crate::util::{rbuild, tempdir};

fn write(root: &std::path::Path, files: &[(&str, &str)]) {
    for (path, body) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

#[test]
fn ls_lists_what_dockerignore_lets_through() {
    let dir = tempdir();
    write(
        dir.path(),
        &[
            (".dockerignore", "# build output\ntarget\n*.log\n!keep.log\nnode_modules/**\n"),
            ("Dockerfile", "FROM scratch\n"),
            ("src/main.rs", "fn main() {}\n"),
            ("target/debug/app", "binary"),
            ("debug.log", "x"),
            ("keep.log", "kept"),
            ("node_modules/a/index.js", "x"),
        ],
    );
    let out = rbuild().args(["context", "ls"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        ".dockerignore\nDockerfile\nkeep.log\nsrc/main.rs\n"
    );

    let out = rbuild().args(["context", "ls", "--size"]).arg(dir.path()).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let size = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().len();
    let kept = [".dockerignore", "Dockerfile", "keep.log", "src/main.rs"];
    let mut want: String = kept.iter().map(|p| format!("{}\t{p}\n", size(p))).collect();
    want += &format!("{}\ttotal\n", kept.iter().map(|p| size(p)).sum::<u64>());
    assert_eq!(text, want);
    assert!(want.starts_with("54\t.dockerignore\n"), "{want}");
}

#[test]
fn ls_uses_the_dockerfile_ignore_file_when_given() {
    let dir = tempdir();
    write(
        dir.path(),
        &[
            (".dockerignore", "a\n"),
            ("build/app.Dockerfile", "FROM scratch\n"),
            ("build/app.Dockerfile.dockerignore", "b\nbuild\n"),
            ("a", "a"),
            ("b", "b"),
        ],
    );
    let out = rbuild()
        .args(["context", "ls", "-f"])
        .arg(dir.path().join("build/app.Dockerfile"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ".dockerignore\na\n");
}

#[test]
fn ls_rejects_an_invalid_ignore_file_with_its_line() {
    let dir = tempdir();
    write(dir.path(), &[(".dockerignore", "ok\n!\n")]);
    let out = rbuild().args(["context", "ls"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".dockerignore") && stderr.contains("line 2"), "{stderr}");
}
