//! The [`Editor`]: its state, its public interface, the dispatch of keys to the modes, the
//! undo stack and the cursor rules shared by the modes.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::buffer::Buffer;
use crate::key::{Key, KeyDecoder};
use crate::render::Terminal;
use crate::{Exit, Limits, Mode, OpenError, Outcome, Position, Storage, Viewport, UNDO_LEVELS};

/// The text and cursor as they were before a change, for `u`.
#[derive(Debug, Clone)]
struct Snapshot {
    buf: Buffer,
    row: usize,
    col: usize,
    version: u64,
}

/// A vi-like editor for one file.
///
/// Keys: in Normal mode `h j k l` and the arrows, `0`/Home,
/// `$`/End, `G`, `i a A I o O`, `x`/Delete, `dd`, `yy`, `p`, `P`, `u`, `/`, `n`, `N`, `:`;
/// in Insert mode text, Enter, Backspace, Delete, the arrows, Escape; on the `:` line `w`,
/// `q`, `q!`, `wq`, `x` and a line number. No counts, no other operators, no redo.
#[derive(Debug, Clone)]
pub struct Editor {
    pub(crate) name: String,
    pub(crate) buf: Buffer,
    pub(crate) limits: Limits,
    pub(crate) view: Viewport,
    /// The cursor: line, and character in it.
    pub(crate) row: usize,
    pub(crate) col: usize,
    /// The column `j`/`k` aim for (kept across shorter lines).
    pub(crate) want_col: usize,
    /// The first text line and the first column shown.
    pub(crate) top: usize,
    pub(crate) left: usize,
    pub(crate) mode: Mode,
    /// The `:` command or `/` pattern being typed.
    pub(crate) prompt: String,
    /// `d` or `y`, waiting for its second key.
    pub(crate) pending: Option<char>,
    /// The lines `dd`/`yy` took, for `p`/`P`.
    pub(crate) register: Vec<String>,
    undo: Vec<Snapshot>,
    /// The state before the Insert session going on, until its first change.
    insert_snapshot: Option<Snapshot>,
    /// Every state of the text gets a number; the file holds `saved_version`.
    version: u64,
    next_version: u64,
    saved_version: u64,
    pub(crate) last_search: Option<String>,
    pub(crate) message: Option<String>,
    decoder: KeyDecoder,
    quit: Option<Exit>,
    /// What the terminal shows, row by row (empty: unknown, clear it first).
    pub(crate) drawn: Vec<Option<String>>,
}

