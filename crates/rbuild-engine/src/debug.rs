//! `rbuild debug`: a shell in the state after any step of an image's
//! history, of the last build (by Dockerfile line), in the state a failed
//! RUN left (kept in the store, or carried in a failure bundle), on a layer
//! thrown away after.

use std::io::Write;
use std::path::{Path, PathBuf};

use rbuild_cache::Store;
use rbuild_image::oci_spec::image::Digest;
use rbuild_image::{Blobs, Layer};
use rbuild_llb::{Cancel, NetworkMode, Stream};
use rbuild_runtime::{Executor, ExitStatus, RootFs, Secrets, StepSpec};

use crate::build::{applied_snapshot, layer_from_ref, layer_key};
use crate::failure::{FailedStep, LastBuild, StepState, interactive_shell};
use crate::{BuildError, Engine};

/// What `rbuild debug` opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DebugTarget<'a> {
    /// An image of the store, by name or id.
    Image(&'a str),
    /// The last build that ended in this store.
    Last,
    /// A failure bundle (`--failure-bundle`), from any machine.
    Bundle(&'a Path),
}

/// Which state of the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DebugAt {
    /// A bundle's or a kept failure's state; else the image's last.
    #[default]
    End,
    /// After this entry of the image's history (1-based, oldest first).
    Step(usize),
    /// After the instruction on this line of the last build's Dockerfile.
    Line(usize),
}

/// A state to open and what the shell there runs with.
struct Session {
    lowers: Vec<PathBuf>,
    env: Vec<String>,
    cwd: String,
    user: String,
    shell: Vec<String>,
    network: NetworkMode,
    /// Said before the shell opens: which state this is.
    about: Vec<String>,
}

impl Engine {
    /// Runs `command` (by default the state's SHELL, interactive) in the
    /// state `at` of `target`, with that state's env, workdir and user, on
    /// this process's terminal when `terminal`, else with its output
    /// copied to ours. Layers are unpacked into the store's snapshots once.
    /// What the state is goes to `notes` first.
    pub fn debug(
        &self,
        target: DebugTarget<'_>,
        at: DebugAt,
        command: Option<&[String]>,
        terminal: bool,
        notes: &mut dyn Write,
    ) -> Result<ExitStatus, BuildError> {
        let store = self.store();
        let _lock = store.lock_shared()?;
        let blobs = Blobs::new(store.root())?;
        let session = match target {
            DebugTarget::Image(name) => self.image_session(&blobs, name, at)?,
            DebugTarget::Last => self.last_session(&blobs, at)?,
            DebugTarget::Bundle(path) => {
                if at != DebugAt::End {
                    return Err(BuildError::Unsupported(
                        "a failure bundle holds one state, the failed step's: --step and --line \
                         do not apply"
                            .into(),
                    ));
                }
                bundle_session(store, &blobs, path)?
            }
        };
        for line in &session.about {
            let _ = writeln!(notes, "{line}");
        }
        let args = match command {
            Some(c) if !c.is_empty() => c.to_vec(),
            _ => interactive_shell(&session.shell),
        };
        let dir = tempfile::Builder::new()
            .prefix(&rbuild_cache::temp_prefix("debug"))
            .tempdir_in(store.tmp_dir())
            .map_err(|e| BuildError::Io {
                what: "cannot make the shell's layer".into(),
                source: e,
            })?;
        let spec = StepSpec {
            args,
            env: session.env,
            cwd: if session.cwd.is_empty() { "/".into() } else { session.cwd },
            user: session.user,
            hostname: "rbuild-debug".into(),
            network: session.network,
            netns: None,
            terminal,
            rootfs: RootFs {
                lowers: session.lowers,
                upper: dir.path().join("upper"),
                work: dir.path().join("work"),
                merged: dir.path().join("merged"),
            },
            mounts: Vec::new(),
            secrets: Vec::new(),
            copy: None,
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            hosts: dir.path().join("hosts"),
        };
        std::fs::write(&spec.hosts, rbuild_llb::hosts_file(&spec.hostname, &[])).map_err(|e| {
            BuildError::Io { what: "cannot write the shell's /etc/hosts".into(), source: e }
        })?;
        let state = dir.path().join("state");
        let executor = Executor::new(self.helper.clone());
        let ran = if terminal {
            executor.run_interactive(&spec, &Secrets::new(), &state, &Cancel::new())
        } else {
            executor.run(&spec, &Secrets::new(), &state, &Cancel::new(), |stream, line| {
                let _ = match stream {
                    Stream::Stdout => std::io::stdout().write_all(line),
                    Stream::Stderr => std::io::stderr().write_all(line),
                };
            })
        };
        ran.map_err(|e| BuildError::Unsupported(format!("the shell could not start: {e}")))
    }

