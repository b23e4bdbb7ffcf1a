//! Normal mode: moving, entering the other modes, and the line commands (`x`, `dd`, `yy`,
//! `p`, `P`, `u`, `n`, `N`).

use alloc::string::String;
use alloc::vec::Vec;

use crate::editor::Editor;
use crate::key::Key;
use crate::Mode;

/// Shown for Ctrl-C in Normal mode (which does not quit).
pub(crate) const QUIT_HINT: &str = "Type :q! and Enter to quit without saving";

impl Editor {
    /// One key in Normal mode.
    pub(crate) fn normal_key(&mut self, key: Key) {
        if let Some(op) = self.pending.take() {
            // `dd` and `yy`; any other second key cancels the operator.
            match (op, key) {
                ('d', Key::Char('d')) => self.delete_line(),
                ('y', Key::Char('y')) => self.yank_line(),
                _ => {}
            }
            return;
        }
        match key {
            Key::Char('h') | Key::Left | Key::Backspace => {
                self.goto_col(self.col.saturating_sub(1))
            }
            Key::Char('l') | Key::Right | Key::Char(' ') => self.goto_col(self.col + 1),
            Key::Char('j') | Key::Down | Key::Enter => self.goto_row(self.row + 1),
            Key::Char('k') | Key::Up => self.goto_row(self.row.saturating_sub(1)),
            Key::Char('0') | Key::Home => self.goto_col(0),
            Key::Char('$') | Key::End => {
                self.goto_col(usize::MAX);
                self.want_col = usize::MAX;
            }
            Key::Char('G') => self.goto_row(usize::MAX),
            Key::Char('x') | Key::Delete => self.delete_char(),
            Key::Char(op @ ('d' | 'y')) => self.pending = Some(op),
            Key::Char('p') => self.put(self.row + 1),
            Key::Char('P') => self.put(self.row),
            Key::Char('u') => self.undo(),
            Key::Char('n') => self.search_again(true),
            Key::Char('N') => self.search_again(false),
            Key::Char(c) => self.enter_mode(c),
            Key::Interrupt => self.say(String::from(QUIT_HINT)),
            _ => {}
        }
    }

    /// The keys that switch modes: `i a A I o O : /` (other characters do nothing).
    fn enter_mode(&mut self, c: char) {
        match c {
            'i' => self.start_insert(false),
            'a' => {
                self.start_insert(false);
                self.col = (self.col + 1).min(self.buf.char_len(self.row));
            }
            'A' => {
                self.start_insert(false);
                self.col = self.buf.char_len(self.row);
            }
            'I' => {
                self.start_insert(false);
                self.col = 0;
            }
            'o' => self.open_line(self.row + 1),
            'O' => self.open_line(self.row),
            ':' | '/' => {
                self.mode = if c == ':' {
                    Mode::Command
                } else {
                    Mode::Search
                };
                self.prompt.clear();
            }
            _ => return,
        }
        self.want_col = self.col;
    }

    /// `o` / `O`: a new empty line at `at`, typed into.
    fn open_line(&mut self, at: usize) {
        if !self.may_grow(1) {
            return;
        }
        self.before_change();
        self.buf.insert_lines(at, &[String::new()]);
        self.row = at;
        self.col = 0;
        self.start_insert(true);
    }

    /// `x`: deletes the character under the cursor.
    fn delete_char(&mut self) {
        if self.buf.char_len(self.row) == 0 {
            return;
        }
        self.before_change();
        self.buf.remove_char(self.row, self.col);
        self.want_col = self.col;
    }

    /// `dd`: deletes the line into the register.
    fn delete_line(&mut self) {
        if self.buf.is_blank() {
            return;
        }
        self.before_change();
        if let Some(line) = self.buf.remove_line(self.row) {
            self.register = Vec::from([line]);
        }
        self.col = 0;
        self.want_col = 0;
    }

    /// `yy`: copies the line into the register.
    fn yank_line(&mut self) {
        self.register = Vec::from([String::from(self.buf.line(self.row))]);
    }

    /// `p` / `P`: the register's lines before line `at`; the cursor goes to the first.
    fn put(&mut self, at: usize) {
        if self.register.is_empty() {
            self.say(String::from("Nothing in register"));
            return;
        }
        let bytes: usize = self.register.iter().map(|l| l.len() + 1).sum();
        if !self.may_grow(bytes) {
            return;
        }
        self.before_change();
        let lines = core::mem::take(&mut self.register);
        self.buf.insert_lines(at, &lines);
        self.register = lines;
        self.row = at;
        self.col = 0;
        self.want_col = 0;
    }
}
