//! `rbuild build`, `rbuild load` and `rbuild prune`: the command-line side
//! of building into the store.

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use rbuild_engine::{BuildRequest, DebugAt, DebugTarget, Engine, OnFailure, Output};
use rbuild_llb::Entitlement;

use crate::args::{BuildArgs, LoadArgs, PruneArgs};
use crate::progress::{Mode, Progress};

pub(crate) fn open_engine() -> anyhow::Result<Engine> {
    let root = rbuild_cache::Store::default_root();
    Engine::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))
}

/// `--secret id=ID[,src=FILE][,env=VAR][,type=file|env]`, read now so a
/// missing file fails before anything runs.
fn read_secret(text: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let (mut id, mut src, mut env, mut kind) = (None, None, None, None);
    for field in text.split(',') {
        match field.split_once('=') {
            Some(("id", v)) => id = Some(v.to_owned()),
            Some(("src" | "source", v)) => src = Some(v.to_owned()),
            Some(("env", v)) => env = Some(v.to_owned()),
            Some(("type", v @ ("file" | "env"))) => kind = Some(v.to_owned()),
            _ => bail!("--secret {text:?}: expected id=ID[,src=FILE|,env=VAR][,type=file|env]"),
        }
    }
    let id = match (id, &src, &env) {
        (Some(id), _, _) => id,
        (None, Some(path), _) => std::path::Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("--secret {text:?}: id=ID is required"))?,
        (None, None, Some(var)) => var.clone(),
        (None, None, None) => bail!("--secret {text:?}: id=ID is required"),
    };
    let from_env = match kind.as_deref() {
        Some("env") => true,
        Some(_) => false,
        None => env.is_some() || (src.is_none() && std::env::var_os(&id).is_some()),
    };
    if from_env {
        let var = env.or(src).unwrap_or_else(|| id.clone());
        let value = std::env::var_os(&var)
            .with_context(|| format!("--secret id={id}: environment variable {var} is not set"))?;
        return Ok((id, value.into_encoded_bytes()));
    }
    let path = src.unwrap_or_else(|| id.clone());
    let value =
        std::fs::read(&path).with_context(|| format!("--secret id={id}: cannot read {path}"))?;
    Ok((id, value))
}

fn key_value(flag: &str, text: &str) -> anyhow::Result<(String, String)> {
    let (k, v) =
        text.split_once('=').with_context(|| format!("{flag} {text:?}: expected KEY=VALUE"))?;
    Ok((k.to_owned(), v.to_owned()))
}

/// Stage names of repeatable, comma-separated values (`--no-cache-filter`).
fn stage_list(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `--add-host` values, each checked as the docker CLI checks it.
fn extra_hosts(texts: &[String]) -> anyhow::Result<Vec<rbuild_llb::ExtraHost>> {
    texts.iter().map(|t| rbuild_llb::ExtraHost::parse(t).map_err(anyhow::Error::msg)).collect()
}

/// One `--ssh`: `ID` (the agent of `$SSH_AUTH_SOCK`) or `ID=SOCKET`, the
/// socket checked to be one; buildx's key files would need an agent of
/// rbuild's own, so they are refused with what to do instead.
fn ssh_agent(text: &str) -> anyhow::Result<(String, std::path::PathBuf)> {
    use std::os::unix::fs::FileTypeExt as _;
    let (id, path) = match text.split_once('=') {
        Some((id, path)) => (id, std::path::PathBuf::from(path)),
        None => match std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()) {
            Some(sock) => (text, std::path::PathBuf::from(sock)),
            None => bail!(
                "--ssh {text}: SSH_AUTH_SOCK is not set; start an agent or give its socket: \
                 --ssh {text}=SOCKET"
            ),
        },
    };
    if id.is_empty() || id.contains(',') {
        bail!("--ssh {text:?}: expected default, ID or ID=SOCKET");
    }
    let kind = std::fs::metadata(&path)
        .with_context(|| format!("--ssh {text}: {}", path.display()))?
        .file_type();
    if !kind.is_socket() {
        bail!(
            "--ssh {text}: {} is not an agent's socket (a key file? load it with ssh-add and \
             give the agent's socket)",
            path.display()
        );
    }
    Ok((id.to_owned(), std::path::absolute(&path)?))
}

