//! What a build shows while it runs: a live view of the running steps on a
//! terminal, plain lines in CI, or one JSON event per line for tools.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
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

pub(crate) use rbuild_llb::short_digest;

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

    /// A spinner for a running step.
    fn started(&self, step: &StepInfo) {
        let Some(multi) = &self.multi else { return };
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {wide_msg:.dim}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(step.label());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.lock().unwrap_or_else(|p| p.into_inner()).insert(step.vertex.clone(), bar);
    }

    /// A step's latest output line, on its spinner.
    fn output(&self, vertex: &str, text: &str) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(vertex) {
            bar.set_message(text.to_owned());
        }
    }

    fn remove_bar(&self, key: &str) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(key) {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(&bar);
            }
        }
    }

    /// A step that ended: its spinner goes.
    fn finished(&self, step: &StepInfo) {
        self.remove_bar(&step.vertex);
    }

    /// A download's bar while it runs; its line when it is done.
    fn pull(&self, e: &PullEvent, event: &Event) {
        let key = format!("pull {} {}", e.image, e.digest);
        if e.status == PullStatus::Downloading {
            if let Some(multi) = &self.multi {
                let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
                let bar = bars.entry(key).or_insert_with(|| {
                    let label = format!("[internal] pull {} {}", e.image, short_digest(&e.digest));
                    transfer_bar(multi, label, "Downloading", e.total)
                });
                bar.set_position(e.done);
            }
            return;
        }
        self.remove_bar(&key);
        if let Some(line) = event.plain_line() {
            self.line(&line);
        }
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
    /// JSON mode writes every event as it serializes; plain mode prints its
    /// line; a terminal keeps a spinner per running step and a bar per
    /// download, and prints the rest as plain lines above them.
    fn emit(&self, event: &Event) {
        match self.mode {
            Mode::Json => return self.json(event),
            Mode::Plain => {
                if let Some(line) = event.plain_line() {
                    self.line(&line);
                }
                return;
            }
            Mode::Tty => {}
        }
        match &event.kind {
            EventKind::Step(e) if e.status == StepStatus::Running => self.started(&e.step),
            EventKind::Step(e) => {
                self.finished(&e.step);
                self.line(&event.plain_line().unwrap_or_default());
            }
            EventKind::Log { vertex, text, .. } => self.output(vertex, text),
            EventKind::Pull(pull) => self.pull(pull, event),
            _ => {
                if let Some(line) = event.plain_line() {
                    self.line(&line);
                }
            }
        }
    }
}
