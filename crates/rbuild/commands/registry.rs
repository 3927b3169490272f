//! `rbuild pull`, `push`, `login`, `logout`: the docker CLI's commands and
//! messages, on the store and the registry client. A registry error exits
//! with code 1, as docker's do.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::{Context as _, bail};
use rbuild_image::oci_spec::image::Digest;
use rbuild_llb::{Platform, Reference};
use rbuild_registry::{Client, Credential, Progress};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};

use super::build::open_engine;
use crate::args::{LoginArgs, LogoutArgs, PullArgs, PushArgs};
use crate::progress::{short_digest, transfer_bar};

/// One line per blob as it finishes, as `docker pull` prints in a log; on
/// a terminal, a bar per blob with its bytes and rate while it moves.
struct Lines {
    quiet: bool,
    pulling: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Lines {
    fn new(quiet: bool, pulling: bool) -> Lines {
        let multi = (!quiet && std::io::stdout().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10)));
        Lines { quiet, pulling, multi, bars: Mutex::new(HashMap::new()) }
    }
}

impl Progress for Lines {
    fn bytes(&self, digest: &Digest, done: u64, total: u64) {
        let Some(multi) = &self.multi else { return };
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        let verb = if self.pulling { "Downloading" } else { "Pushing" };
        let bar = bars.entry(digest.to_string()).or_insert_with(|| {
            transfer_bar(multi, short_digest(digest.as_ref()).to_owned(), verb, total)
        });
        bar.set_position(done);
    }

    fn finished(&self, digest: &Digest, _size: u64, how: &str) {
        if self.quiet {
            return;
        }
        let text = rbuild_registry::finished_status(self.pulling, how);
        let line = format!("{}: {text}", short_digest(digest.as_ref()));
        let bar = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest.to_string());
        match &self.multi {
            Some(multi) => {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    multi.remove(&bar);
                }
                let _ = multi.println(&line);
            }
            None => {
                let _ = writeln!(std::io::stdout(), "{line}");
            }
        }
    }
}

fn fail(err: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    let _ = writeln!(std::io::stderr(), "rbuild: {err}");
    Ok(ExitCode::from(1))
}

fn client() -> anyhow::Result<Client> {
    Client::from_env().context("cannot read the registry configuration")
}

fn warn(client: &Client) {
    for warning in client.take_warnings() {
        let _ = writeln!(std::io::stderr(), "WARNING: {warning}");
    }
}

pub(crate) fn pull(args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = match Reference::parse(&args.reference) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let platform = match args.platform.as_deref().map(|p| (p, Platform::parse(p))) {
        Some((text, None)) => bail!("--platform {text}: expected os/arch[/variant]"),
        Some((_, p)) => p,
        None => None,
    };
    let engine = open_engine()?;
    let client = client()?;
    let mut stdout = std::io::stdout().lock();
    if !args.quiet {
        let what = reference.tag.clone().or(reference.digest.clone()).unwrap_or_default();
        writeln!(
            stdout,
            "{what}: Pulling from {}",
            rbuild_llb::familiar_name(&reference.repository())
        )?;
    }
    drop(stdout);
    let progress = Lines::new(args.quiet, true);
    let pulled = engine.pull(&client, &reference, platform.as_ref(), &progress);
    warn(&client);
    let (resolved, up_to_date) = match pulled {
        Ok(done) => done,
        Err(e) => return fail(rbuild_engine::error_message(&e)),
    };
    let mut stdout = std::io::stdout().lock();
    if !args.quiet {
        writeln!(stdout, "Digest: {}", resolved.digest)?;
        let status =
            if up_to_date { "Image is up to date for" } else { "Downloaded newer image for" };
        writeln!(stdout, "Status: {status} {}", reference.familiar())?;
    }
    writeln!(stdout, "{reference}")?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn push(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let lines = if args.quiet { PushLines::Digest } else { PushLines::All };
    push_name(&open_engine()?, &args.reference, lines)
}

/// Pushes the store's image `name` to the registry it names.
/// What a push prints on standard output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushLines {
    /// docker's lines: the repository, each blob, the digest and size.
    All,
    /// The pushed digest alone (`push -q`).
    Digest,
    /// Nothing (`build -q`, whose output is the image id).
    Nothing,
}

pub(crate) fn push_name(
    engine: &rbuild_engine::Engine,
    name: &str,
    lines: PushLines,
) -> anyhow::Result<ExitCode> {
    let quiet = lines != PushLines::All;
    let reference = match Reference::parse(name) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let client = client()?;
    if engine.store().resolve(&reference.to_string()).is_none() {
        return fail(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar()
        ));
    }
    if !quiet {
        writeln!(std::io::stdout(), "The push refers to repository [{}]", reference.repository())?;
    }
    let progress = Lines::new(quiet, false);
    let pushed = engine.push(&client, &reference, &progress);
    warn(&client);
    let pushed = match pushed {
        Ok(Some(pushed)) => pushed,
        Ok(None) => {
            return fail(format!(
                "An image does not exist locally with the tag: {}",
                reference.familiar()
            ));
        }
        Err(e) => return fail(rbuild_engine::error_message(&e)),
    };
    let mut stdout = std::io::stdout().lock();
    if lines == PushLines::Digest {
        writeln!(stdout, "{}", pushed.digest)?;
    } else if lines == PushLines::All {
        let tag = reference.tag.as_deref().unwrap_or("latest");
        writeln!(stdout, "{tag}: digest: {} size: {}", pushed.digest, pushed.size)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn login(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let host = server_host(&args.server);
    let Some(username) = args.username.clone() else {
        bail!("login needs -u USER (and --password-stdin or -p)");
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            let _ = writeln!(
                std::io::stderr(),
                "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
            );
            p.clone()
        }
        (None, true) => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the password from stdin")?;
            text.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("no password: pass --password-stdin (and pipe it in) or -p"),
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let credential = Credential::Basic { username, password };
    let client = client()?;
    let keep = match client.verify_login(&host, &credential) {
        Ok(keep) => keep,
        Err(e) => return fail(e),
    };
    let source = client.credentials().store(&host, &keep)?;
    if let (rbuild_registry::Source::File(path), Credential::Basic { .. }) = (source, &keep) {
        let _ = writeln!(
            std::io::stderr(),
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        );
    }
    writeln!(std::io::stdout(), "Login Succeeded")?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn logout(args: &LogoutArgs) -> anyhow::Result<ExitCode> {
    let host = server_host(&args.server);
    let credentials = rbuild_registry::Credentials::from_env();
    let mut stdout = std::io::stdout().lock();
    if credentials.erase(&host)? {
        writeln!(stdout, "Removing login credentials for {}", shown_server(&host))?;
    } else {
        writeln!(stdout, "Not logged in to {}", shown_server(&host))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `https://reg.example/v2/` → `reg.example`; Docker Hub's aliases →
/// `docker.io`.
fn server_host(server: &str) -> String {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

fn shown_server(host: &str) -> String {
    if host == "docker.io" { rbuild_registry::DOCKER_HUB_KEY.to_owned() } else { host.to_owned() }
}