/// `--metadata-file`: buildx's keys for the built image, written whole or
/// not at all. `containerimage.digest` is the manifest's (what a push
/// names), as buildx writes it for an image store with manifests.
fn write_metadata(
    path: &Path,
    manifest: &str,
    manifest_size: u64,
    id: &str,
    names: &[String],
) -> anyhow::Result<()> {
    let mut body = serde_json::json!({
        "containerimage.config.digest": id,
        "containerimage.descriptor": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest,
            "size": manifest_size,
        },
        "containerimage.digest": manifest,
    });
    let names: Vec<String> = names
        .iter()
        .map(|n| rbuild_llb::normalize_reference(n).unwrap_or_else(|_| n.clone()))
        .collect();
    if !names.is_empty() {
        body["image.name"] = serde_json::json!(names.join(","));
    }
    let text = serde_json::to_string_pretty(&body)?;
    rbuild_cache::write_atomic(path, text.as_bytes())
        .with_context(|| format!("--metadata-file {}", path.display()))
}

/// `SOURCE_DATE_EPOCH` from the environment, as buildx reads it (empty is unset).
fn source_date_epoch() -> anyhow::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => {
            Ok(Some(v.parse().context("SOURCE_DATE_EPOCH must be a number of seconds")?))
        }
        _ => Ok(None),
    }
}

/// What `-` stood for, read from standard input into a directory of its
/// own (removed after the build): the context (`rbuild build -`: a tar,
/// plain or compressed, or a Dockerfile alone, as docker tells them) or
/// the Dockerfile (`-f -`).
struct FromStdin {
    _dir: tempfile::TempDir,
    /// How messages name the Dockerfile.
    dockerfile_name: String,
}

/// Where the context and the Dockerfile of `args` are, `-` read first.
fn from_stdin(args: &mut BuildArgs) -> anyhow::Result<Option<FromStdin>> {
    let context_is_stdin = args.context == Path::new("-");
    let file_is_stdin = args.file.as_deref() == Some(Path::new("-"));
    if !context_is_stdin && !file_is_stdin {
        return Ok(None);
    }
    if context_is_stdin && file_is_stdin {
        bail!("standard input cannot be both the build context and the Dockerfile");
    }
    if std::io::stdin().is_terminal() {
        bail!("`-` reads standard input, which is a terminal: pipe the file in");
    }
    let dir = tempfile::Builder::new().prefix("rbuild-stdin-").tempdir()?;
    let spooled = dir.path().join("stdin");
    let mut file = std::fs::File::create(&spooled)?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file).context("reading standard input")?;
    drop(file);
    if file_is_stdin {
        args.file = Some(spooled);
        return Ok(Some(FromStdin { _dir: dir, dockerfile_name: "<stdin>".into() }));
    }
    let context = dir.path().join("context");
    std::fs::create_dir(&context)?;
    let is_tar = {
        let reader = std::io::BufReader::new(std::fs::File::open(&spooled)?);
        let mut head = [0u8; 512];
        let read = rbuild_context::decompress(reader).and_then(|(_, mut plain)| {
            std::io::Read::read_exact(&mut plain, &mut head).map(|()| head)
        });
        read.is_ok_and(|head| &head[257..262] == b"ustar")
    };
    let dockerfile_name = if is_tar {
        rbuild_context::read_tar(std::fs::File::open(&spooled)?, &context, u64::MAX)
            .map_err(|e| anyhow::anyhow!("the context on standard input: {e}"))?;
        args.file.as_deref().unwrap_or(Path::new("Dockerfile")).display().to_string()
    } else if let Some(file) = &args.file {
        bail!(
            "-f {}: standard input holds a Dockerfile, not a context with files to name",
            file.display()
        );
    } else {
        std::fs::rename(&spooled, context.join("Dockerfile"))?;
        "<stdin>".to_owned()
    };
    if let Some(file) = &args.file {
        args.file = Some(context.join(file));
    }
    args.context = context;
    Ok(Some(FromStdin { _dir: dir, dockerfile_name }))
}

pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let mut args = args.clone();
    let stdin = from_stdin(&mut args)?;
    let dockerfile_name = stdin.as_ref().map(|s| s.dockerfile_name.clone());
    let args = &args;
    anyhow::ensure!(
        args.context.is_dir(),
        "build context {} is not a directory",
        args.context.display()
    );
    if let Some(host) = &args.host {
        return remote(args, host, dockerfile_name);
    }
    if let Some(platform) = &args.platform {
        rbuild_llb::check_build_platforms(platform)
            .map_err(|e| anyhow::anyhow!("--platform: {e}"))?;
    }
    let dockerfile = args.file.clone().unwrap_or_else(|| args.context.join("Dockerfile"));
    let mut request = BuildRequest::new(&args.context, dockerfile);
    request.dockerfile_name = dockerfile_name;
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => request.build_args.insert(k.to_owned(), Some(v.to_owned())),
            None => request.build_args.insert(arg.clone(), None),
        };
    }
    request.labels =
        args.labels.iter().map(|l| key_value("--label", l)).collect::<Result<_, _>>()?;
    request.outputs = args
        .outputs
        .iter()
        .map(|o| Output::parse(o).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    request.cache_to = args
        .cache_to
        .iter()
        .map(|c| rbuild_engine::CacheExport::parse(c).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    request.cache_from = args
        .cache_from
        .iter()
        .map(|c| rbuild_engine::CacheImport::parse(c).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    if let Some(n) = &args.network {
        request.network = Some(n.parse().map_err(|e: String| anyhow::anyhow!("--network: {e}"))?);
    }
    request.allow = Entitlement::parse_flags(&args.allow).map_err(anyhow::Error::msg)?;
    let mut mode = if args.quiet { Mode::Quiet } else { Mode::parse(&args.progress)? };
    for text in &args.secrets {
        let (id, value) = read_secret(text)?;
        request.secrets.insert(id, value);
    }
    for text in &args.ssh {
        let (id, socket) = ssh_agent(text)?;
        request.ssh.insert(id, socket);
    }
    request.extra_hosts = extra_hosts(&args.add_hosts)?;
    request.no_cache_filter = stage_list(&args.no_cache_filter);
    if let Some(what) = &args.on_failure {
        request.on_failure = match what.as_str() {
            "keep" => OnFailure::Keep,
            "shell" => OnFailure::Shell(None),
            other => match other.strip_prefix("shell:") {
                Some(cmd) if !cmd.is_empty() => OnFailure::Shell(Some(cmd.to_owned())),
                _ => bail!("--on-failure={other}: expected shell, shell:COMMAND or keep"),
            },
        };
        if matches!(request.on_failure, OnFailure::Shell(_)) {
            if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
                // A live view would draw over the shell.
                if mode == Mode::Tty {
                    mode = Mode::Plain;
                }
            } else {
                writeln!(
                    std::io::stderr(),
                    "warning: --on-failure={what} needs a terminal; a failed step's state is kept \
                     instead (--on-failure=keep): open it with rbuild debug last"
                )?;
                request.on_failure = OnFailure::Keep;
            }
        }
    }
    request.failure_bundle = args.failure_bundle.clone();
    request.source_date_epoch = source_date_epoch()?;
    request.tags = args.tags.clone();
    request.log_dir = args.log_dir.clone();
    request.target = args.target.clone();
    request.no_cache = args.no_cache;
    request.pull = rbuild_engine::PullPolicy::from_flag(args.pull.as_deref());
    if args.push && request.tags.is_empty() {
        anyhow::bail!("--push needs a -t NAME to push to");
    }
    if request
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Image { names, push: true } if names.is_empty()))
        && request.tags.is_empty()
    {
        anyhow::bail!("--output type=image,push=true needs name=REF or a -t NAME to push to");
    }
    let engine = open_engine()?;
    let progress = Progress::new(mode).for_dockerfile(request.dockerfile_label());
    let result = engine.build(&request, &progress);
    progress.close();
    // The error was an event: in JSON, or printed by the renderer.
    let Ok(result) = result else { return Ok(ExitCode::from(1)) };
    if let Some(path) = &args.iidfile {
        rbuild_cache::write_atomic(path, result.config_digest.as_bytes())?;
    }
    if let Some(path) = &args.metadata_file {
        let names: Vec<String> = request.names().into_iter().map(str::to_owned).collect();
        write_metadata(
            path,
            &result.manifest,
            result.manifest_size,
            &result.config_digest,
            &names,
        )?;
    }
    if let Some(path) = &args.report {
        let mut body = serde_json::json!({ "steps": result.steps });
        if !result.pulled.is_empty() {
            body["pulled"] = serde_json::json!(result.pulled);
        }
        rbuild_cache::write_atomic(path, serde_json::to_string_pretty(&body)?.as_bytes())?;
    }
    let mut push: Vec<&str> =
        if args.push { request.tags.iter().map(String::as_str).collect() } else { Vec::new() };
    for name in request.push_names() {
        if !push.contains(&name) {
            push.push(name);
        }
    }
    for name in push {
        use super::registry::PushLines;
        let lines = match mode {
            Mode::Json => PushLines::Digest,
            Mode::Quiet => PushLines::Nothing,
            _ => PushLines::All,
        };
        let code = super::registry::push_name(&engine, name, lines)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    if mode == Mode::Json {
        return Ok(ExitCode::SUCCESS);
    }
    if mode == Mode::Quiet {
        writeln!(std::io::stdout(), "{}", result.config_digest)?;
        return Ok(ExitCode::SUCCESS);
    }
    // One screen of summary.
    let names = request.names();
    let name = names.first().copied().unwrap_or("<untagged>");
    let mut stderr = std::io::stderr().lock();
    write!(stderr, "\n{}", rbuild_llb::steps_table(&result.steps))?;
    writeln!(stderr, "built {name} ({}) in {:.2}s", result.manifest, result.seconds)?;
    Ok(ExitCode::SUCCESS)
}

