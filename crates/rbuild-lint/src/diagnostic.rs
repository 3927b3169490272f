//! A finding, placed in its file, ready for every renderer.

use std::ops::Range;

use serde::Serialize;

use crate::rule::{Rule, Severity};

/// One finding of one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The rule's code (`RB001`), or `RB000` for a file that does not parse.
    pub code: &'static str,
    /// The rule's name.
    pub name: &'static str,
    /// The severity, after `# check=error=true`.
    pub severity: Severity,
    /// The bytes of the Dockerfile the finding is about.
    #[serde(skip)]
    pub range: Range<usize>,
    /// Where `range` starts and ends, 1-based, in lines and characters; the
    /// end column is one past the last character.
    pub location: Location,
    /// What is wrong here.
    pub message: String,
    /// What to do instead, when one line can say it.
    pub help: Option<String>,
}

/// Line and column of both ends of a finding, as editors and SARIF count
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based first line.
    pub line: usize,
    /// 1-based first column, in characters.
    pub column: usize,
    /// 1-based last line.
    pub end_line: usize,
    /// 1-based column just past the end, in characters.
    pub end_column: usize,
}

impl Diagnostic {
    pub(crate) fn new(rule: &'static Rule, range: Range<usize>, message: String) -> Self {
        Self {
            code: rule.code,
            name: rule.name,
            severity: rule.severity,
            range,
            location: Location::default(),
            message,
            help: None,
        }
    }

    /// Adds a suggestion.
    pub(crate) fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

/// Byte offsets to lines and character columns.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// 1-based line and character column of a byte offset.
    pub(crate) fn position(&self, source: &str, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        (line, source[start..offset].chars().count() + 1)
    }

    pub(crate) fn locate(&self, source: &str, range: &Range<usize>) -> Location {
        let (line, column) = self.position(source, range.start);
        let (end_line, end_column) = self.position(source, range.end.max(range.start));
        Location { line, column, end_line, end_column }
    }
}
