//! What a build tells while it runs. The engine emits these; the command
//! line renders them (a live view, plain lines) or writes them as they
//! serialize, one JSON object per line: that is `--progress=json`.

use serde::{Deserialize, Serialize};

/// One event, stamped with the seconds since the build began, so a reader
/// can order steps and see which ran at the same time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
    /// Seconds since the build began, to the millisecond.
    pub time: f64,
}

/// The kinds of event, tagged by `"event"` in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum EventKind {
    /// A step changed status.
    Step(StepEvent),
    /// A line a running step printed.
    Log {
        /// The step's vertex.
        vertex: String,
        /// Which stream.
        stream: Stream,
        /// The line, without its end.
        text: String,
    },
    /// Something the user should know that does not stop the build.
    Warning {
        /// The warning.
        message: String,
        /// The Dockerfile line it is about, when it is about one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
    },
    /// Why the build failed.
    Error {
        /// The error, as it is shown.
        message: String,
    },
    /// Bytes of a base image moving from its registry.
    Pull(PullEvent),
    /// A `--cache-to` export finished.
    #[serde(rename = "cache-export")]
    CacheExport {
        /// Where to, as `--cache-to` named it (`type=registry,ref=…`).
        location: String,
        /// Step records written.
        written: usize,
        /// Step records the cache already had.
        present: usize,
        /// Cache mounts exported.
        mounts: usize,
    },
    /// The build's outcome.
    Result(BuildSummary),
    /// The built image going to a registry (`--push` of a remote build),
    /// after its result.
    Push(PushEvent),
}

/// One part of a push: a blob done, or the whole image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushEvent {
    /// The name pushed to, as the store names it.
    pub image: String,
    /// The blob's digest; for `pushed-image`, the manifest's.
    pub digest: String,
    /// What happened.
    pub status: PushStatus,
    /// The blob's size; for `pushed-image`, the manifest's.
    pub size: u64,
}

/// The stages of a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushStatus {
    /// The blob was uploaded.
    Pushed,
    /// The registry already had the blob.
    Exists,
    /// The registry linked the blob from another of its repositories.
    Mounted,
    /// The manifest is in place: the image is pushed.
    PushedImage,
}

/// A base image's pull, one blob at a time, as the build goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullEvent {
    /// The image, as the store names it (`docker.io/library/alpine:3.20`).
    pub image: String,
    /// The blob; for `resolved`, the digest the tag resolved to.
    pub digest: String,
    /// What happened.
    pub status: PullStatus,
    /// Bytes received so far.
    pub done: u64,
    /// The blob's size.
    pub total: u64,
}

/// The stages of a pull.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PullStatus {
    /// The tag was resolved (once per build) to `digest`.
    Resolved,
    /// Part of the blob has arrived.
    Downloading,
    /// The whole blob arrived and matched its digest.
    Downloaded,
    /// The store already had the blob.
    Exists,
}

/// A base image a build pulled: what its tag resolved to, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulledImage {
    /// The image, as the store names it.
    pub image: String,
    /// The repository digest (an index's, for a multi-platform image).
    pub digest: String,
}

/// A step's status change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// The new status.
    pub status: StepStatus,
    /// Which step.
    #[serde(flatten)]
    pub step: StepInfo,
    /// Why the step missed the cache (`running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long it ran (`done`, `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// Bytes its layer holds (`cached`, `done`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Why it failed (`error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A step's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Missed the cache and started.
    Running,
    /// Found in the cache.
    Cached,
    /// Ran to success.
    Done,
    /// Failed.
    Error,
}

/// Which step an event is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    /// Unique within a build: `stage.step`.
    pub vertex: String,
    /// The stage's name, or its index.
    pub stage: String,
    /// The instruction's first Dockerfile line.
    pub line: usize,
    /// The instruction as written (credentials masked).
    pub instruction: String,
}

impl StepInfo {
    /// `[stage] first line of the instruction`, as progress shows a step.
    pub fn label(&self) -> String {
        let first = self.instruction.lines().next().unwrap_or(&self.instruction);
        format!("[{}] {first}", self.stage)
    }
}

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of the cache report (`--report`, and the result event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// The stage's name, or its index.
    pub stage: String,
    /// The instruction's first line.
    pub line: usize,
    /// The instruction as written.
    pub instruction: String,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Why it missed.
    pub reason: Option<String>,
    /// How long it ran.
    pub seconds: f64,
    /// Bytes its layer holds.
    pub bytes: u64,
}

/// What a finished build reports in its last event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildSummary {
    /// The first `-t` name.
    pub image: Option<String>,
    /// The manifest digest.
    pub manifest: String,
    /// The manifest's size in bytes (an OCI image manifest, always).
    #[serde(default)]
    pub manifest_size: u64,
    /// The image id (config digest).
    pub id: String,
    /// Seconds the build took.
    pub seconds: f64,
    /// Every step, in Dockerfile order.
    pub steps: Vec<StepReport>,
    /// The base images pulled from registries, and what their tags resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pulled: Vec<PulledImage>,
}