    /// The state after step `at` of image `name`'s history (the last by
    /// default), with the image's env, workdir, user and SHELL.
    fn image_session(&self, blobs: &Blobs, name: &str, at: DebugAt) -> Result<Session, BuildError> {
        let list = self.images()?;
        let (found, _, _) = rbuild_image::images::find(&list, name)?;
        let bad = |e: String| BuildError::Internal(format!("image {name}: {e}"));
        let manifest: Digest = found.record.manifest.parse().map_err(|e| bad(format!("{e}")))?;
        image_at(self.store(), blobs, &manifest, name, at)
    }

    /// A state of the last build: by line, the failed step's when it was
    /// kept, else its image's.
    fn last_session(&self, blobs: &Blobs, at: DebugAt) -> Result<Session, BuildError> {
        let store = self.store();
        let last = LastBuild::read(store)?;
        let file = &last.dockerfile;
        let failed_line = last.failed.as_ref().map(|f| f.step.line);
        match at {
            DebugAt::Line(n) => {
                if let Some(failed) = last.failed.as_ref().filter(|f| covers(&f.step, n)) {
                    return kept_session(store, file, failed);
                }
                let step = last.steps.iter().rev().find(|s| covers(s, n)).ok_or_else(|| {
                    let lines: Vec<String> =
                        last.steps.iter().map(|s| s.line.to_string()).collect();
                    BuildError::Unsupported(format!(
                        "{file}:{n}: no step of the last build with files of its own is on this \
                         line (those that came to a state are on lines {}){}",
                        if lines.is_empty() { "none".to_owned() } else { lines.join(", ") },
                        failed_line
                            .map(|l| format!("; the build failed at line {l}"))
                            .unwrap_or_default()
                    ))
                })?;
                let mut session = step_session(store, blobs, step)?;
                session.about.insert(
                    0,
                    format!(
                        "rbuild debug: the state after {file}:{} `{}` (stage {})",
                        step.line, step.instruction, step.stage
                    ),
                );
                Ok(session)
            }
            DebugAt::End if last.failed.is_some() => {
                let failed = last.failed.as_ref().expect("checked above");
                kept_session(store, file, failed)
            }
            DebugAt::End | DebugAt::Step(_) => {
                let image = last.image.as_deref().ok_or_else(|| {
                    BuildError::Unsupported(format!(
                        "the last build made no image{}: choose a step with --line N",
                        failed_line
                            .map(|l| format!(" (it failed at {file}:{l})"))
                            .unwrap_or_default()
                    ))
                })?;
                let manifest: Digest = image
                    .parse()
                    .map_err(|e| BuildError::Internal(format!("the last build's image: {e}")))?;
                image_at(store, blobs, &manifest, "the last build's image", at)
            }
        }
    }
}

/// Whether `step` is the instruction on line `n`.
fn covers(step: &StepState, n: usize) -> bool {
    step.line <= n && n <= step.end_line.max(step.line)
}

/// The state after step `at` of the image `manifest`.
fn image_at(
    store: &Store,
    blobs: &Blobs,
    manifest: &Digest,
    name: &str,
    at: DebugAt,
) -> Result<Session, BuildError> {
    let manifest_json = rbuild_image::read_manifest(blobs, manifest)?;
    let config = rbuild_image::read_config_blob(blobs, manifest_json.config().digest())?;
    let steps = config.history.len();
    let layers = match at {
        DebugAt::End => manifest_json.layers().len(),
        DebugAt::Step(n) if n >= 1 && n <= steps => {
            config.history[..n].iter().filter(|h| !h.empty_layer).count()
        }
        DebugAt::Step(n) => {
            return Err(BuildError::Unsupported(format!(
                "--step {n}: {name} has {steps} steps in its history (1 to {steps})"
            )));
        }
        DebugAt::Line(_) => {
            return Err(BuildError::Unsupported(format!(
                "--line needs the last build (rbuild debug --line N last): the history of \
                 {name} has no Dockerfile lines; choose its step with --step"
            )));
        }
    };
    let shown = match at {
        DebugAt::Step(n) => n,
        _ => steps,
    };
    let about = match shown.checked_sub(1).and_then(|i| config.history.get(i)) {
        Some(h) => vec![format!(
            "rbuild debug: the state after step {shown} of {steps} of {name}: {}",
            h.created_by.as_deref().unwrap_or("(no command recorded)")
        )],
        None => Vec::new(),
    };
    let layers = rbuild_image::read_layers(blobs, manifest)?.into_iter().take(layers).collect();
    let what = name.to_owned();
    let run = config.config.unwrap_or_default();
    Ok(Session {
        lowers: unpacked(store, blobs, layers, &what)?,
        env: run.env,
        cwd: run.working_dir,
        user: run.user,
        shell: run.shell,
        network: NetworkMode::Default,
        about,
    })
}

