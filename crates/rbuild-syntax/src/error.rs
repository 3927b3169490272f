//! Parse errors that point at the source: line, column, caret.

use std::fmt;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

use crate::span::Span;

/// Why a Dockerfile did not parse, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    message: String,
    expected: Option<String>,
    span: Span,
}

impl ParseError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> Self {
        Self { message: message.into(), expected: None, span }
    }

    pub(crate) fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// What went wrong, in BuildKit's words where BuildKit has them.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the parser expected instead, when that can be said.
    pub fn expected_text(&self) -> Option<&str> {
        self.expected.as_deref()
    }

    /// The offending source text.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The error as a code frame: `path:line:column`, the source line and a
    /// caret under the span, then what was expected.
    pub fn render(&self, path: &str, source: &str, color: bool) -> String {
        let span = clamp(self.span, source);
        let title = format!("{}:{}:{}: {}", path, span.line, span.column, self.message);
        let label = self.expected.as_deref().map(|e| format!("expected {e}"));
        let mut annotation = AnnotationKind::Primary.span(span.range());
        if let Some(label) = &label {
            annotation = annotation.label(label.as_str());
        }
        let report = &[Group::with_title(Level::ERROR.primary_title(title))
            .element(Snippet::source(source).path(path).annotation(annotation))];
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        renderer.render(report)
    }
}

/// Keeps a span inside the source and on character boundaries, so a
/// renderer never slices mid-character.
fn clamp(mut span: Span, source: &str) -> Span {
    span.start = floor_boundary(source, span.start);
    span.end = floor_boundary(source, span.end.max(span.start));
    span
}

fn floor_boundary(source: &str, mut at: usize) -> usize {
    at = at.min(source.len());
    while !source.is_char_boundary(at) {
        at -= 1;
    }
    at
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.column, self.message)?;
        if let Some(expected) = &self.expected {
            write!(f, " (expected {expected})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}
