//! The engine's side of build events: each is stamped with the time since
//! the build began and handed to the caller's sink.

use std::time::Instant;

use rbuild_llb::{
    BuildSummary, Event, EventKind, EventSink, StepEvent, StepInfo, StepStatus, Stream,
};

/// Stamps and sends events for one build.
pub struct Emitter<'a> {
    sink: &'a dyn EventSink,
    started: Instant,
}

impl<'a> Emitter<'a> {
    /// Events for a build that begins now.
    pub fn new(sink: &'a dyn EventSink) -> Emitter<'a> {
        Emitter { sink, started: Instant::now() }
    }

    /// Seconds since the build began, to the millisecond.
    pub fn elapsed(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
    }

    /// Sends `kind`, stamped.
    pub fn emit(&self, kind: EventKind) {
        self.sink.emit(&Event { kind, time: self.elapsed() });
    }

    fn step(&self, status: StepStatus, step: &StepInfo, fill: impl FnOnce(&mut StepEvent)) {
        let mut event = StepEvent {
            status,
            step: step.clone(),
            reason: None,
            seconds: None,
            bytes: None,
            error: None,
        };
        fill(&mut event);
        self.emit(EventKind::Step(event));
    }

    pub(crate) fn cached(&self, step: &StepInfo, bytes: u64) {
        self.step(StepStatus::Cached, step, |e| e.bytes = Some(bytes));
    }

    pub(crate) fn running(&self, step: &StepInfo, reason: &str) {
        self.step(StepStatus::Running, step, |e| e.reason = Some(reason.to_owned()));
    }

    pub(crate) fn done(&self, step: &StepInfo, seconds: f64, bytes: u64) {
        self.step(StepStatus::Done, step, |e| {
            e.seconds = Some(seconds);
            e.bytes = Some(bytes);
        });
    }

    pub(crate) fn failed(&self, step: &StepInfo, seconds: f64, error: &str) {
        self.step(StepStatus::Error, step, |e| {
            e.seconds = Some(seconds);
            e.error = Some(error.to_owned());
        });
    }

    pub(crate) fn log(&self, step: &StepInfo, stream: Stream, text: &str) {
        self.emit(EventKind::Log { vertex: step.vertex.clone(), stream, text: text.to_owned() });
    }

    pub(crate) fn warning(&self, message: &str) {
        self.emit(EventKind::Warning { message: message.to_owned(), line: None });
    }

    /// A warning about Dockerfile line `line`.
    pub(crate) fn warning_at(&self, message: &str, line: Option<usize>) {
        self.emit(EventKind::Warning { message: message.to_owned(), line });
    }

    pub(crate) fn result(&self, summary: BuildSummary) {
        self.emit(EventKind::Result(summary));
    }
}