/// The state a recorded step came to: its snapshot while the store has
/// it, else its layers unpacked.
fn step_session(store: &Store, blobs: &Blobs, step: &StepState) -> Result<Session, BuildError> {
    let lowers = match step.snapshot.as_ref().and_then(|id| store.chain(id).ok()) {
        Some(lowers) => lowers,
        None => {
            let layers = step.layers.iter().map(layer_from_ref).collect::<Result<Vec<_>, _>>()?;
            let what = format!("the state of line {}", step.line);
            unpacked(store, blobs, layers, &what).map_err(|e| {
                BuildError::Unsupported(format!(
                    "the state of line {} is gone from the store (pruned?): {}",
                    step.line,
                    crate::error_message(&e)
                ))
            })?
        }
    };
    Ok(Session {
        lowers,
        env: step.env.clone(),
        cwd: step.cwd.clone(),
        user: step.user.clone(),
        shell: step.shell.clone(),
        network: NetworkMode::Default,
        about: Vec::new(),
    })
}

/// The state a failed RUN of the last build left, kept in the store.
fn kept_session(store: &Store, file: &str, failed: &FailedStep) -> Result<Session, BuildError> {
    let step = &failed.step;
    let not_kept = || {
        BuildError::Unsupported(format!(
            "the last build failed at {file}:{} `{}`; its state was not kept: build again with \
             --on-failure=keep (or --failure-bundle FILE)",
            step.line, step.instruction
        ))
    };
    let id = step.snapshot.as_ref().ok_or_else(not_kept)?;
    let lowers = store.chain(id).map_err(|e| {
        BuildError::Unsupported(format!(
            "the kept state of {file}:{} is gone from the store (pruned?): {e}",
            step.line
        ))
    })?;
    Ok(Session {
        lowers,
        env: step.env.clone(),
        cwd: step.cwd.clone(),
        user: step.user.clone(),
        shell: step.shell.clone(),
        network: debug_network(&failed.network),
        about: failure_notes(file, failed),
    })
}

/// The failed state a bundle carries, its image now in the store.
fn bundle_session(store: &Store, blobs: &Blobs, path: &Path) -> Result<Session, BuildError> {
    let opened = crate::failure::open_bundle(blobs, path)?;
    let failed = &opened.record.failed;
    let layers = rbuild_image::read_layers(blobs, &opened.manifest)?;
    let what = format!("the bundle {}", path.display());
    let mut about = failure_notes(&opened.record.dockerfile, failed);
    let text = String::from_utf8_lossy(&opened.log);
    let tail: Vec<&str> = text.lines().collect();
    if !tail.is_empty() {
        about.push("  its last output:".to_owned());
        for line in &tail[tail.len().saturating_sub(10)..] {
            about.push(format!("    {line}"));
        }
    }
    let step = &failed.step;
    Ok(Session {
        lowers: unpacked(store, blobs, layers, &what)?,
        env: step.env.clone(),
        cwd: step.cwd.clone(),
        user: step.user.clone(),
        shell: step.shell.clone(),
        network: debug_network(&failed.network),
        about,
    })
}

/// What a shell in a failed state is told of it.
fn failure_notes(file: &str, failed: &FailedStep) -> Vec<String> {
    let step = &failed.step;
    let mut notes = vec![
        format!(
            "rbuild debug: the state {file}:{} `{}` (stage {}) failed in, with exit code {}",
            step.line, step.instruction, step.stage, failed.code
        ),
        format!("  its command: {}", failed.command.join(" ")),
    ];
    let mut absent: Vec<String> = failed.secrets.iter().map(|s| format!("secret {s}")).collect();
    absent.extend(failed.mounts.iter().cloned());
    if !absent.is_empty() {
        notes.push(format!("  not mounted here: {}", absent.join(", ")));
    }
    notes
}

/// The step's network, for a shell: its own namespace unless it had none
/// (never the host's).
fn debug_network(network: &str) -> NetworkMode {
    match network.parse() {
        Ok(NetworkMode::None) => NetworkMode::None,
        _ => NetworkMode::Default,
    }
}

/// `layers` unpacked into snapshots (once each, keyed by their chain), as
/// overlay lower dirs, topmost first.
fn unpacked(
    store: &Store,
    blobs: &Blobs,
    layers: Vec<Layer>,
    what: &str,
) -> Result<Vec<PathBuf>, BuildError> {
    let mut parent = None;
    let mut parent_key = None;
    for (i, layer) in layers.iter().enumerate() {
        let keyed = layer_key(parent_key, layer, false);
        parent_key = Some(keyed.0);
        let what = format!("layer {} of {what}", i + 1);
        parent = Some(applied_snapshot((store, blobs), parent.as_ref(), layer, keyed, &what)?);
    }
    Ok(match &parent {
        Some(id) => store.chain(id)?,
        None => Vec::new(),
    })
}