/// `rbuild build -H HOST`: the build runs on the server, its progress
/// shows here as a local build's does.
fn remote(
    args: &BuildArgs,
    host: &str,
    dockerfile_name: Option<String>,
) -> anyhow::Result<ExitCode> {
    let host: rbuild_serve::Listen = host.parse().map_err(|e| anyhow::anyhow!("-H {e}"))?;
    if let rbuild_serve::Listen::Tcp(addr) = &host
        && !addr.ip().is_loopback()
    {
        bail!(
            "-H {host}: rbuild build -H speaks plain HTTP, so only to a unix socket or a loopback \
             address (the build's secrets and registry logins would cross the network \
             unencrypted)"
        );
    }
    // What lives on this machine cannot reach the server's build.
    if !args.ssh.is_empty() {
        bail!(
            "--ssh is not supported with -H: the agent is on this machine, and the server's \
             steps cannot reach it"
        );
    }
    if args.on_failure.is_some() {
        bail!(
            "--on-failure is not supported with -H: the failed state would be the server's; ask \
             for --failure-bundle FILE and reopen it here with rbuild debug FILE"
        );
    }
    // The names and pushes as a local build takes them; the files come
    // back from the server after the build.
    let mut names = BuildRequest::new(&args.context, "");
    names.tags = args.tags.clone();
    names.outputs = args
        .outputs
        .iter()
        .map(|o| Output::parse(o).map_err(anyhow::Error::msg))
        .collect::<Result<_, _>>()?;
    if args.push && names.tags.is_empty() {
        bail!("--push needs a -t NAME to push to");
    }
    let mut push: Vec<String> = if args.push { names.tags.clone() } else { Vec::new() };
    for name in names.push_names() {
        if !push.iter().any(|p| p == name) {
            push.push(name.to_owned());
        }
    }
    if push.is_empty()
        && names.outputs.iter().any(|o| matches!(o, Output::Image { push: true, .. }))
    {
        bail!("--output type=image,push=true needs name=REF or a -t NAME to push to");
    }
    let mut received = Vec::new();
    let mut kinds = Vec::new();
    for (output, text) in names.outputs.iter().zip(&args.outputs) {
        let prepared = rbuild_serve::client::Received::new(output)
            .with_context(|| format!("--output {text}: cannot make a temp file beside it"))?;
        if let Some((kind, file)) = prepared {
            kinds.push(kind);
            received.push(file);
        }
    }
    let bundle = match &args.failure_bundle {
        Some(dest) => Some(rbuild_serve::client::Received::file(dest).with_context(|| {
            format!("--failure-bundle {}: cannot make a temp file beside it", dest.display())
        })?),
        None => None,
    };
    let receiving = rbuild_serve::client::Receiving {
        outputs: received,
        log_dir: args.log_dir.clone(),
        bundle,
    };
    let dockerfile = args.file.clone().unwrap_or_else(|| args.context.join("Dockerfile"));
    let text = std::fs::read_to_string(&dockerfile)
        .with_context(|| format!("cannot read {}", dockerfile.display()))?;
    let beside = {
        let name =
            dockerfile.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        dockerfile.with_file_name(format!("{name}.dockerignore"))
    };
    let mut request = rbuild_serve::native::RemoteRequest {
        dockerfile: text,
        dockerfile_name: dockerfile_name.unwrap_or_else(|| dockerfile.display().to_string()),
        dockerignore: std::fs::read_to_string(&beside).ok(),
        tags: names.names().into_iter().map(str::to_owned).collect(),
        outputs: kinds,
        push,
        platform: args.platform.clone(),
        log_dir: args.log_dir.clone(),
        failure_bundle: args.failure_bundle.clone(),
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull.clone(),
        network: args.network.clone(),
        cache_from: args.cache_from.clone(),
        cache_to: args.cache_to.clone(),
        ..Default::default()
    };
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => {
                request.build_args.insert(k.to_owned(), v.to_owned());
            }
            // From this machine's environment, as a local build takes it.
            None => {
                if let Ok(v) = std::env::var(arg) {
                    request.build_args.insert(arg.clone(), v);
                }
            }
        }
    }
    request.labels =
        args.labels.iter().map(|l| key_value("--label", l)).collect::<Result<_, _>>()?;
    // Read here, as a local build reads them; sent in the request only.
    for text in &args.secrets {
        let (id, value) = read_secret(text)?;
        request.secrets.0.insert(id, value);
    }
    // Checked here, so a typo fails before the context travels.
    Entitlement::parse_flags(&args.allow).map_err(anyhow::Error::msg)?;
    request.allow = args.allow.clone();
    request.source_date_epoch = source_date_epoch()?;
    request.extra_hosts = extra_hosts(&args.add_hosts)?;
    request.no_cache_filter = stage_list(&args.no_cache_filter);
    let credentials = rbuild_registry::Credentials::from_env();
    request.registry_auth = rbuild_serve::client::lent_logins(&request, &credentials)
        .context("cannot read the registry logins to lend the server")?;
    let mode = if args.quiet { Mode::Quiet } else { Mode::parse(&args.progress)? };
    let progress = Progress::new(mode).for_dockerfile(request.dockerfile_name.clone());
    let ignore_beside = Some(dockerfile.as_path());
    let outcome = rbuild_serve::client::remote_build(
        &host,
        &request,
        &args.context,
        ignore_beside,
        &progress,
        receiving,
    );
    progress.close();
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            writeln!(std::io::stderr(), "rbuild: {e}")?;
            return Ok(ExitCode::from(1));
        }
    };
    let Some(result) = outcome.result else { return Ok(ExitCode::from(1)) };
    if let Some(path) = &args.iidfile {
        rbuild_cache::write_atomic(path, result.id.as_bytes())?;
    }
    if let Some(path) = &args.metadata_file {
        write_metadata(path, &result.manifest, result.manifest_size, &result.id, &request.tags)?;
    }
    if let Some(path) = &args.report {
        let body = serde_json::json!({ "steps": result.steps, "context": {
            "files_sent": outcome.sent.files_sent, "bytes_sent": outcome.sent.bytes_sent,
            "files_skipped": outcome.sent.files_skipped, "bytes_skipped": outcome.sent.bytes_skipped,
        }});
        rbuild_cache::write_atomic(path, serde_json::to_string_pretty(&body)?.as_bytes())?;
    }
    if mode == Mode::Json {
        return Ok(ExitCode::SUCCESS);
    }
    if mode == Mode::Quiet {
        writeln!(std::io::stdout(), "{}", result.id)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut stderr = std::io::stderr().lock();
    let sent = outcome.sent;
    writeln!(
        stderr,
        "\n[internal] context to {host}: {} files sent ({} bytes), {} already there ({} bytes)",
        sent.files_sent, sent.bytes_sent, sent.files_skipped, sent.bytes_skipped
    )?;
    write!(stderr, "\n{}", rbuild_llb::steps_table(&result.steps))?;
    let name = result.image.as_deref().unwrap_or("<untagged>");
    writeln!(stderr, "built {name} ({}) on {host} in {:.2}s", result.manifest, result.seconds)?;
    Ok(ExitCode::SUCCESS)
}

