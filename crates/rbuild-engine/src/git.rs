//! `ADD <git URL>[#ref[:subdir]]`: the ref is resolved to a commit on the
//! host with `git ls-remote`, and the commit is checked out once into the
//! store; the step's key is the commit, so a moved branch reruns the step
//! and an unchanged one costs one small request.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{SourceError, fail};

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
    // Nothing of the caller's git environment (GIT_DIR, GIT_CONFIG_*, an
    // object directory…) may steer what is fetched or where it lands.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(name);
        }
    }
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

fn run(cmd: &mut Command, what: &str) -> Result<String, SourceError> {
    let out = cmd
        .output()
        .map_err(|e| SourceError(format!("{what}: cannot run git (is it installed?): {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        fail!("{what}: {}", rbuild_llb::redact_credentials(err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The ref `reference` names on `remote` and its commit: a branch, a tag
/// (peeled to its commit), a full ref name, `HEAD` when empty, or a full
/// commit id as it is (then the ref is the id itself).
fn resolve(remote: &str, reference: &str) -> Result<(String, String), SourceError> {
    if is_commit(reference) {
        let id = reference.to_ascii_lowercase();
        return Ok((id.clone(), id));
    }
    let shown = rbuild_llb::redact_credentials(remote);
    let listing = run(git().args(["ls-remote", "--", remote]), &format!("git ls-remote {shown}"))?;
    let refs: Vec<(&str, &str)> =
        listing.lines().filter_map(|l| l.split_once('\t')).map(|(sha, name)| (name, sha)).collect();
    let wanted = if reference.is_empty() { "HEAD" } else { reference };
    // git's own order: the name as given, then a tag, then a branch.
    let candidates =
        [wanted.to_owned(), format!("refs/tags/{wanted}"), format!("refs/heads/{wanted}")];
    for candidate in &candidates {
        let peeled = format!("{candidate}^{{}}");
        let found = refs
            .iter()
            .find(|(name, _)| *name == peeled)
            .or_else(|| refs.iter().find(|(name, _)| name == candidate));
        if let Some((_, sha)) = found {
            return Ok((candidate.clone(), sha.to_string()));
        }
    }
    fail!("{shown}: no branch, tag or ref named {wanted:?}")
}

/// A `--checksum` for a git source: a commit id or a prefix of one.
fn parse_commit_prefix(sum: &str) -> Result<String, SourceError> {
    if sum.len() < 7 || sum.len() > 40 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
        fail!("--checksum={sum}: expected a commit id (7 to 40 hex digits)");
    }
    Ok(sum.to_ascii_lowercase())
}

/// Resolves `source` and checks its commit out under `dir` (the store's
/// downloads) unless it is there already; `tmp` is on the same file system.
pub(crate) fn fetch(
    dir: &Path,
    tmp: &Path,
    source: &str,
    keep_git_dir: bool,
    checksum: Option<&str>,
) -> Result<Checkout, SourceError> {
    let src = split(source);
    let shown = rbuild_llb::redact_credentials(source);
    let sum = checksum.map(parse_commit_prefix).transpose()?;
    let (reference, commit) = resolve(src.remote, src.reference)?;
    if let Some(sum) = sum
        && !commit.starts_with(&sum)
    {
        fail!("{shown}: checksum mismatch: expected commit {sum}, the ref is at {commit}");
    }
    let name = format!("git-{commit}{}", if keep_git_dir { "-with-git" } else { "" });
    let root = dir.join(name);
    if !root.is_dir() {
        std::fs::create_dir_all(tmp)?;
        let work =
            tempfile::Builder::new().prefix(&rbuild_cache::temp_prefix("git")).tempdir_in(tmp)?;
        checkout(src.remote, &reference, &commit, work.path())?;
        normalize(work.path(), keep_git_dir, &commit)?;
        match std::fs::rename(work.path(), &root) {
            Ok(()) => {}
            // Another build put the same commit there first.
            Err(_) if root.is_dir() => {}
            Err(e) => fail!("storing a git checkout: {e}"),
        }
    }
    let subdir = rbuild_context::context_path(src.subdir);
    let at = if subdir == "." { root.clone() } else { root.join(&subdir) };
    // The subdirectory must be a real directory inside the checkout.
    let real = at
        .canonicalize()
        .map_err(|e| SourceError(format!("{shown}: no directory {subdir}: {e}")))?;
    if !real.starts_with(root.canonicalize()?) || !real.is_dir() {
        fail!("{shown}: {subdir} is not a directory inside the repository");
    }
    Ok(Checkout { dir: real, commit, subdir })
}

/// Fetches exactly `reference` (the full ref that was resolved, or the
/// commit id) and checks `commit` out in `work`.
fn checkout(remote: &str, reference: &str, commit: &str, work: &Path) -> Result<(), SourceError> {
    let shown = rbuild_llb::redact_credentials(remote);
    let what = format!("git fetch {shown}");
    run(git().arg("init").arg("-q").arg(work), "git init")?;
    let want = reference;
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
        fail!("{shown}: {reference} moved to {} during the build; build again", fetched.trim());
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
fn normalize(work: &Path, keep_git_dir: bool, commit: &str) -> Result<(), SourceError> {
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
        assert_eq!(parse_commit_prefix("ABCDEF0").unwrap(), "abcdef0");
        assert!(parse_commit_prefix("abc").is_err());
        assert!(parse_commit_prefix("main-branch").is_err());
        assert!(parse_commit_prefix(&"a".repeat(41)).is_err());
    }
}