impl Event {
    /// The line `--progress=plain` prints for this event, which a server
    /// streams to its clients too; `None` for the result, which each
    /// caller reports its own way.
    pub fn plain_line(&self) -> Option<String> {
        Some(match &self.kind {
            EventKind::Step(e) => {
                let label = e.step.label();
                let seconds = e.seconds.unwrap_or(0.0);
                match e.status {
                    StepStatus::Cached => format!("{label}  CACHED"),
                    StepStatus::Running => {
                        format!("{label}  running ({})", e.reason.as_deref().unwrap_or(""))
                    }
                    StepStatus::Done => format!("{label}  done in {seconds:.2}s"),
                    StepStatus::Error => format!(
                        "{label}  failed after {seconds:.2}s: {}",
                        e.error.as_deref().unwrap_or("failed")
                    ),
                }
            }
            EventKind::Log { text, .. } => format!("  {text}"),
            EventKind::Pull(e) => {
                let short = short_digest(&e.digest);
                let done = match e.status {
                    PullStatus::Resolved => format!("resolved to {}", e.digest),
                    PullStatus::Exists => format!("{short}: already exists"),
                    PullStatus::Downloaded => {
                        format!("{short}: downloaded {}", human_size(e.total))
                    }
                    // Progress is a live bar's, not a line's.
                    PullStatus::Downloading => return None,
                };
                format!("[internal] pull {}  {done}", e.image)
            }
            EventKind::CacheExport { location, written, present, mounts } => {
                let mut line = format!(
                    "[internal] export cache {location}  {written} new, {present} already there"
                );
                if *mounts > 0 {
                    line.push_str(&format!(", {mounts} cache mount(s)"));
                }
                line
            }
            EventKind::Push(e) => {
                let short = short_digest(&e.digest);
                let done = match e.status {
                    PushStatus::Pushed => format!("{short}: pushed {}", human_size(e.size)),
                    PushStatus::Exists => format!("{short}: already exists"),
                    PushStatus::Mounted => format!("{short}: mounted from another repository"),
                    PushStatus::PushedImage => format!("digest: {} size: {}", e.digest, e.size),
                };
                format!("[internal] push {}  {done}", e.image)
            }
            EventKind::Warning { message, .. } => format!("warning: {message}"),
            EventKind::Error { message } => format!("rbuild: {message}"),
            EventKind::Result(_) => return None,
        })
    }
}

/// The summary a build ends with: one line per step, cached or ran, its
/// seconds and layer bytes.
pub fn steps_table(steps: &[StepReport]) -> String {
    let mut out = format!("{:<8} {:>9}  {:>10}  STEP\n", "STATUS", "SECONDS", "BYTES");
    for s in steps {
        let status = if s.cached { "CACHED" } else { "RAN" };
        let first = s.instruction.lines().next().unwrap_or_default();
        out.push_str(&format!(
            "{status:<8} {:>9.2}  {:>10}  [{}] {first}\n",
            s.seconds, s.bytes, s.stage
        ));
    }
    out
}

/// The first 12 hex digits of a digest, as docker shows a layer or an
/// image.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    &hex[..hex.len().min(12)]
}

/// Bytes as docker prints sizes: decimal units, 3 significant digits
/// (`4.26MB`, `117MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", three_significant(size), UNITS[unit])
}

/// `%.3g` as Go prints it, for 0 ≤ x < 1000.
fn three_significant(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let digits = x.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let mut text = format!("{x:.decimals$}");
    if text.split('.').next().is_some_and(|i| i.len() > 3) {
        return "1e+03".into();
    }
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    text
}

/// Where a build sends its events; shared by the solver's threads.
pub trait EventSink: Sync {
    /// Takes one event.
    fn emit(&self, event: &Event);
}

/// A sink that keeps every event, for tests and callers that read them after.
#[derive(Debug, Default)]
pub struct Recorder(std::sync::Mutex<Vec<Event>>);

impl Recorder {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl EventSink for Recorder {
    fn emit(&self, event: &Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_as_the_json_progress_format() {
        let step = StepInfo {
            vertex: "0.1".into(),
            stage: "build".into(),
            line: 3,
            instruction: "RUN make".into(),
        };
        let running = Event {
            kind: EventKind::Step(StepEvent {
                status: StepStatus::Running,
                step,
                reason: Some("no earlier build".into()),
                seconds: None,
                bytes: None,
                error: None,
            }),
            time: 0.25,
        };
        let json = serde_json::to_value(&running).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"event": "step", "status": "running", "vertex": "0.1",
                "stage": "build", "line": 3, "instruction": "RUN make",
                "reason": "no earlier build", "time": 0.25})
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, running);
        let log = Event {
            kind: EventKind::Log { vertex: "0.1".into(), stream: Stream::Stderr, text: "x".into() },
            time: 1.0,
        };
        assert_eq!(
            serde_json::to_value(&log).unwrap(),
            serde_json::json!({"event": "log", "vertex": "0.1", "stream": "stderr", "text": "x", "time": 1.0})
        );
        let push = |status, digest: &str, size| Event {
            kind: EventKind::Push(PushEvent {
                image: "reg.example/app:1".into(),
                digest: digest.into(),
                status,
                size,
            }),
            time: 2.0,
        };
        let layer = format!("sha256:{}", "ab".repeat(32));
        let done = push(PushStatus::PushedImage, &layer, 702);
        assert_eq!(
            serde_json::to_value(&done).unwrap(),
            serde_json::json!({"event": "push", "image": "reg.example/app:1", "digest": layer,
                "status": "pushed-image", "size": 702, "time": 2.0})
        );
        assert_eq!(
            done.plain_line().unwrap(),
            format!("[internal] push reg.example/app:1  digest: {layer} size: 702")
        );
        let lines: Vec<String> = [PushStatus::Pushed, PushStatus::Exists, PushStatus::Mounted]
            .into_iter()
            .map(|status| push(status, &layer, 2048).plain_line().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "[internal] push reg.example/app:1  abababababab: pushed 2.05kB",
                "[internal] push reg.example/app:1  abababababab: already exists",
                "[internal] push reg.example/app:1  abababababab: mounted from another repository",
            ]
        );
    }
}
