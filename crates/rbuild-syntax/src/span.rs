//! Byte spans into the source text, and their lines and columns.

use serde::Serialize;

/// A byte range of the source with the line and column where it starts, so
/// that every error and lint finding can point at the exact text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// 1-based line of `start`.
    pub line: usize,
    /// 1-based column of `start`, counted in characters.
    pub column: usize,
}

impl Span {
    /// The byte range, for slicing the source.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }

    /// The source text the span covers.
    pub fn text<'s>(&self, source: &'s str) -> &'s str {
        source.get(self.range()).unwrap_or("")
    }
}

/// Line starts of a source text: turns byte offsets into lines and columns.
#[derive(Clone, Debug)]
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    /// Per line: all ASCII, so a column is a byte difference.
    ascii: Vec<bool>,
}

impl LineIndex {
    pub(crate) fn new(source: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(newlines(source).map(|i| i + 1));
        let ascii = starts
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                let end = starts.get(i + 1).copied().unwrap_or(source.len());
                source.as_bytes()[s..end].is_ascii()
            })
            .collect();
        Self { starts, ascii }
    }

    /// 1-based line and character column of `offset`.
    pub(crate) fn position(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|&s| s <= offset);
        let start = self.starts[line - 1];
        let column = if self.ascii[line - 1] {
            offset - start
        } else {
            source.get(start..offset).map_or(offset - start, |prefix| prefix.chars().count())
        } + 1;
        (line, column)
    }

    pub(crate) fn span(&self, source: &str, start: usize, end: usize) -> Span {
        let (line, column) = self.position(source, start);
        Span { start, end, line, column }
    }
}

fn newlines(source: &str) -> impl Iterator<Item = usize> + '_ {
    source.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let src = "FROM a\nRUN é x\n";
        let index = LineIndex::new(src);
        assert_eq!(index.position(src, 0), (1, 1));
        assert_eq!(index.position(src, 7), (2, 1));
        // "RUN é " is 7 bytes but 6 characters.
        assert_eq!(index.position(src, 7 + 7), (2, 7));
        assert_eq!(index.position(src, src.len()), (3, 1));
    }
}
