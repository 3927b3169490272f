//! Errors and warnings that point at the Dockerfile: line, column, caret.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use rbuild_syntax::Span;

/// Why a Dockerfile cannot be planned, and where: every error names the
/// instruction (or the flag or word in it) so users see the line at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontendError {
    message: String,
    span: Span,
}

impl FrontendError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> Self {
        Self { message: message.into(), span }
    }

    /// What went wrong, in BuildKit's words where BuildKit has them.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The offending source text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The error as a code frame: `path:line:column: message`, the source
    /// line and a caret under the span, as `ParseError::render` draws it.
    pub fn render(&self, path: &str, source: &str, color: bool) -> String {
        let span = clamp(self.span, source);
        let title = format!("{}:{}:{}: {}", path, span.line, span.column, self.message);
        let report = &[Group::with_title(Level::ERROR.primary_title(title)).element(
            Snippet::source(source)
                .path(path)
                .annotation(AnnotationKind::Primary.span(span.range())),
        )];
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        renderer.render(report)
    }
}

/// Keeps a span inside the source and on character boundaries.
fn clamp(mut span: Span, source: &str) -> Span {
    let floor = |mut at: usize| {
        at = at.min(source.len());
        while !source.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    span.start = floor(span.start);
    span.end = floor(span.end.max(span.start));
    span
}

impl fmt::Display for FrontendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.column, self.message)
    }
}

impl std::error::Error for FrontendError {}

/// Something that plans but deserves a word (an unused `--build-arg`), so
/// the build can show it without failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// What was found.
    pub message: String,
    /// Where, when the finding belongs to a place in the Dockerfile.
    pub span: Option<Span>,
}