/// `rbuild debug`: a shell on this terminal in an image's state.
pub(crate) fn debug(args: &crate::args::DebugArgs) -> anyhow::Result<ExitCode> {
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if !terminal && args.command.is_empty() {
        bail!(
            "rbuild debug opens a shell: it needs a terminal (or give a command to run: rbuild \
             debug {} -- CMD...)",
            args.target
        );
    }
    let target = if args.target == "last" {
        DebugTarget::Last
    } else if Path::new(&args.target).is_file() {
        DebugTarget::Bundle(Path::new(&args.target))
    } else {
        DebugTarget::Image(&args.target)
    };
    let at = match (args.step, args.line) {
        (Some(n), _) => DebugAt::Step(n),
        (None, Some(n)) => DebugAt::Line(n),
        (None, None) => DebugAt::End,
    };
    let command = (!args.command.is_empty()).then_some(args.command.as_slice());
    let engine = open_engine()?;
    match engine.debug(target, at, command, terminal, &mut std::io::stderr()) {
        Ok(status) => Ok(ExitCode::from(u8::try_from(status.code).unwrap_or(1))),
        Err(e) => {
            writeln!(std::io::stderr(), "rbuild: {}", rbuild_engine::error_message(&e))?;
            Ok(ExitCode::from(1))
        }
    }
}

