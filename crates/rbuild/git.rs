//! `ADD <git URL>[#ref[:subdir]]`: the ref is resolved to a commit on the
//! host with `git ls-remote`, and the commit is checked out once into the
//! store; the step's key is the commit, so a moved branch reruns the step
//! and an unchanged one costs one small request.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// A checked-out commit, ready to be copied.
#[derive(Clone, Debug)]
pub(crate) struct Checkout {
    /// The directory to copy from (the subdirectory, when one was named).
    pub(crate) dir: PathBuf,
    /// The commit, for the key.
    pub(crate) commit: String,
    /// The subdirectory, for the key.
    pub(crate) subdir: String,
}

/// The parts of a git source.
#[derive(Debug, PartialEq, Eq)]
struct Source<'a> {
    remote: &'a str,
    reference: &'a str,
    subdir: &'a str,
}

fn split(source: &str) -> Source<'_> {
    let (remote, fragment) = source.split_once('#').unwrap_or((source, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    Source { remote, reference, subdir }
}

/// git with the transports BuildKit allows (no `file://`, no `ext::`),
/// no prompts, no hooks and no system or user configuration.
fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .args(["-c", "protocol.allow=never"])
        .args(["-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always"])
        .args(["-c", "protocol.git.allow=always", "-c", "protocol.ssh.allow=always"])
        .args(["-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false"]);
    cmd
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("{what}: cannot run git (is it installed?)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{what}: {}", err.trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `reference` names on `remote`: a branch, a tag (peeled), a
/// full ref name, `HEAD` when empty, or a full commit id as it is.
fn resolve(remote: &str, reference: &str) -> anyhow::Result<String> {
    if is_commit(reference) {
        return Ok(reference.to_ascii_lowercase());
    }
    let listing = run(git().args(["ls-remote", "--", remote]), &format!("git ls-remote {remote}"))?;
    let refs: Vec<(&str, &str)> =
        listing.lines().filter_map(|l| l.split_once('\t')).map(|(sha, name)| (name, sha)).collect();
    let wanted = if reference.is_empty() { "HEAD" } else { reference };
    let candidates = [
        format!("{wanted}^{{}}"),
        wanted.to_owned(),
        format!("refs/heads/{wanted}"),
        format!("refs/tags/{wanted}^{{}}"),
        format!("refs/tags/{wanted}"),
    ];
    for candidate in &candidates {
        if let Some((_, sha)) = refs.iter().find(|(name, _)| name == candidate) {
            return Ok(sha.to_string());
        }
    }
    bail!("{remote}: no branch, tag or ref named {wanted:?}")
}

/// Resolves `source` and checks its commit out under `dir` (the store's
/// downloads) unless it is there already; `tmp` is on the same file system.
pub(crate) fn fetch(
    dir: &Path,
    tmp: &Path,
    source: &str,
    keep_git_dir: bool,
    checksum: Option<&str>,
) -> anyhow::Result<Checkout> {
    let src = split(source);
    let commit = resolve(src.remote, src.reference)?;
    if let Some(sum) = checksum
        && !commit.starts_with(&sum.to_ascii_lowercase())
    {
        bail!("{source}: checksum mismatch: expected commit {sum}, the ref is at {commit}");
    }
    let name = format!("git-{commit}{}", if keep_git_dir { "-with-git" } else { "" });
    let root = dir.join(name);
    if !root.is_dir() {
        std::fs::create_dir_all(tmp)?;
        let work = tempfile::Builder::new().prefix("git-").tempdir_in(tmp)?;
        checkout(src.remote, src.reference, &commit, work.path())?;
        normalize(work.path(), keep_git_dir, &commit)?;
        match std::fs::rename(work.path(), &root) {
            Ok(()) => {}
            // Another build put the same commit there first.
            Err(_) if root.is_dir() => {}
            Err(e) => return Err(e).context("storing a git checkout"),
        }
    }
    let subdir = rbuild_context::context_path(src.subdir);
    let at = if subdir == "." { root.clone() } else { root.join(&subdir) };
    // The subdirectory must be a real directory inside the checkout.
    let real = at.canonicalize().with_context(|| format!("{source}: no directory {subdir}"))?;
    if !real.starts_with(root.canonicalize()?) || !real.is_dir() {
        bail!("{source}: {subdir} is not a directory inside the repository");
    }
    Ok(Checkout { dir: real, commit, subdir })
}

fn checkout(remote: &str, reference: &str, commit: &str, work: &Path) -> anyhow::Result<()> {
    let what = format!("git fetch {remote}");
    run(git().arg("init").arg("-q").arg(work), "git init")?;
    let want = if reference.is_empty() || is_commit(reference) { commit } else { reference };
    let fetch = |shallow: bool| {
        let mut cmd = git();
        cmd.arg("-C").arg(work).args(["fetch", "-q", "--no-tags"]);
        if shallow {
            cmd.arg("--depth=1");
        }
        cmd.args(["--", remote, want]);
        run(&mut cmd, &what)
    };
    // Dumb HTTP servers cannot do shallow fetches; fetch everything then.
    if fetch(true).is_err() {
        fetch(false)?;
    }
    let fetched =
        run(git().arg("-C").arg(work).args(["rev-parse", "FETCH_HEAD^{commit}"]), "git rev-parse")?;
    if fetched.trim() != commit {
        bail!("{remote}: {reference} moved to {} during the build; build again", fetched.trim());
    }
    run(
        git()
            .arg("-C")
            .arg(work)
            .args(["-c", "core.symlinks=true", "checkout", "-q", "--detach"])
            .arg(commit),
        "git checkout",
    )?;
    Ok(())
}

/// Modes as git records them (0644, 0755 for executables, 0755 dirs),
/// owner root, every mtime the commit's time, and `.git` gone unless kept:
/// the same commit always gives the same files.
fn normalize(work: &Path, keep_git_dir: bool, commit: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let time = run(
        git().arg("-C").arg(work).args(["show", "-s", "--format=%ct"]).arg(commit),
        "git show",
    )?;
    let time = filetime::FileTime::from_unix_time(time.trim().parse().unwrap_or(0), 0);
    if !keep_git_dir {
        std::fs::remove_dir_all(work.join(".git"))?;
    }
    let mut stack = vec![work.to_path_buf()];
    let mut dirs = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(path.clone());
                dirs.push(path);
            } else if meta.is_file() {
                let exec = meta.permissions().mode() & 0o111 != 0;
                let mode = if exec { 0o755 } else { 0o644 };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
                filetime::set_file_times(&path, time, time)?;
            } else {
                filetime::set_symlink_file_times(&path, time, time)?;
            }
        }
    }
    dirs.push(work.to_path_buf());
    for d in dirs {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755))?;
        filetime::set_file_times(&d, time, time)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_split_into_ref_and_subdir() {
        assert_eq!(
            split("https://h/r.git#v1.2:docs/api"),
            Source { remote: "https://h/r.git", reference: "v1.2", subdir: "docs/api" }
        );
        assert_eq!(
            split("git@github.com:o/r.git"),
            Source { remote: "git@github.com:o/r.git", reference: "", subdir: "" }
        );
        assert!(is_commit(&"a".repeat(40)));
        assert!(!is_commit("main"));
    }
}