impl Editor {
    /// An editor for file `name` holding `bytes` (empty for a new file), on a terminal of
    /// `view`'s size. Refuses bytes that are not UTF-8 or larger than `limits.max_bytes`.
    pub fn open(
        name: &str,
        bytes: &[u8],
        limits: Limits,
        view: Viewport,
    ) -> Result<Editor, OpenError> {
        if bytes.len() > limits.max_bytes {
            return Err(OpenError::TooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        let buf = Buffer::parse(bytes)?;
        let message = if bytes.is_empty() {
            format!("\"{name}\" [New]")
        } else {
            format!("\"{name}\" {}L, {}B", buf.len(), bytes.len())
        };
        let mut ed = Editor {
            name: String::from(name),
            buf,
            limits,
            view,
            row: 0,
            col: 0,
            want_col: 0,
            top: 0,
            left: 0,
            mode: Mode::Normal,
            prompt: String::new(),
            pending: None,
            register: Vec::new(),
            undo: Vec::new(),
            insert_snapshot: None,
            version: 0,
            next_version: 1,
            saved_version: 0,
            last_search: None,
            message: Some(message),
            decoder: KeyDecoder::new(),
            quit: None,
            drawn: Vec::new(),
        };
        ed.set_viewport(view);
        Ok(ed)
    }

    /// The file's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The cursor.
    pub fn cursor(&self) -> Position {
        Position {
            line: self.row,
            col: self.col,
        }
    }

    /// Whether the text differs from the file as opened or last saved.
    pub fn is_modified(&self) -> bool {
        self.version != self.saved_version
    }

    /// How many lines the text has (at least one).
    pub fn line_count(&self) -> usize {
        self.buf.len()
    }

    /// Line `i` (from 0), if there is one.
    pub fn line(&self, i: usize) -> Option<&str> {
        self.buf.lines().get(i).map(String::as_str)
    }

    /// The bytes `:w` would save.
    pub fn text(&self) -> Vec<u8> {
        self.buf.to_bytes()
    }

    /// The message on the status line, if any (cleared by the next key).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The terminal's new size: the next [`render`](Self::render) redraws everything.
    pub fn set_viewport(&mut self, view: Viewport) {
        self.view = Viewport {
            rows: view.rows.max(2),
            cols: view.cols.max(1),
        };
        self.drawn.clear();
    }

    /// Forget what the terminal shows: the next [`render`](Self::render) clears it and draws
    /// everything (e.g. after something else wrote to it).
    pub fn redraw_all(&mut self) {
        self.drawn.clear();
    }

    /// Leaves the screen clean for the console after the editor quit.
    pub fn leave_screen(term: &mut impl Terminal) {
        term.write(b"\x1b[0m\x1b[2J\x1b[H");
    }

    /// Whether the last byte fed left an unfinished key (an `ESC` that may be a lone Escape):
    /// call [`key_timeout`](Self::key_timeout) if no byte follows soon.
    pub fn key_pending(&self) -> bool {
        self.decoder.is_pending()
    }

    /// Takes the bytes typed on the terminal. Stops at the key that quits (the rest is not
    /// used).
    pub fn feed(&mut self, bytes: &[u8], storage: &mut impl Storage) -> Outcome {
        for &byte in bytes {
            if self.quit.is_some() {
                break;
            }
            for key in self.decoder.feed(byte) {
                self.key(key, storage);
            }
        }
        self.outcome()
    }

    /// The input went idle: an `ESC` held by the decoder is a lone Escape.
    pub fn key_timeout(&mut self, storage: &mut impl Storage) -> Outcome {
        for key in self.decoder.timeout() {
            self.key(key, storage);
        }
        self.outcome()
    }

    /// Takes one decoded key (what [`feed`](Self::feed) does for each key it decodes).
    pub fn key(&mut self, key: Key, storage: &mut impl Storage) -> Outcome {
        if self.quit.is_none() {
            self.message = None;
            match self.mode {
                Mode::Normal => self.normal_key(key),
                Mode::Insert => self.insert_key(key),
                Mode::Command | Mode::Search => self.prompt_key(key, storage),
            }
            self.clamp_cursor();
        }
        self.outcome()
    }

    fn outcome(&self) -> Outcome {
        self.quit.map_or(Outcome::Continue, Outcome::Quit)
    }

    /// Ends the session.
    pub(crate) fn quit(&mut self, exit: Exit) {
        self.quit = Some(exit);
    }

    /// Shows `text` on the status line until the next key.
    pub(crate) fn say(&mut self, text: String) {
        self.message = Some(text);
    }

    /// Whether the file may grow by `extra` bytes; if not, says why.
    pub(crate) fn may_grow(&mut self, extra: usize) -> bool {
        if self.buf.file_len_plus(extra) <= self.limits.max_bytes {
            return true;
        }
        self.say(format!(
            "File full: the limit is {} bytes",
            self.limits.max_bytes
        ));
        false
    }

    /// The file now holds the text (after a successful save).
    pub(crate) fn mark_saved(&mut self) {
        self.saved_version = self.version;
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            buf: self.buf.clone(),
            row: self.row,
            col: self.col,
            version: self.version,
        }
    }

    /// Call right before changing the text: remembers it for undo (an Insert session is one
    /// change) and gives the text a new version.
    pub(crate) fn before_change(&mut self) {
        let snap = if self.mode == Mode::Insert {
            self.insert_snapshot.take()
        } else {
            Some(self.snapshot())
        };
        if let Some(snap) = snap {
            if self.undo.len() == UNDO_LEVELS {
                self.undo.remove(0);
            }
            self.undo.push(snap);
        }
        self.version = self.next_version;
        self.next_version += 1;
    }

    /// Enters Insert mode; `already_saved` when the caller's own change began the session
    /// (`o`/`O`), so the undo snapshot is taken.
    pub(crate) fn start_insert(&mut self, already_saved: bool) {
        self.insert_snapshot = if already_saved {
            None
        } else {
            Some(self.snapshot())
        };
        self.mode = Mode::Insert;
    }

    /// Leaves Insert mode (the cursor steps back onto the last character typed, as in vi).
    pub(crate) fn end_insert(&mut self) {
        self.insert_snapshot = None;
        self.mode = Mode::Normal;
        self.col = self.col.saturating_sub(1);
    }

    /// `u`: back to the state before the last change.
    pub(crate) fn undo(&mut self) {
        match self.undo.pop() {
            Some(snap) => {
                self.buf = snap.buf;
                self.row = snap.row;
                self.col = snap.col;
                self.version = snap.version;
                self.want_col = self.col;
            }
            None => self.say(String::from("Already at oldest change")),
        }
    }

    /// Puts the cursor back in the text: on a character in Normal mode, at most after the
    /// last one in Insert mode.
    pub(crate) fn clamp_cursor(&mut self) {
        self.row = self.row.min(self.buf.len().saturating_sub(1));
        let len = self.buf.char_len(self.row);
        let max = if self.mode == Mode::Insert {
            len
        } else {
            len.saturating_sub(1)
        };
        self.col = self.col.min(max);
    }

    /// Moves to line `row` (clamped), aiming for the remembered column.
    pub(crate) fn goto_row(&mut self, row: usize) {
        self.row = row.min(self.buf.len().saturating_sub(1));
        self.col = self.want_col;
    }

    /// Moves to `col` on the current line and remembers it for `j`/`k`.
    pub(crate) fn goto_col(&mut self, col: usize) {
        self.col = col;
        self.clamp_cursor();
        self.want_col = self.col;
    }
}
