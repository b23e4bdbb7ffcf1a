//! The text being edited: a list of lines of UTF-8 (never empty), with every position in it
//! counted in characters, and its conversion from and to the bytes of a file.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::OpenError;

/// The lines of a file, without their `\n`s.
///
/// A file is its lines joined by `\n`, plus a final `\n` when the file had one (or was empty:
/// new text gets one). A buffer of one empty line is the empty file, so the one file that
/// does not come back byte for byte is `"\n"` (it is saved empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Buffer {
    lines: Vec<String>,
    /// The file ends with `\n`.
    eol: bool,
}

impl Buffer {
    /// The text of a file; refused when it is not UTF-8.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Buffer, OpenError> {
        let text = core::str::from_utf8(bytes).map_err(|e| OpenError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        })?;
        if text.is_empty() {
            return Ok(Buffer {
                lines: vec![String::new()],
                eol: true,
            });
        }
        let eol = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        Ok(Buffer {
            lines: body.split('\n').map(String::from).collect(),
            eol,
        })
    }

    /// Whether the buffer is the empty file (one empty line).
    pub(crate) fn is_blank(&self) -> bool {
        matches!(self.lines.as_slice(), [only] if only.is_empty())
    }

    /// The size of the file, in bytes.
    pub(crate) fn file_len(&self) -> usize {
        if self.is_blank() {
            return 0;
        }
        let text: usize = self.lines.iter().map(String::len).sum();
        text + self.lines.len() - 1 + usize::from(self.eol)
    }

    /// The size the file would have with `extra` more bytes of text or line breaks.
    pub(crate) fn file_len_plus(&self, extra: usize) -> usize {
        // The empty file gains its final `\n` with its first byte.
        let base = if self.is_blank() {
            usize::from(self.eol)
        } else {
            self.file_len()
        };
        base.saturating_add(extra)
    }

    /// The bytes of the file.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.file_len());
        if self.is_blank() {
            return out;
        }
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(line.as_bytes());
        }
        if self.eol {
            out.push(b'\n');
        }
        out
    }

    /// All lines (at least one).
    pub(crate) fn lines(&self) -> &[String] {
        &self.lines
    }

    /// How many lines (at least one).
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Line `row`, or `""` past the end.
    pub(crate) fn line(&self, row: usize) -> &str {
        self.lines.get(row).map_or("", String::as_str)
    }

    /// Line `row`'s length in characters.
    pub(crate) fn char_len(&self, row: usize) -> usize {
        self.line(row).chars().count()
    }

    /// Inserts `ch` before character `col` of line `row` (at its end if `col` is past it).
    pub(crate) fn insert_char(&mut self, row: usize, col: usize, ch: char) {
        if let Some(line) = self.lines.get_mut(row) {
            let at = byte_of(line, col);
            line.insert(at, ch);
        }
    }

    /// Removes character `col` of line `row`, if there is one.
    pub(crate) fn remove_char(&mut self, row: usize, col: usize) -> Option<char> {
        let line = self.lines.get_mut(row)?;
        let at = byte_of(line, col);
        if at < line.len() {
            Some(line.remove(at))
        } else {
            None
        }
    }

    /// Splits line `row` before character `col`: the rest becomes the next line.
    pub(crate) fn split(&mut self, row: usize, col: usize) {
        if let Some(line) = self.lines.get_mut(row) {
            let at = byte_of(line, col);
            let rest = line.split_off(at);
            self.lines.insert(row + 1, rest);
        }
    }

    /// Appends line `row + 1` to line `row`.
    pub(crate) fn join(&mut self, row: usize) {
        if row + 1 < self.lines.len() {
            let next = self.lines.remove(row + 1);
            if let Some(line) = self.lines.get_mut(row) {
                line.push_str(&next);
            }
        }
    }

    /// Inserts `new` as lines before line `at` (`at` may be the line count: after the last).
    pub(crate) fn insert_lines(&mut self, at: usize, new: &[String]) {
        let at = at.min(self.lines.len());
        self.lines.splice(at..at, new.iter().cloned());
    }

    /// Removes line `row` and returns it; the last line left becomes empty instead.
    pub(crate) fn remove_line(&mut self, row: usize) -> Option<String> {
        if row >= self.lines.len() {
            return None;
        }
        if self.lines.len() == 1 {
            return self.lines.get_mut(row).map(core::mem::take);
        }
        Some(self.lines.remove(row))
    }
}

/// The byte offset of character `col` of `line` (its length if `col` is past the end).
pub(crate) fn byte_of(line: &str, col: usize) -> usize {
    line.char_indices().nth(col).map_or(line.len(), |(b, _)| b)
}

/// The character index of byte offset `at` of `line`.
pub(crate) fn char_of(line: &str, at: usize) -> usize {
    line.get(..at).map_or(0, |s| s.chars().count())
}
