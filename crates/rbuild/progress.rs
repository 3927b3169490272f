//! What a build shows while it runs: a live view of the running steps on a
//! terminal, plain lines in CI, or one JSON event per line for tools.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rbuild_llb::{Event, EventKind, EventSink, PullEvent, PullStatus, StepInfo, StepStatus};

/// A bar for one blob on the move, as `docker pull` draws it: what, how
/// far, how fast.
pub(crate) fn transfer_bar(
    multi: &MultiProgress,
    label: String,
    verb: &str,
    total: u64,
) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix}: {msg:<11} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(label);
    bar.set_message(verb.to_owned());
    bar
}

/// The first 12 hex digits of a digest, as docker shows a layer.
pub(crate) fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// How progress is shown (`--progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Spinners for the running steps, redrawn in place.
    Tty,
    /// One line per event, output of RUN steps indented.
    Plain,
    /// One JSON object per line on standard error.
    Json,
}

impl Mode {
    /// `auto` is a live view on a terminal outside CI, plain lines elsewhere.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Mode> {
        Ok(match text {
            "plain" => Mode::Plain,
            "json" | "rawjson" => Mode::Json,
            "tty" => {
                anyhow::ensure!(
                    std::io::stderr().is_terminal(),
                    "--progress=tty: standard error is not a terminal"
                );
                Mode::Tty
            }
            "auto" => {
                if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
                    Mode::Tty
                } else {
                    Mode::Plain
                }
            }
            other => anyhow::bail!("--progress={other}: expected auto, tty, plain or json"),
        })
    }
}

/// The sink every part of a build reports to; safe to share across the
/// solver's threads.
pub(crate) struct Progress {
    mode: Mode,
    out: Mutex<std::io::Stderr>,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    pub(crate) fn new(mode: Mode) -> Progress {
        let multi = (mode == Mode::Tty)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        Progress {
            mode,
            out: Mutex::new(std::io::stderr()),
            multi,
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => {
                let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "{text}");
            }
        }
    }

    fn json(&self, event: &Event) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(text) = serde_json::to_string(event) {
            let _ = writeln!(out, "{text}");
        }
    }

    fn started(&self, step: &StepInfo, reason: &str) {
        match self.mode {
            Mode::Json => {}
            Mode::Plain => self.line(&format!("{}  running ({reason})", step.label())),
            Mode::Tty => {
                let Some(multi) = &self.multi else { return };
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(step.label());
                bar.enable_steady_tick(Duration::from_millis(100));
                self.bars
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(step.vertex.clone(), bar);
            }
        }
    }

    fn output(&self, vertex: &str, text: &str) {
        match self.mode {
            Mode::Json => {}
            Mode::Plain => self.line(&format!("  {text}")),
            Mode::Tty => {
                if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(vertex) {
                    bar.set_message(text.to_owned());
                }
            }
        }
    }

    fn finished(&self, step: &StepInfo, seconds: f64, result: Result<(), &str>) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(&step.vertex)
        {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(&bar);
            }
        }
        match result {
            Ok(()) => self.line(&format!("{}  done in {seconds:.2}s", step.label())),
            Err(error) => {
                self.line(&format!("{}  failed after {seconds:.2}s: {error}", step.label()))
            }
        }
    }

    fn pull(&self, e: &PullEvent) {
        let label = format!("[internal] pull {}", e.image);
        let key = format!("pull {} {}", e.image, e.digest);
        let done = match e.status {
            PullStatus::Resolved => format!("resolved to {}", e.digest),
            PullStatus::Exists => format!("{}: already exists", short_digest(&e.digest)),
            PullStatus::Downloaded => {
                format!("{}: downloaded {}", short_digest(&e.digest), HumanBytes(e.total))
            }
            PullStatus::Downloading => {
                if let Some(multi) = &self.multi {
                    let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
                    let bar = bars.entry(key).or_insert_with(|| {
                        let label = format!("{label} {}", short_digest(&e.digest));
                        transfer_bar(multi, label, "Downloading", e.total)
                    });
                    bar.set_position(e.done);
                }
                return;
            }
        };
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(&key) {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(&bar);
            }
        }
        self.line(&format!("{label}  {done}"));
    }

    /// Takes the live view down so what follows prints on clean lines.
    pub(crate) fn close(&self) {
        let bars: Vec<_> =
            self.bars.lock().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, b)| b).collect();
        for bar in bars {
            bar.finish_and_clear();
        }
        if let Some(multi) = &self.multi {
            let _ = multi.clear();
        }
    }
}

impl EventSink for Progress {
    /// JSON mode writes every event as it serializes; the others draw it.
    fn emit(&self, event: &Event) {
        if self.mode == Mode::Json {
            return self.json(event);
        }
        match &event.kind {
            EventKind::Step(e) => match e.status {
                StepStatus::Cached => self.line(&format!("{}  CACHED", e.step.label())),
                StepStatus::Running => self.started(&e.step, e.reason.as_deref().unwrap_or("")),
                StepStatus::Done => self.finished(&e.step, e.seconds.unwrap_or(0.0), Ok(())),
                StepStatus::Error => self.finished(
                    &e.step,
                    e.seconds.unwrap_or(0.0),
                    Err(e.error.as_deref().unwrap_or("failed")),
                ),
            },
            EventKind::Log { vertex, text, .. } => self.output(vertex, text),
            EventKind::Pull(pull) => self.pull(pull),
            EventKind::CacheExport { location, written, present, mounts } => {
                let mut line = format!(
                    "[internal] export cache {location}  {written} new, {present} already there"
                );
                if *mounts > 0 {
                    line.push_str(&format!(", {mounts} cache mount(s)"));
                }
                self.line(&line)
            }
            EventKind::Warning { message } => self.line(&format!("warning: {message}")),
            EventKind::Error { message } => self.line(&format!("rbuild: {message}")),
            // The command prints its own summary of the result.
            EventKind::Result(_) => {}
        }
    }
}
