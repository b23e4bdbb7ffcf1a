//! Drawing the editor on a VT100 terminal.
//!
//! The only sequences written are `ESC [ 2 J` (clear), `ESC [ H` and `ESC [ <row> ; <col> H`
//! (cursor position, from 1), `ESC [ K` (erase to the end of the line), `ESC [ 7 m` (inverse
//! video) and `ESC [ 0 m` (normal video), plus UTF-8 text.
//!
//! Redraw: the editor remembers what each row of the terminal shows and rewrites only the rows
//! that changed (the whole row: position, erase, text), then places the cursor. The first
//! [`Editor::render`], and the one after [`Editor::set_viewport`] or [`Editor::redraw_all`],
//! clears the screen and draws every row.
//!
//! Layout: rows `1..rows-1` show the text from line `top`, one line per row, cut at the
//! terminal's width (no wrapping): the view scrolls up and down, and sideways, to keep the
//! cursor visible (sideways scrolling moves every row). Rows past the end of the text show
//! `~`. Each character takes one cell (wide characters are not measured); Tab shows as a
//! space, other control characters as `?`. The last row, in inverse video, is the status
//! line: `name [+] -- INSERT --  message` on the left and `line:col` (from 1, in characters)
//! on the right, or the `:` / `/` prompt being typed. Its last cell is never written, so that
//! no terminal scrolls.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::editor::Editor;
use crate::Mode;

/// Where the editor draws: the terminal (serial or on-screen console).
pub trait Terminal {
    /// Writes `bytes` (text and VT100 sequences) to the terminal.
    fn write(&mut self, bytes: &[u8]);
}

/// Erase from the cursor to the end of the line.
const ERASE_LINE: &str = "\x1b[K";
const INVERSE: &str = "\x1b[7m";
const NORMAL: &str = "\x1b[0m";

impl Editor {
    /// Draws what changed since the last call (see the [module](self) documentation), in one
    /// [`Terminal::write`].
    pub fn render(&mut self, term: &mut impl Terminal) {
        self.scroll_to_cursor();
        let rows = usize::from(self.view.rows);
        let mut out = String::new();
        if self.drawn.len() != rows {
            out.push_str(NORMAL);
            out.push_str("\x1b[2J");
            self.drawn.clear();
            self.drawn.resize(rows, None);
        }
        for r in 0..rows {
            let text = if r + 1 == rows {
                self.status_row()
            } else {
                self.text_row(r)
            };
            if self.drawn.get(r).and_then(Option::as_ref) == Some(&text) {
                continue;
            }
            move_to(&mut out, r, 0);
            out.push_str(ERASE_LINE);
            if r + 1 == rows {
                out.push_str(INVERSE);
                out.push_str(&text);
                out.push_str(NORMAL);
            } else {
                out.push_str(&text);
            }
            if let Some(slot) = self.drawn.get_mut(r) {
                *slot = Some(text);
            }
        }
        let (row, col) = self.screen_cursor();
        move_to(&mut out, row, col);
        term.write(out.as_bytes());
    }

    /// The terminal's text rows (all but the status line).
    fn text_rows(&self) -> usize {
        usize::from(self.view.rows).saturating_sub(1).max(1)
    }

    /// Scrolls so that the cursor's line and column are shown.
    fn scroll_to_cursor(&mut self) {
        let (rows, cols) = (self.text_rows(), usize::from(self.view.cols));
        if self.row < self.top {
            self.top = self.row;
        } else if self.row >= self.top + rows {
            self.top = self.row + 1 - rows;
        }
        if self.col < self.left {
            self.left = self.col;
        } else if self.col >= self.left + cols {
            self.left = self.col + 1 - cols;
        }
    }

    /// Where the terminal's cursor goes: row and column, from 0.
    fn screen_cursor(&self) -> (usize, usize) {
        let cols = usize::from(self.view.cols);
        match self.mode {
            Mode::Command | Mode::Search => {
                let typed = self.prompt.chars().count() + 1;
                (self.text_rows(), typed.min(cols.saturating_sub(2)))
            }
            Mode::Normal | Mode::Insert => (
                self.row.saturating_sub(self.top),
                self.col.saturating_sub(self.left),
            ),
        }
    }

    /// Text row `r`: its line's visible part, or `~` past the end of the text.
    fn text_row(&self, r: usize) -> String {
        let Some(line) = self.buf.lines().get(self.top + r) else {
            return String::from("~");
        };
        let cols = usize::from(self.view.cols);
        line.chars().skip(self.left).take(cols).map(shown).collect()
    }

    /// The status line's text (one cell narrower than the terminal).
    fn status_row(&self) -> String {
        let width = usize::from(self.view.cols).saturating_sub(1);
        match self.mode {
            Mode::Command | Mode::Search => {
                let lead = if self.mode == Mode::Command { ':' } else { '/' };
                // The end of a long prompt, where the typing is.
                let typed: Vec<char> = self.prompt.chars().map(shown).collect();
                let keep = width.saturating_sub(2);
                let tail = typed.get(typed.len().saturating_sub(keep)..).unwrap_or(&[]);
                let mut row = String::from(lead);
                row.extend(tail);
                pad(row, width)
            }
            Mode::Normal | Mode::Insert => self.status_info(width),
        }
    }

    /// `name [+] -- INSERT --  message`, then `line:col` flush right, in `width` cells.
    fn status_info(&self, width: usize) -> String {
        let right = format!("{}:{}", self.row + 1, self.col + 1);
        let room = width.saturating_sub(right.len() + 1);
        let mut left = self.status_left(true);
        if left.chars().count() > room && self.message.is_some() {
            // Too long: the message matters more than the file's name.
            left = self.status_left(false);
        }
        let mut row: String = left.chars().take(room).collect();
        let used = row.chars().count();
        if used + 1 + right.len() <= width {
            row.extend(core::iter::repeat_n(' ', width - used - right.len()));
            row.push_str(&right);
        }
        pad(row, width)
    }

    /// `name [+] -- INSERT --  message`, without the name unless `with_name`.
    fn status_left(&self, with_name: bool) -> String {
        let mut left = String::new();
        if with_name {
            left.extend(self.name.chars().map(shown));
        }
        if self.is_modified() {
            left.push_str(" [+]");
        }
        if self.mode == Mode::Insert {
            left.push_str("  -- INSERT --");
        }
        if let Some(message) = &self.message {
            left.push_str("  ");
            left.extend(message.chars().map(shown));
        }
        String::from(left.trim_start())
    }
}

/// `row` cut or padded with spaces to `width` cells.
fn pad(row: String, width: usize) -> String {
    let mut row: String = row.chars().take(width).collect();
    let len = row.chars().count();
    row.extend(core::iter::repeat_n(' ', width - len));
    row
}

/// How a character of the text shows in one cell.
fn shown(ch: char) -> char {
    match ch {
        '\t' => ' ',
        c if c.is_control() => '?',
        c => c,
    }
}

/// Appends the sequence that moves the cursor to `row`, `col` (from 0).
fn move_to(out: &mut String, row: usize, col: usize) {
    // Writing to a String cannot fail.
    let _ = write!(out, "\x1b[{};{}H", row + 1, col + 1);
}