pub(crate) fn load(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let engine = open_engine()?;
    // `-q` is accepted as docker's: it hides progress, and load shows none.
    let _ = args.quiet;
    let (loaded, what) = match &args.input {
        Some(input) => (engine.load(input), input.display().to_string()),
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!(
                    "requested load from stdin, but stdin is a terminal: use -i FILE or redirect"
                );
            }
            (engine.load_reader(stdin.lock()), "the archive on stdin".to_owned())
        }
    };
    // A bad archive is a failed load (exit 1, as docker), not a usage error.
    let images = match loaded {
        Ok(images) => images,
        Err(e) => {
            let message = rbuild_engine::error_message(&e);
            writeln!(std::io::stderr(), "rbuild: cannot load {what}: {message}")?;
            return Ok(ExitCode::from(1));
        }
    };
    let mut stdout = std::io::stdout().lock();
    for image in images {
        writeln!(stdout, "{image}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn prune(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    if !args.force {
        bail!(
            "prune removes the build cache{}; pass -f to confirm",
            if args.all { " and every image" } else { "" }
        );
    }
    let stats = open_engine()?.prune(args.all)?;
    writeln!(
        std::io::stdout(),
        "Total reclaimed space: {} bytes ({} entries)",
        stats.bytes,
        stats.entries
    )?;
    Ok(ExitCode::SUCCESS)
}
