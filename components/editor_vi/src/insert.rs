//! Insert mode: typing text, line breaks, Backspace and Delete (both join lines at the line
//! ends), the arrows, and Escape back to Normal mode.

use crate::editor::Editor;
use crate::key::Key;

impl Editor {
    /// One key in Insert mode.
    pub(crate) fn insert_key(&mut self, key: Key) {
        match key {
            Key::Char(ch) if ch == '\t' || !ch.is_control() => self.type_char(ch),
            Key::Char(_) => {}
            Key::Enter => self.break_line(),
            Key::Backspace => self.backspace(),
            Key::Delete => self.delete_forward(),
            Key::Esc | Key::Interrupt => self.end_insert(),
            Key::Left => self.goto_col(self.col.saturating_sub(1)),
            Key::Right => self.goto_col(self.col + 1),
            Key::Up => self.goto_row(self.row.saturating_sub(1)),
            Key::Down => self.goto_row(self.row + 1),
            Key::Home => self.goto_col(0),
            Key::End => self.goto_col(usize::MAX),
        }
    }

    fn type_char(&mut self, ch: char) {
        if !self.may_grow(ch.len_utf8()) {
            return;
        }
        self.before_change();
        self.buf.insert_char(self.row, self.col, ch);
        self.col += 1;
        self.want_col = self.col;
    }

    fn break_line(&mut self) {
        if !self.may_grow(1) {
            return;
        }
        self.before_change();
        self.buf.split(self.row, self.col);
        self.row += 1;
        self.col = 0;
        self.want_col = 0;
    }

    fn backspace(&mut self) {
        if self.col > 0 {
            self.before_change();
            self.col -= 1;
            self.buf.remove_char(self.row, self.col);
        } else if self.row > 0 {
            self.before_change();
            self.row -= 1;
            self.col = self.buf.char_len(self.row);
            self.buf.join(self.row);
        }
        self.want_col = self.col;
    }

    fn delete_forward(&mut self) {
        if self.col < self.buf.char_len(self.row) {
            self.before_change();
            self.buf.remove_char(self.row, self.col);
        } else if self.row + 1 < self.buf.len() {
            self.before_change();
            self.buf.join(self.row);
        }
    }
}
