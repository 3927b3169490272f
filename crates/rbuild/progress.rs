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
    /// Plain lines, and GitHub Actions annotations (workflow commands on
    /// standard output) for a failed step and each warning; the cache
    /// report goes to `$GITHUB_STEP_SUMMARY`.
    Github,
    /// Nothing but the error (`-q`, buildx's `quiet`); the image id goes
    /// to standard output at the end.
    Quiet,
}

impl Mode {
    /// `auto` is a live view on a terminal outside CI, plain lines elsewhere.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Mode> {
        Ok(match text {
            "plain" => Mode::Plain,
            "json" | "rawjson" => Mode::Json,
            "github" => Mode::Github,
            "quiet" => Mode::Quiet,
            "tty" => {
                anyhow::ensure!(
                    std::io::stderr().is_terminal(),
                    "--progress=tty: standard error is not a terminal"
                );
                Mode::Tty
            }
            "auto" => {
                if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
                    Mode::Github
                } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
                    Mode::Tty
                } else {
                    Mode::Plain
                }
            }
            other => {
                anyhow::bail!(
                    "--progress={other}: expected auto, tty, plain, json, github or quiet"
                )
            }
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
    github: Github,
}

/// What GitHub mode keeps: the Dockerfile annotations name, each step's
/// row of the summary, whether a step's failure was annotated.
#[derive(Default)]
struct Github {
    dockerfile: String,
    rows: Mutex<Vec<Row>>,
    step_failed: std::sync::atomic::AtomicBool,
}

/// One step in the `$GITHUB_STEP_SUMMARY` table.
struct Row {
    vertex: String,
    label: String,
    result: String,
    seconds: Option<f64>,
    why: String,
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
            github: Github::default(),
        }
    }

    /// The Dockerfile as annotations name it (GitHub mode).
    pub(crate) fn for_dockerfile(mut self, label: String) -> Progress {
        self.github.dockerfile = label;
        self
    }

    /// A workflow command, on standard output where the runner reads them.
    fn annotate(&self, kind: &str, line: Option<usize>, title: Option<&str>, message: &str) {
        let mut properties = vec![("file", self.github.dockerfile.clone())];
        if let Some(line) = line {
            properties.push(("line", line.to_string()));
        }
        if let Some(title) = title {
            properties.push(("title", title.to_owned()));
        }
        let command = rbuild_lint::workflow_command(kind, &properties, message);
        let _ = writeln!(std::io::stdout().lock(), "{command}");
    }

    /// GitHub mode's part of an event: annotations, and the summary's rows.
    fn github(&self, event: &Event) {
        let mut rows = self.github.rows.lock().unwrap_or_else(|p| p.into_inner());
        match &event.kind {
            EventKind::Step(e) => {
                let at = rows.iter().position(|r| r.vertex == e.step.vertex);
                let row = match at {
                    Some(i) => &mut rows[i],
                    None => {
                        rows.push(Row {
                            vertex: e.step.vertex.clone(),
                            label: e.step.label(),
                            result: String::new(),
                            seconds: None,
                            why: String::new(),
                        });
                        let last = rows.len() - 1;
                        &mut rows[last]
                    }
                };
                match e.status {
                    StepStatus::Running => {
                        row.result = "running".into();
                        row.why = e.reason.clone().unwrap_or_default();
                    }
                    StepStatus::Cached => row.result = "cached".into(),
                    StepStatus::Done => {
                        row.result = "ran".into();
                        row.seconds = e.seconds;
                    }
                    StepStatus::Error => {
                        let error = e.error.as_deref().unwrap_or("failed");
                        row.result = format!("**failed**: {error}");
                        row.seconds = e.seconds;
                        self.github.step_failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        let title = e.step.instruction.lines().next().unwrap_or_default();
                        self.annotate("error", Some(e.step.line), Some(title), error);
                    }
                }
            }
            EventKind::Warning { message, line } => self.annotate("warning", *line, None, message),
            EventKind::Error { message }
                if !self.github.step_failed.load(std::sync::atomic::Ordering::Relaxed) =>
            {
                self.annotate("error", None, None, message);
            }
            _ => {}
        }
    }

    /// The cache report as a Markdown table, for `$GITHUB_STEP_SUMMARY`.
    fn summary(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|").replace(['\r', '\n'], " ");
        let mut out = format!(
            "### rbuild build of {}\n\n| Step | Result | Seconds | Why it ran |\n|---|---|---:|---|\n",
            cell(&self.github.dockerfile)
        );
        for row in self.github.rows.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let seconds = row.seconds.map(|s| format!("{s:.2}")).unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {seconds} | {} |\n",
                cell(&row.label),
                cell(&row.result),
                cell(&row.why)
            ));
        }
        out.push('\n');
        out
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
        if self.mode == Mode::Github
            && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty())
        {
            let appended = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut file| file.write_all(self.summary().as_bytes()));
            if let Err(e) = appended {
                self.line(&format!("warning: cannot append to $GITHUB_STEP_SUMMARY: {e}"));
            }
        }
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
            Mode::Quiet => {
                if let EventKind::Error { .. } = &event.kind
                    && let Some(line) = event.plain_line()
                {
                    self.line(&line);
                }
                return;
            }
            Mode::Plain | Mode::Github => {
                if let Some(line) = event.plain_line() {
                    self.line(&line);
                }
                if self.mode == Mode::Github {
                    self.github(event);
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
