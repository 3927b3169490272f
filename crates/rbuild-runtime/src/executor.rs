//! The executor: starts the helper for one step, streams the step's output
//! line by line, returns its exit status, and cancels it on demand.

use std::fs;
use std::io::{self, BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};

use rbuild_llb::{Cancel, NetworkMode, Stream};

use crate::helper::{HELPER_COMMAND, SETUP_FAILED};
use crate::net::NetPool;
use crate::spec::StepSpec;

/// How a step's command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code; 128 + N when killed by signal N.
    pub code: i32,
}

impl ExitStatus {
    /// Whether the command succeeded.
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// Why a step did not run to an exit status of its own.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The helper could not be started or talked to.
    #[error("cannot start the step helper {}: {source}", helper.display())]
    Spawn {
        /// The helper program.
        helper: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The step's state directory could not be prepared.
    #[error("{}: {source}", path.display())]
    State {
        /// The path that failed.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The container could not be set up (the helper's own message).
    #[error("{0}")]
    Setup(String),
    /// The step was cancelled and killed.
    #[error("cancelled")]
    Cancelled,
}

/// Secret values by id, for the steps that mount them. Kept out of every
/// spec, log and debug print.
#[derive(Clone, Default)]
pub struct Secrets(std::collections::BTreeMap<String, Vec<u8>>);

impl Secrets {
    /// No secrets.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Adds (or replaces) the value of secret `id`.
    pub fn insert(&mut self, id: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.0.insert(id.into(), value.into());
    }

    /// Whether secret `id` was given.
    pub fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }

    /// `text` with every secret value in it (and the value without its
    /// trailing newline, as a file's often ends) replaced by `****`: what a
    /// step printed may leave this process only so.
    pub fn mask(&self, text: &[u8]) -> Vec<u8> {
        let mut needles: Vec<&[u8]> = Vec::new();
        for value in self.0.values() {
            let trimmed = value.strip_suffix(b"\n").unwrap_or(value);
            let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
            needles.extend([value.as_slice(), trimmed].into_iter().filter(|v| !v.is_empty()));
        }
        // Longest first, so a value that holds another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        let mut out = text.to_vec();
        for needle in needles {
            let finder = memchr::memmem::Finder::new(needle);
            let mut masked = Vec::with_capacity(out.len());
            let mut at = 0;
            for found in finder.find_iter(&out) {
                if found < at {
                    continue;
                }
                masked.extend_from_slice(&out[at..found]);
                masked.extend_from_slice(b"****");
                at = found + needle.len();
            }
            masked.extend_from_slice(&out[at..]);
            out = masked;
        }
        out
    }
}

impl std::fmt::Debug for Secrets {
    /// The ids only; values never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Runs steps through a helper program: the rbuild binary itself in
/// production (`/proc/self/exe`), the built binary in tests. Clones share
/// the default network's namespaces, which go when the last clone does.
#[derive(Clone, Debug)]
pub struct Executor {
    helper: PathBuf,
    net: Arc<NetPool>,
}

impl Executor {
    /// An executor whose helper is `helper` (it must handle the hidden
    /// `__run-step` and `__run-step-init` subcommands).
    pub fn new(helper: impl Into<PathBuf>) -> Executor {
        Executor { helper: helper.into(), net: Arc::default() }
    }

    /// The running binary as its own helper.
    pub fn current_exe() -> Executor {
        Executor::new("/proc/self/exe")
    }

