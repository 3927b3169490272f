//! What a build shows while it runs: a live view of the running steps on a
//! terminal, plain lines in CI, or one JSON event per line for tools.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

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
    started: Instant,
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
            started: Instant::now(),
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

    /// Writes one JSON event, stamped with the seconds since the build began.
    pub(crate) fn event(&self, mut value: serde_json::Value) {
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "time".into(),
                json!((self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
            );
        }
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{value}");
    }

    /// A step whose result came from the cache.
    pub(crate) fn cached(&self, step: &StepInfo<'_>, bytes: u64) {
        match self.mode {
            Mode::Json => self.event(json!({
                "event": "step", "status": "cached", "vertex": step.vertex, "stage": step.stage,
                "line": step.line, "instruction": step.instruction, "bytes": bytes,
            })),
            _ => self.line(&format!("{}  CACHED", step.label())),
        }
    }

    /// A step that missed the cache and starts now, with why it missed.
    pub(crate) fn started(&self, step: &StepInfo<'_>, reason: &str) {
        match self.mode {
            Mode::Json => self.event(json!({
                "event": "step", "status": "running", "vertex": step.vertex, "stage": step.stage,
                "line": step.line, "instruction": step.instruction, "reason": reason,
            })),
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
                    .insert(step.vertex.to_owned(), bar);
            }
        }
    }

    /// One line of a running step's output.
    pub(crate) fn output(&self, step: &StepInfo<'_>, stream: &str, text: &str) {
        match self.mode {
            Mode::Json => self.event(json!({
                "event": "log", "vertex": step.vertex, "stream": stream, "text": text,
            })),
            Mode::Plain => self.line(&format!("  {text}")),
            Mode::Tty => {
                if let Some(bar) =
                    self.bars.lock().unwrap_or_else(|p| p.into_inner()).get(step.vertex)
                {
                    bar.set_message(text.to_owned());
                }
            }
        }
    }

    /// A step that ran to its end, successfully or not.
    pub(crate) fn finished(&self, step: &StepInfo<'_>, seconds: f64, result: Result<u64, &str>) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(step.vertex) {
            bar.finish_and_clear();
            if let Some(multi) = &self.multi {
                multi.remove(&bar);
            }
        }
        match (self.mode, result) {
            (Mode::Json, Ok(bytes)) => self.event(json!({
                "event": "step", "status": "done", "vertex": step.vertex, "stage": step.stage,
                "line": step.line, "instruction": step.instruction,
                "seconds": seconds, "bytes": bytes,
            })),
            (Mode::Json, Err(error)) => self.event(json!({
                "event": "step", "status": "error", "vertex": step.vertex, "stage": step.stage,
                "line": step.line, "instruction": step.instruction,
                "seconds": seconds, "error": error,
            })),
            (_, Ok(_)) => self.line(&format!("{}  done in {seconds:.2}s", step.label())),
            (_, Err(error)) => {
                self.line(&format!("{}  failed after {seconds:.2}s: {error}", step.label()))
            }
        }
    }

    /// A warning about the build as a whole (an unused build arg, …).
    pub(crate) fn warning(&self, text: &str) {
        match self.mode {
            Mode::Json => self.event(json!({ "event": "warning", "message": text })),
            _ => self.line(&format!("warning: {text}")),
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

/// The parts of a step that progress shows.
pub(crate) struct StepInfo<'a> {
    /// Unique within a build: stage and step number.
    pub(crate) vertex: &'a str,
    pub(crate) stage: &'a str,
    pub(crate) line: usize,
    pub(crate) instruction: &'a str,
}

impl StepInfo<'_> {
    fn label(&self) -> String {
        let first = self.instruction.lines().next().unwrap_or(self.instruction);
        format!("[{}] {first}", self.stage)
    }
}
