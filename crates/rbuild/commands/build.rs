//! `rbuild build`, `rbuild load` and `rbuild prune`: the command-line side
//! of building into the store.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use rbuild_cache::Store;

use crate::args::{BuildArgs, LoadArgs, PruneArgs};
use crate::build::{BuildConfig, BuildOutcome, StepError, build};
use crate::progress::{Mode, Progress};

fn open_store() -> anyhow::Result<Store> {
    let root = Store::default_root();
    Store::open(&root).with_context(|| format!("cannot open the store at {}", root.display()))
}

/// `type=oci,dest=DIR` and friends.
#[derive(Debug)]
enum Output {
    Oci(std::path::PathBuf),
    Docker(std::path::PathBuf),
    Local(std::path::PathBuf),
    Tar(std::path::PathBuf),
}

fn parse_output(text: &str) -> anyhow::Result<Output> {
    let mut kind = None;
    let mut dest = None;
    for field in text.split(',') {
        match field.split_once('=') {
            Some(("type", v)) => kind = Some(v.to_owned()),
            Some(("dest", v)) => dest = Some(std::path::PathBuf::from(v)),
            _ => bail!("--output {text:?}: expected type=oci|docker|local|tar,dest=PATH"),
        }
    }
    let dest = dest.with_context(|| format!("--output {text:?}: dest=PATH is required"))?;
    Ok(match kind.as_deref() {
        Some("oci") => Output::Oci(dest),
        Some("docker") => Output::Docker(dest),
        Some("local") => Output::Local(dest),
        Some("tar") => Output::Tar(dest),
        _ => bail!("--output {text:?}: type must be oci, docker, local or tar"),
    })
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

pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.context.is_dir(),
        "build context {} is not a directory",
        args.context.display()
    );
    let dockerfile = args.file.clone().unwrap_or_else(|| args.context.join("Dockerfile"));
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_owned(), Some(v.to_owned())),
            None => build_args.insert(arg.clone(), None),
        };
    }
    let labels = args.labels.iter().map(|l| key_value("--label", l)).collect::<Result<_, _>>()?;
    let outputs = args.outputs.iter().map(|o| parse_output(o)).collect::<Result<Vec<_>, _>>()?;
    let network = match &args.network {
        Some(n) => Some(n.parse().map_err(|e: String| anyhow::anyhow!("--network: {e}"))?),
        None => None,
    };
    let mode = Mode::parse(&args.progress)?;
    let mut secrets = rbuild_runtime::Secrets::new();
    for text in &args.secrets {
        let (id, value) = read_secret(text)?;
        secrets.insert(id, value);
    }
    let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if !v.is_empty() => {
            Some(v.parse().context("SOURCE_DATE_EPOCH must be a number of seconds")?)
        }
        _ => None,
    };
    let cfg = BuildConfig {
        context: args.context.clone(),
        dockerfile,
        tags: args.tags.clone(),
        build_args,
        target: args.target.clone(),
        no_cache: args.no_cache,
        labels,
        network,
        source_date_epoch,
        secrets,
    };
    let store = open_store()?;
    let _lock = store.lock_shared()?;
    let started = std::time::Instant::now();
    let progress = Progress::new(mode);
    let result = build(&cfg, &store, &progress).and_then(|outcome| {
        write_outputs(&store, args, &outputs, &outcome)?;
        Ok(outcome)
    });
    progress.close();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            let message = if err.downcast_ref::<StepError>().is_some() {
                format!("build failed\n{err}")
            } else {
                format!("{err:#}")
            };
            if mode == Mode::Json {
                progress.event(serde_json::json!({ "event": "error", "message": message }));
            } else {
                writeln!(std::io::stderr(), "rbuild: {message}")?;
            }
            return Ok(ExitCode::from(1));
        }
    };
    for w in &outcome.warnings {
        progress.warning(w);
    }
    if let Some(path) = &args.iidfile {
        rbuild_cache::write_atomic(path, outcome.config_digest.as_bytes())?;
    }
    if let Some(path) = &args.report {
        let body = serde_json::json!({ "steps": outcome.steps });
        rbuild_cache::write_atomic(path, serde_json::to_string_pretty(&body)?.as_bytes())?;
    }
    let name = args.tags.first().map(String::as_str).unwrap_or("<untagged>");
    let seconds = started.elapsed().as_secs_f64();
    if mode == Mode::Json {
        progress.event(serde_json::json!({
            "event": "result", "image": args.tags.first(), "manifest": outcome.manifest.digest().to_string(),
            "id": outcome.config_digest, "seconds": seconds, "steps": outcome.steps,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    // One screen of summary.
    let mut stderr = std::io::stderr().lock();
    writeln!(stderr, "\n{:<8} {:>9}  {:>10}  STEP", "STATUS", "SECONDS", "BYTES")?;
    for s in &outcome.steps {
        let status = if s.cached { "CACHED" } else { "RAN" };
        let first = s.instruction.lines().next().unwrap_or_default();
        writeln!(stderr, "{status:<8} {:>9.2}  {:>10}  [{}] {first}", s.seconds, s.bytes, s.stage)?;
    }
    writeln!(stderr, "built {name} ({}) in {seconds:.2}s", outcome.manifest.digest())?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the image to each `--output` destination.
fn write_outputs(
    store: &Store,
    args: &BuildArgs,
    outputs: &[Output],
    outcome: &BuildOutcome,
) -> anyhow::Result<()> {
    let blobs = rbuild_image::Blobs::new(store.root())?;
    for output in outputs {
        let tag = args.tags.first().map(String::as_str).unwrap_or("latest");
        let ref_name = tag.rsplit_once(':').map_or("latest", |(_, t)| t);
        match output {
            Output::Oci(dest) if dest.extension().is_some_and(|e| e == "tar") => {
                rbuild_image::export_oci_archive(&blobs, &outcome.manifest, dest, ref_name)?
            }
            Output::Oci(dest) => {
                rbuild_image::export_oci_layout(&blobs, &outcome.manifest, dest, ref_name)?
            }
            Output::Docker(dest) => {
                rbuild_image::export_docker_archive(&blobs, &outcome.manifest, &args.tags, dest)?
            }
            Output::Local(dest) | Output::Tar(dest) => {
                let layers = rbuild_image::read_layers(&blobs, outcome.manifest.digest())?;
                let root = if matches!(output, Output::Local(_)) {
                    dest.clone()
                } else {
                    store.tmp_dir().join(format!("rootfs-{}", std::process::id()))
                };
                std::fs::create_dir_all(&root)?;
                for layer in &layers {
                    rbuild_image::apply_flat(rbuild_image::open_layer(&blobs, layer)?, &root)?;
                }
                if let Output::Tar(file) = output {
                    rbuild_image::tar_dir(&root, file)?;
                    std::fs::remove_dir_all(&root)?;
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn load(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let store = open_store()?;
    let _lock = store.lock_shared()?;
    let blobs = rbuild_image::Blobs::new(store.root())?;
    let images = rbuild_image::import(&blobs, &args.input)
        .with_context(|| format!("cannot load {}", args.input.display()))?;
    let mut stdout = std::io::stdout().lock();
    for image in images {
        let digest = image.manifest.digest().to_string();
        match &image.name {
            Some(name) => {
                store.tag(name, &digest)?;
                writeln!(stdout, "Loaded image: {}", rbuild_llb::familiar_name(name))?;
            }
            None => writeln!(stdout, "Loaded image ID: {digest}")?,
        }
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
    let store = open_store()?;
    let stats = store.prune(args.all)?;
    writeln!(
        std::io::stdout(),
        "Total reclaimed space: {} bytes ({} entries)",
        stats.bytes,
        stats.entries
    )?;
    Ok(ExitCode::SUCCESS)
}