    /// Runs `spec`, with the values of the `secrets` it mounts and `state`
    /// as its private state directory (created;
    /// it must be on a file system that supports overlay's upper dir if the
    /// spec puts anything there). Each line of output is passed to
    /// `on_output` as it comes; the command's exit status is returned.
    pub fn run(
        &self,
        spec: &StepSpec,
        secrets: &Secrets,
        state: &Path,
        cancel: &Cancel,
        on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<ExitStatus, ExecError> {
        self.run_with(spec, secrets, state, cancel, on_output, None)
    }

    /// Runs `spec` on this process's terminal, as `docker run -it` does: the
    /// command gets a pty of its own as its stdin, stdout, stderr and
    /// controlling terminal, sized as ours; what is typed here goes to it
    /// (our terminal in raw mode meanwhile, restored after) and what it
    /// writes comes here. For a shell in a step's state.
    pub fn run_interactive(
        &self,
        spec: &StepSpec,
        secrets: &Secrets,
        state: &Path,
        cancel: &Cancel,
    ) -> Result<ExitStatus, ExecError> {
        let io = |e: nix::errno::Errno| ExecError::Setup(format!("the terminal: {e}"));
        let pty = crate::terminal::open_pty().map_err(io)?;
        crate::terminal::copy_size(&pty.master);
        let raw = crate::terminal::RawMode::enter();
        let (wake_r, wake_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io)?;
        let master = std::fs::File::from(pty.master);
        let input = {
            let master = master.try_clone().map_err(|e| ExecError::Setup(e.to_string()))?;
            std::thread::spawn(move || crate::terminal::forward_input(master, wake_r))
        };
        let output = {
            let master = master.try_clone().map_err(|e| ExecError::Setup(e.to_string()))?;
            std::thread::spawn(move || crate::terminal::forward_output(master))
        };
        let mut spec = spec.clone();
        spec.terminal = true;
        let status = self.run_with(&spec, secrets, state, cancel, |_, _| {}, Some(pty.slave));
        drop(wake_w);
        let _ = input.join();
        drop(master);
        let _ = output.join();
        drop(raw);
        status
    }

    fn run_with(
        &self,
        spec: &StepSpec,
        secrets: &Secrets,
        state: &Path,
        cancel: &Cancel,
        mut on_output: impl FnMut(Stream, &[u8]),
        terminal: Option<std::os::fd::OwnedFd>,
    ) -> Result<ExitStatus, ExecError> {
        let state_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ExecError::State { path, source }
        };
        fs::create_dir_all(state).map_err(state_err(state))?;
        // The default network: a namespace of the pool, and the host's
        // resolv.conf as seen from there.
        let mut lease = None;
        let mut own_spec;
        let mut spec = spec;
        if spec.network == NetworkMode::Default && spec.copy.is_none() {
            let net = self.net.lease().map_err(|e| ExecError::Setup(format!("network: {e}")))?;
            let host = fs::read_to_string(&spec.resolv_conf).unwrap_or_default();
            let resolv = state.join("resolv.conf");
            fs::write(&resolv, crate::net::step_resolv_conf(&host, net.connected()))
                .map_err(state_err(&resolv))?;
            own_spec = spec.clone();
            own_spec.netns = Some(net.path());
            own_spec.resolv_conf = resolv;
            spec = &own_spec;
            if let Some(warning) = &net.warning {
                on_output(Stream::Stderr, format!("{warning}\n").as_bytes());
            }
            lease = Some(net);
        }
        let spec_path = state.join("spec.json");
        let json = serde_json::to_vec(spec).map_err(|e| ExecError::State {
            path: spec_path.clone(),
            source: io::Error::other(e),
        })?;
        fs::write(&spec_path, json).map_err(state_err(&spec_path))?;
        let status_path = state.join("status");
        let _ = fs::remove_file(&status_path);
        for dir in [&spec.rootfs.upper, &spec.rootfs.work, &spec.rootfs.merged] {
            fs::create_dir_all(dir).map_err(state_err(dir))?;
        }
        for mount in &spec.mounts {
            if let crate::Mount::Overlay { scratch, .. } = mount {
                for sub in ["upper", "work", "empty"] {
                    let dir = scratch.join(sub);
                    fs::create_dir_all(&dir).map_err(state_err(&dir))?;
                }
            }
        }

        let spawn_err = |source| ExecError::Spawn { helper: self.helper.clone(), source };
        if cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        let mut command = Command::new(&self.helper);
        command.arg(HELPER_COMMAND).arg(&spec_path).stdin(Stdio::piped());
        match &terminal {
            None => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
            }
            Some(tty) => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
                crate::terminal::pass_as_fd3(&mut command, tty);
            }
        }
        let mut child = command.spawn().map_err(spawn_err)?;
        drop(terminal);
        // The first line tells the helper the secrets the step uses; the
        // pipe then stays open as the step's lifeline: cancelling the build
        // closes it, and the helper kills the step's PID namespace.
        let mut pipe = child.stdin.take();
        if let Some(pipe) = pipe.as_mut() {
            let used: std::collections::BTreeMap<&String, &Vec<u8>> = secrets
                .0
                .iter()
                .filter(|(id, _)| spec.secrets.iter().any(|s| &s.id == *id))
                .collect();
            let mut line = serde_json::to_vec(&used).map_err(|e| spawn_err(io::Error::other(e)))?;
            line.push(b'\n');
            // A helper that died at once shows in its exit status.
            let _ = std::io::Write::write_all(pipe, &line);
        }
        let lifeline = Arc::new(Mutex::new(pipe));
        let hook = {
            let lifeline = lifeline.clone();
            cancel.on_cancel(move || {
                lifeline.lock().unwrap_or_else(|p| p.into_inner()).take();
            })
        };

        let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
        let readers: Vec<_> = [
            child.stdout.take().map(|r| (Stream::Stdout, Box::new(r) as Box<dyn Read + Send>)),
            child.stderr.take().map(|r| (Stream::Stderr, Box::new(r) as Box<dyn Read + Send>)),
        ]
        .into_iter()
        .flatten()
        .map(|(stream, reader)| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(reader);
                let mut line = Vec::new();
                while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                    if tx.send((stream, std::mem::take(&mut line))).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
        drop(tx);
        for (stream, line) in rx {
            on_output(stream, &line);
        }
        for reader in readers {
            let _ = reader.join();
        }
        let status = child.wait().map_err(spawn_err);
        drop(lease);
        drop(hook);
        lifeline.lock().unwrap_or_else(|p| p.into_inner()).take();
        let status = status?;
        if cancel.is_cancelled() {
            return Err(ExecError::Cancelled);
        }
        use std::os::unix::process::ExitStatusExt as _;
        let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        if code == SETUP_FAILED {
            if let Ok(message) = fs::read_to_string(&status_path)
                && !message.trim().is_empty()
            {
                return Err(ExecError::Setup(message.trim().to_owned()));
            }
            // No word from the helper: most often the store's disk is full.
            if let Ok(stat) = nix::sys::statvfs::statvfs(state)
                && stat.blocks_available() == 0
            {
                let store = state.ancestors().nth(2).unwrap_or(state);
                return Err(ExecError::Setup(format!(
                    "no space left on device: the store's file system ({}) is full",
                    store.display()
                )));
            }
        }
        Ok(ExitStatus { code })
    }
}

#[cfg(test)]
mod tests {
    use super::Secrets;

    #[test]
    fn mask_hides_every_value_and_its_line_without_the_newline() {
        let mut secrets = Secrets::new();
        secrets.insert("token", "s3cr3t\n");
        secrets.insert("long", "s3cr3t-and-more");
        secrets.insert("empty", "");
        let text = b"a s3cr3t b s3cr3t-and-more c s3cr3t\n d";
        assert_eq!(String::from_utf8(secrets.mask(text)).unwrap(), "a **** b **** c **** d");
        assert_eq!(Secrets::new().mask(b"plain"), b"plain");
    }
}
