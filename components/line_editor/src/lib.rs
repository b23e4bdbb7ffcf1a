//! The PandaGen console's logic, without any I/O, so that it can be tested on the host:
//!
//! * [`LineEditor`]: turns the bytes typed on a serial terminal into echo and complete lines —
//!   printable ASCII, backspace, Enter, Ctrl-C, a 16-line history on the up/down arrows, and
//!   cursor movement with left/right/Home/End/Delete, all in fixed-size buffers;
//! * [`command`]: parses a line into a console [`Command`](command::Command), or into the one
//!   line of error to show;
//! * [`shell`]: runs a command against a [`System`](shell::System) (the syscalls, faked in
//!   tests) and formats its output;
//! * [`edit`]: the `edit` command's session with the editor service, the console forwarding
//!   its terminal;
//! * [`net`]: the network commands `net`, `ping` and `dns` (`network_api` calls);
//! * [`http`]: the `http get` and `http put` commands (HTTP/1.1 over `network_api` TCP).
//!
//! `cli_console` owns the I/O: it reads bytes from the console, feeds them to the editor,
//! writes the echo, and runs the commands the parser returns.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod command;
pub mod edit;
pub mod http;
pub mod net;
pub mod shell;
/// `update FILE`: the driver is the `update_driver` crate (shared with `status_http`'s
/// `PUT /update`); the console's side is [`update::console`].
pub mod update {
    pub use update_driver::*;
    pub mod console;
}

/// Longest line the editor accepts, in bytes. Typing past it rings the bell and the whole line
/// is refused at Enter (see [`Event::TooLong`]).
pub const LINE_MAX: usize = 256;

/// How many lines the history keeps (the oldest is forgotten first).
pub const HISTORY_LEN: usize = 16;

/// What the caller writes for [`Event::Line`] before running the line.
pub const NEWLINE: &[u8] = b"\r\n";

/// What the caller writes for [`Event::Cancel`] (then a fresh prompt).
pub const CANCEL_ECHO: &[u8] = b"^C\r\n";

/// What the caller writes for [`Event::TooLong`] (then a fresh prompt): ends the input line
/// and explains why it was refused.
pub const TOO_LONG_ECHO: &[u8] = b"\r\nerror: line too long (max 256)\r\n";

/// The terminal bell, echoed when a byte cannot be taken.
pub const BELL: &[u8] = b"\x07";

const BACKSPACE: u8 = 0x08;
const DEL: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const ESC: u8 = 0x1b;
/// Erase from the cursor to the end of the line (ANSI "EL").
const ERASE_TO_END: &[u8] = b"\x1b[K";

/// The longest echo one byte can cause: replacing a full line by another one from the history
/// (`LINE_MAX` backspaces, `LINE_MAX` characters, [`ERASE_TO_END`]), or deleting in front of a
/// full tail (backspace, tail, space, tail + 1 backspaces).
const ECHO_MAX: usize = 2 * LINE_MAX + 8;

/// What one byte of input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Nothing to show: the byte was part of an escape sequence, the `\n` of a `\r\n`, an
    /// ignored control character, or an edit that changed nothing.
    None,
    /// Write these bytes to the terminal (the echo of an edit; [`BELL`] when a byte was refused).
    Echo(&'a [u8]),
    /// Enter: the complete line (possibly empty). Nothing has been echoed for the Enter key:
    /// write [`NEWLINE`], then run the line.
    Line(&'a str),
    /// Enter after more than [`LINE_MAX`] bytes were typed: the line is thrown away. Write
    /// [`TOO_LONG_ECHO`] and a fresh prompt.
    TooLong,
    /// Ctrl-C: the line is thrown away. Write [`CANCEL_ECHO`] and a fresh prompt.
    Cancel,
}

/// Where the editor is in an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    /// Not in one.
    Ground,
    /// After `ESC`.
    Esc,
    /// After `ESC [`, with the first numeric parameter so far.
    Csi(u16),
    /// After `ESC O` (the arrows' "application mode" form).
    Ss3,
}

/// A line editor for a serial terminal, with fixed buffers (no heap): feed it every byte read
/// from the console with [`feed`](Self::feed) and act on the [`Event`]s.
///
/// Keys: printable ASCII inserts at the cursor; Backspace (`0x08` or `0x7f`) deletes before it;
/// Enter is `\r`, `\n` or `\r\n` (one line); Ctrl-C throws the line away; Up/Down (`ESC [ A`,
/// `ESC [ B`, or `ESC O A/B`) walk the history, replacing the line on screen; Left/Right,
/// Home/End (`ESC [ H/F`, `ESC [ 1~/4~`) move the cursor; Delete (`ESC [ 3~`) deletes under it.
/// Other escape sequences, other control characters and non-ASCII bytes are ignored.
#[derive(Debug, Clone)]
pub struct LineEditor {
    line: [u8; LINE_MAX],
    len: usize,
    cursor: usize,
    /// More than `LINE_MAX` bytes were typed into this line.
    overflow: bool,
    /// The last event was `Line`: clear the line on the next byte.
    done: bool,
    /// The last byte was `\r`: a `\n` right after it is part of the same Enter.
    after_cr: bool,
    escape: Escape,
    /// Ring of past lines; `history_next` is where the next one goes.
    history: [[u8; LINE_MAX]; HISTORY_LEN],
    history_lens: [u16; HISTORY_LEN],
    history_count: usize,
    history_next: usize,
    /// While walking the history: which entry is shown (0 = the newest).
    browsing: Option<usize>,
    /// The line being typed before the walk started, restored by walking past the newest.
    draft: [u8; LINE_MAX],
    draft_len: usize,
    echo: [u8; ECHO_MAX],
    echo_len: usize,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty editor with an empty history.
    pub const fn new() -> Self {
        LineEditor {
            line: [0; LINE_MAX],
            len: 0,
            cursor: 0,
            overflow: false,
            done: false,
            after_cr: false,
            escape: Escape::Ground,
            history: [[0; LINE_MAX]; HISTORY_LEN],
            history_lens: [0; HISTORY_LEN],
            history_count: 0,
            history_next: 0,
            browsing: None,
            draft: [0; LINE_MAX],
            draft_len: 0,
            echo: [0; ECHO_MAX],
            echo_len: 0,
        }
    }

    /// The line as typed so far (only printable ASCII, so always valid UTF-8).
    pub fn line(&self) -> &str {
        core::str::from_utf8(&self.line[..self.len]).unwrap_or("")
    }

    /// The cursor position in the line, in bytes from its start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// How many lines the history holds.
    pub fn history_len(&self) -> usize {
        self.history_count
    }

    /// The `i`-th newest line of the history (0 = the last line entered).
    pub fn history_entry(&self, i: usize) -> Option<&str> {
        if i >= self.history_count {
            return None;
        }
        let slot = (self.history_next + HISTORY_LEN - 1 - i) % HISTORY_LEN;
        let len = usize::from(self.history_lens[slot]);
        core::str::from_utf8(&self.history[slot][..len]).ok()
    }

    /// Takes one byte of input.
    pub fn feed(&mut self, byte: u8) -> Event<'_> {
        if self.done {
            self.done = false;
            self.len = 0;
            self.cursor = 0;
        }
        self.echo_len = 0;
        let after_cr = core::mem::replace(&mut self.after_cr, false);

        match self.escape {
            Escape::Ground => {}
            Escape::Esc => {
                self.escape = match byte {
                    b'[' => Escape::Csi(0),
                    b'O' => Escape::Ss3,
                    // `ESC x` (Alt-x, or a lone Escape and a key): ignored.
                    _ => Escape::Ground,
                };
                return Event::None;
            }
            Escape::Csi(param) => {
                return match byte {
                    b'0'..=b'9' => {
                        let digit = u16::from(byte - b'0');
                        self.escape = Escape::Csi(param.saturating_mul(10).saturating_add(digit));
                        Event::None
                    }
                    // Further parameters and intermediate bytes: part of the sequence.
                    0x20..=0x3f => Event::None,
                    0x40..=0x7e => {
                        self.escape = Escape::Ground;
                        self.key_sequence(byte, param)
                    }
                    // A control character cannot be in a sequence: give up on it.
                    _ => {
                        self.escape = Escape::Ground;
                        Event::None
                    }
                };
            }
            Escape::Ss3 => {
                self.escape = Escape::Ground;
                return self.key_sequence(byte, 0);
            }
        }

        match byte {
            b'\n' if after_cr => Event::None,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                self.enter()
            }
            BACKSPACE | DEL => self.backspace(),
            CTRL_C => {
                self.clear();
                Event::Cancel
            }
            ESC => {
                self.escape = Escape::Esc;
                Event::None
            }
            0x20..=0x7e => self.insert(byte),
            _ => Event::None,
        }
    }

    /// The final byte of `ESC [ <param> <final>` or `ESC O <final>`.
    fn key_sequence(&mut self, final_byte: u8, param: u16) -> Event<'_> {
        match (final_byte, param) {
            (b'A', _) => self.history_older(),
            (b'B', _) => self.history_newer(),
            (b'C', _) => self.right(),
            (b'D', _) => self.left(),
            (b'H', _) | (b'~', 1 | 7) => self.home(),
            (b'F', _) | (b'~', 4 | 8) => self.end(),
            (b'~', 3) => self.delete(),
            _ => Event::None,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.cursor = 0;
        self.overflow = false;
        self.browsing = None;
    }

    fn enter(&mut self) -> Event<'_> {
        if self.overflow {
            self.clear();
            return Event::TooLong;
        }
        self.browsing = None;
        self.remember();
        self.done = true;
        Event::Line(core::str::from_utf8(&self.line[..self.len]).unwrap_or(""))
    }

    /// Adds the current line to the history, unless it is blank or repeats the newest entry.
    fn remember(&mut self) {
        let line = &self.line[..self.len];
        if line.iter().all(|&b| b == b' ') || self.history_entry(0).map(str::as_bytes) == Some(line)
        {
            return;
        }
        let slot = self.history_next;
        self.history[slot][..line.len()].copy_from_slice(line);
        // LINE_MAX fits in u16.
        self.history_lens[slot] = line.len() as u16;
        self.history_next = (slot + 1) % HISTORY_LEN;
        self.history_count = (self.history_count + 1).min(HISTORY_LEN);
    }

    fn push_echo(&mut self, bytes: &[u8]) {
        let end = self.echo_len + bytes.len();
        self.echo[self.echo_len..end].copy_from_slice(bytes);
        self.echo_len = end;
    }

    fn push_repeat(&mut self, byte: u8, count: usize) {
        let end = self.echo_len + count;
        self.echo[self.echo_len..end].fill(byte);
        self.echo_len = end;
    }

    fn echo_event(&self) -> Event<'_> {
        if self.echo_len == 0 {
            Event::None
        } else {
            Event::Echo(&self.echo[..self.echo_len])
        }
    }

    fn insert(&mut self, byte: u8) -> Event<'_> {
        if self.overflow {
            return Event::None;
        }
        if self.len == LINE_MAX {
            // Ring once; everything else typed into this line is dropped silently.
            self.overflow = true;
            return Event::Echo(BELL);
        }
        self.line
            .copy_within(self.cursor..self.len, self.cursor + 1);
        self.line[self.cursor] = byte;
        self.len += 1;
        self.cursor += 1;
        // The character, the tail after it redrawn, and the cursor back to after the character.
        let tail_len = self.len - self.cursor;
        self.push_echo(&[byte]);
        let tail = self.line;
        self.push_echo(&tail[self.cursor..self.len]);
        self.push_repeat(BACKSPACE, tail_len);
        self.echo_event()
    }

    fn backspace(&mut self) -> Event<'_> {
        if self.cursor == 0 {
            return Event::None;
        }
        self.cursor -= 1;
        self.push_echo(&[BACKSPACE]);
        self.remove_at_cursor()
    }

    fn delete(&mut self) -> Event<'_> {
        if self.cursor == self.len {
            return Event::None;
        }
        self.remove_at_cursor()
    }

    /// Removes the byte under the cursor (the terminal's cursor is already there) and redraws
    /// the tail: tail, a space over the old last character, back to the cursor.
    fn remove_at_cursor(&mut self) -> Event<'_> {
        self.line
            .copy_within(self.cursor + 1..self.len, self.cursor);
        self.len -= 1;
        let tail_len = self.len - self.cursor;
        let tail = self.line;
        self.push_echo(&tail[self.cursor..self.len]);
        self.push_echo(b" ");
        self.push_repeat(BACKSPACE, tail_len + 1);
        self.echo_event()
    }

    fn left(&mut self) -> Event<'_> {
        if self.cursor == 0 {
            return Event::None;
        }
        self.cursor -= 1;
        Event::Echo(&[BACKSPACE])
    }

    fn right(&mut self) -> Event<'_> {
        if self.cursor == self.len {
            return Event::None;
        }
        self.cursor += 1;
        Event::Echo(&self.line[self.cursor - 1..self.cursor])
    }

    fn home(&mut self) -> Event<'_> {
        self.push_repeat(BACKSPACE, self.cursor);
        self.cursor = 0;
        self.echo_event()
    }

    fn end(&mut self) -> Event<'_> {
        let (from, to) = (self.cursor, self.len);
        self.cursor = to;
        let line = self.line;
        self.push_echo(&line[from..to]);
        self.echo_event()
    }

    fn history_older(&mut self) -> Event<'_> {
        let next = self.browsing.map_or(0, |i| i + 1);
        if next >= self.history_count {
            return Event::Echo(BELL);
        }
        if self.browsing.is_none() {
            self.draft = self.line;
            self.draft_len = self.len;
        }
        self.browsing = Some(next);
        let slot = (self.history_next + HISTORY_LEN - 1 - next) % HISTORY_LEN;
        let (text, len) = (self.history[slot], usize::from(self.history_lens[slot]));
        self.replace_line(&text[..len])
    }

    fn history_newer(&mut self) -> Event<'_> {
        match self.browsing {
            None => Event::Echo(BELL),
            Some(0) => {
                self.browsing = None;
                let (text, len) = (self.draft, self.draft_len);
                self.replace_line(&text[..len])
            }
            Some(i) => {
                self.browsing = Some(i - 1);
                let slot = (self.history_next + HISTORY_LEN - i) % HISTORY_LEN;
                let (text, len) = (self.history[slot], usize::from(self.history_lens[slot]));
                self.replace_line(&text[..len])
            }
        }
    }

    /// Replaces the line by `text` on screen (back to its start, the new text, erase the rest)
    /// and in the buffer, with the cursor at the end.
    fn replace_line(&mut self, text: &[u8]) -> Event<'_> {
        self.push_repeat(BACKSPACE, self.cursor);
        self.push_echo(text);
        self.push_echo(ERASE_TO_END);
        self.line[..text.len()].copy_from_slice(text);
        self.len = text.len();
        self.cursor = text.len();
        self.overflow = false;
        self.echo_event()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-line terminal: what the user would see after the echo.
    #[derive(Default)]
    struct Screen {
        /// Finished rows (after `\r\n`).
        rows: Vec<String>,
        row: Vec<u8>,
        col: usize,
        bells: usize,
        /// Pending escape bytes.
        esc: Vec<u8>,
    }

    impl Screen {
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                if !self.esc.is_empty() {
                    self.esc.push(b);
                    if (0x40..=0x7e).contains(&b) && self.esc.len() > 2 {
                        assert_eq!(self.esc, ERASE_TO_END, "only ESC [ K is echoed");
                        self.row.truncate(self.col);
                        self.esc.clear();
                    }
                    continue;
                }
                match b {
                    0x1b => self.esc.push(b),
                    0x08 => self.col = self.col.checked_sub(1).expect("backspace at column 0"),
                    0x07 => self.bells += 1,
                    b'\r' => self.col = 0,
                    b'\n' => {
                        self.rows.push(self.current());
                        self.row.clear();
                        self.col = 0;
                    }
                    0x20..=0x7e => {
                        if self.col == self.row.len() {
                            self.row.push(b);
                        } else {
                            self.row[self.col] = b;
                        }
                        self.col += 1;
                    }
                    _ => panic!("unexpected byte {b:#x} in the echo"),
                }
            }
        }

        /// The current row without trailing spaces.
        fn current(&self) -> String {
            String::from_utf8(self.row.clone())
                .unwrap()
                .trim_end()
                .to_string()
        }
    }

    /// Feeds `input`, mirrors the echo on `screen` as the console does, and returns the lines
    /// and other non-echo events.
    fn type_into(ed: &mut LineEditor, screen: &mut Screen, input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in input {
            match ed.feed(b) {
                Event::None => {}
                Event::Echo(e) => screen.write(e),
                Event::Line(l) => {
                    screen.write(NEWLINE);
                    out.push(format!("line:{l}"));
                }
                Event::TooLong => {
                    screen.write(TOO_LONG_ECHO);
                    out.push("too long".into());
                }
                Event::Cancel => {
                    screen.write(CANCEL_ECHO);
                    out.push("cancel".into());
                }
            }
            assert!(ed.len <= LINE_MAX && ed.cursor <= ed.len);
        }
        out
    }

    fn run(input: &[u8]) -> (Vec<String>, Screen, LineEditor) {
        let mut ed = LineEditor::new();
        let mut screen = Screen::default();
        let out = type_into(&mut ed, &mut screen, input);
        (out, screen, ed)
    }

    #[test]
    fn printable_is_echoed_and_enter_gives_the_line() {
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(b'h'), Event::Echo(b"h"));
        assert_eq!(ed.feed(b'i'), Event::Echo(b"i"));
        assert_eq!(ed.line(), "hi");
        assert_eq!(ed.feed(b'\r'), Event::Line("hi"));
        // The next byte starts a new line.
        assert_eq!(ed.feed(b'x'), Event::Echo(b"x"));
        assert_eq!(ed.line(), "x");
    }

    #[test]
    fn enter_forms() {
        for enter in [&b"\r"[..], b"\n", b"\r\n"] {
            let mut input = b"ls".to_vec();
            input.extend_from_slice(enter);
            input.extend_from_slice(b"cat");
            input.extend_from_slice(enter);
            let (out, screen, _) = run(&input);
            assert_eq!(out, ["line:ls", "line:cat"], "enter = {enter:?}");
            assert_eq!(screen.rows, ["ls", "cat"]);
        }
    }

    #[test]
    fn crlf_is_one_enter_but_two_crs_are_two() {
        let (out, _, _) = run(b"a\r\n\r\nb\r\r");
        assert_eq!(out, ["line:a", "line:", "line:b", "line:"]);
        // `\n\r` is two Enters (only `\r\n` is one).
        let (out, _, _) = run(b"a\n\r");
        assert_eq!(out, ["line:a", "line:"]);
        // A `\n` later than right after the `\r` is an Enter of its own.
        let (out, _, _) = run(b"a\rb\n");
        assert_eq!(out, ["line:a", "line:b"]);
    }

    #[test]
    fn empty_enter_gives_an_empty_line() {
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(b'\r'), Event::Line(""));
        assert_eq!(ed.history_len(), 0);
    }

    #[test]
    fn backspace_both_codes() {
        for bs in [0x08u8, 0x7f] {
            let mut ed = LineEditor::new();
            ed.feed(b'a');
            ed.feed(b'b');
            assert_eq!(ed.feed(bs), Event::Echo(b"\x08 \x08"));
            assert_eq!(ed.line(), "a");
            assert_eq!(ed.feed(bs), Event::Echo(b"\x08 \x08"));
            assert_eq!(ed.line(), "");
            // Nothing left to delete: nothing happens.
            assert_eq!(ed.feed(bs), Event::None);
            assert_eq!(ed.feed(b'\r'), Event::Line(""));
        }
        let (out, screen, _) = run(b"hellp\x7fo\r");
        assert_eq!(out, ["line:hello"]);
        assert_eq!(screen.rows, ["hello"]);
    }

    #[test]
    fn ctrl_c_clears_the_line() {
        let mut ed = LineEditor::new();
        for &b in b"rm important" {
            ed.feed(b);
        }
        assert_eq!(ed.feed(0x03), Event::Cancel);
        assert_eq!(ed.line(), "");
        assert_eq!(ed.feed(b'\r'), Event::Line(""));
        assert_eq!(ed.history_len(), 0, "a cancelled line is not remembered");
        let (out, screen, _) = run(b"abc\x03ls\r");
        assert_eq!(out, ["cancel", "line:ls"]);
        assert_eq!(screen.rows, ["abc^C", "ls"]);
    }

    #[test]
    fn control_and_non_ascii_bytes_are_ignored() {
        let (out, screen, _) = run(b"a\x01\x02\t\x00b\x80\xff\xc3\xa9c\r");
        assert_eq!(out, ["line:abc"]);
        assert_eq!(screen.rows, ["abc"]);
        assert_eq!(screen.bells, 0);
    }

    #[test]
    fn a_full_line_is_accepted() {
        let line = "x".repeat(LINE_MAX);
        let mut input = line.clone().into_bytes();
        input.push(b'\r');
        let (out, screen, _) = run(&input);
        assert_eq!(out, [format!("line:{line}")]);
        assert_eq!(screen.bells, 0);
    }

    #[test]
    fn one_byte_too_many_rings_and_refuses_the_line() {
        let mut ed = LineEditor::new();
        for _ in 0..LINE_MAX {
            ed.feed(b'y');
        }
        assert_eq!(ed.feed(b'z'), Event::Echo(BELL));
        assert_eq!(ed.feed(b'z'), Event::None, "the bell rings once per line");
        assert_eq!(ed.feed(b'\r'), Event::TooLong);
        assert_eq!(ed.line(), "");
        assert_eq!(ed.history_len(), 0);
        // The editor works normally afterwards.
        assert_eq!(ed.feed(b'o'), Event::Echo(b"o"));
        assert_eq!(ed.feed(b'k'), Event::Echo(b"k"));
        assert_eq!(ed.feed(b'\n'), Event::Line("ok"));
    }

    #[test]
    fn ten_kib_line() {
        let mut input: Vec<u8> = (0..10 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        input.extend_from_slice(b"\r\nhelp\r\n");
        let (out, screen, ed) = run(&input);
        assert_eq!(out, ["too long", "line:help"]);
        assert_eq!(screen.bells, 1);
        // What was echoed is the first LINE_MAX bytes; then the notice on its own row.
        assert_eq!(screen.rows[0].len(), LINE_MAX);
        assert_eq!(screen.rows[1], "error: line too long (max 256)");
        assert_eq!(screen.rows[2], "help");
        assert_eq!(ed.history_len(), 1);
        assert_eq!(ed.history_entry(0), Some("help"));
    }

    #[test]
    fn too_long_notice_names_the_limit() {
        let notice = core::str::from_utf8(TOO_LONG_ECHO).unwrap();
        assert!(notice.contains(&format!("(max {LINE_MAX})")));
        assert!(notice.starts_with("\r\n") && notice.ends_with("\r\n"));
    }

    #[test]
    fn ctrl_c_after_overflow_resets_it() {
        let mut input = vec![b'q'; LINE_MAX + 10];
        input.extend_from_slice(b"\x03ls\r");
        let (out, _, _) = run(&input);
        assert_eq!(out, ["cancel", "line:ls"]);
    }

    #[test]
    fn history_up_and_down() {
        let mut ed = LineEditor::new();
        let mut screen = Screen::default();
        type_into(&mut ed, &mut screen, b"first\rsecond\rthird\r");
        assert_eq!(ed.history_len(), 3);
        type_into(&mut ed, &mut screen, b"dra");
        type_into(&mut ed, &mut screen, b"\x1b[A");
        assert_eq!((ed.line(), screen.current()), ("third", "third".into()));
        type_into(&mut ed, &mut screen, b"\x1b[A");
        assert_eq!((ed.line(), screen.current()), ("second", "second".into()));
        type_into(&mut ed, &mut screen, b"\x1b[A");
        assert_eq!((ed.line(), screen.current()), ("first", "first".into()));
        // Past the oldest: bell, line unchanged.
        assert_eq!(ed.feed(0x1b), Event::None);
        assert_eq!(ed.feed(b'['), Event::None);
        assert_eq!(ed.feed(b'A'), Event::Echo(BELL));
        assert_eq!(ed.line(), "first");
        type_into(&mut ed, &mut screen, b"\x1b[B");
        assert_eq!((ed.line(), screen.current()), ("second", "second".into()));
        type_into(&mut ed, &mut screen, b"\x1b[B\x1b[B");
        // Past the newest: the draft comes back.
        assert_eq!((ed.line(), screen.current()), ("dra", "dra".into()));
        assert_eq!(ed.feed(0x1b), Event::None);
        assert_eq!(ed.feed(b'['), Event::None);
        assert_eq!(ed.feed(b'B'), Event::Echo(BELL));
        // Recall, edit, enter.
        let out = type_into(&mut ed, &mut screen, b"\x03\x1b[A\x1b[A!\r");
        assert_eq!(out, ["cancel", "line:second!"]);
        assert_eq!(screen.rows.last().unwrap(), "second!");
        assert_eq!(ed.history_entry(0), Some("second!"));
    }

    #[test]
    fn history_replacement_echo() {
        let mut ed = LineEditor::new();
        for &b in b"ls\r" {
            ed.feed(b);
        }
        for &b in b"abcd\x1b[" {
            ed.feed(b);
        }
        // Back over "abcd", "ls", erase the rest of the row.
        assert_eq!(ed.feed(b'A'), Event::Echo(b"\x08\x08\x08\x08ls\x1b[K"));
    }

    #[test]
    fn history_keeps_the_last_16_and_skips_repeats_and_blanks() {
        let mut ed = LineEditor::new();
        let mut screen = Screen::default();
        for i in 0..20 {
            type_into(&mut ed, &mut screen, format!("cmd{i}\r").as_bytes());
        }
        type_into(&mut ed, &mut screen, b"cmd19\r   \r\r");
        assert_eq!(ed.history_len(), HISTORY_LEN);
        assert_eq!(ed.history_entry(0), Some("cmd19"));
        assert_eq!(ed.history_entry(15), Some("cmd4"));
        assert_eq!(ed.history_entry(16), None);
        for _ in 0..HISTORY_LEN {
            type_into(&mut ed, &mut screen, b"\x1b[A");
        }
        assert_eq!(ed.line(), "cmd4");
        assert_eq!(ed.feed(0x1b), Event::None);
        assert_eq!(ed.feed(b'O'), Event::None);
        assert_eq!(ed.feed(b'A'), Event::Echo(BELL));
    }

    #[test]
    fn up_with_empty_history_rings() {
        let mut ed = LineEditor::new();
        let events: Vec<_> = b"\x1b[A"
            .iter()
            .map(|&b| ed.feed(b) == Event::Echo(BELL))
            .collect();
        assert_eq!(events, [false, false, true]);
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn escape_sequences_split_across_feeds() {
        // The editor keeps its state between calls, so a sequence may arrive in any pieces:
        // feed the same input one byte at a time and in one go, with other bytes around it.
        let input = b"old\r\x1b[A\x1b[D\x1b[DX\x1b[C\x1b[C!\r";
        let mut ed = LineEditor::new();
        let mut screen = Screen::default();
        let mut out = Vec::new();
        for chunk in input.chunks(1) {
            out.extend(type_into(&mut ed, &mut screen, chunk));
        }
        assert_eq!(out, ["line:old", "line:oXld!"]);
        assert_eq!(screen.rows, ["old", "oXld!"]);
        // No byte of a sequence is echoed or inserted, even when it is a printable one.
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(0x1b), Event::None);
        assert_eq!(ed.feed(b'['), Event::None);
        assert_eq!(ed.line(), "");
        assert_eq!(ed.feed(b'D'), Event::None, "left at column 0 does nothing");
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn ss3_arrows() {
        let (out, _, _) = run(b"one\r\x1bOA\r");
        assert_eq!(out, ["line:one", "line:one"]);
    }

    #[test]
    fn unknown_sequences_are_swallowed() {
        // F5 (`ESC [ 15 ~`), a parameterised one (`ESC [ 1;5C`), Page Up, Alt-x, and a sequence cut
        // by a control character: none of it reaches the line.
        let (out, screen, _) = run(b"a\x1b[15~b\x1b[5~c\x1bxd\x1b[\x01e\r");
        assert_eq!(out, ["line:abcde"]);
        assert_eq!(screen.rows, ["abcde"]);
        // Ctrl-Right (`ESC [ 1;5C`) still moves right as its final byte is `C`.
        let (out, _, _) = run(b"ab\x1b[D\x1b[D\x1b[1;5C-\r");
        assert_eq!(out, ["line:a-b"]);
    }

    #[test]
    fn cursor_movement_and_editing_in_the_middle() {
        let (out, screen, _) = run(b"helo\x1b[Dl\r");
        assert_eq!(out, ["line:hello"]);
        assert_eq!(screen.rows, ["hello"]);
        // Backspace in the middle redraws the tail.
        let (out, screen, _) = run(b"caXt\x1b[D\x7f\r");
        assert_eq!(out, ["line:cat"]);
        assert_eq!(screen.rows, ["cat"]);
        // Home, End, Delete.
        let (out, screen, _) = run(b"xls\x1b[H\x1b[3~\x1b[F -l\r");
        assert_eq!(out, ["line:ls -l"]);
        assert_eq!(screen.rows, ["ls -l"]);
        let (out, _, _) = run(b"bc\x1b[1~a\x1b[4~d\x1b[3~\r");
        assert_eq!(out, ["line:abcd"]);
        // Right at the end does nothing.
        let mut ed = LineEditor::new();
        ed.feed(b'a');
        for &b in b"\x1b[" {
            ed.feed(b);
        }
        assert_eq!(ed.feed(b'C'), Event::None);
    }

    #[test]
    fn insert_into_a_full_line_in_the_middle_is_refused() {
        let mut input = vec![b'm'; LINE_MAX];
        input.extend_from_slice(b"\x1b[D\x1b[DZ\r");
        let (out, screen, _) = run(&input);
        assert_eq!(out, ["too long"]);
        assert_eq!(screen.bells, 1);
    }

    #[test]
    fn worst_case_echo_fits() {
        // Replace a full line, cursor at its end, by another full line from the history.
        let mut input = vec![b'a'; LINE_MAX];
        input.push(b'\r');
        input.extend(vec![b'b'; LINE_MAX]);
        input.extend_from_slice(b"\x1b[A");
        let (_, screen, ed) = run(&input);
        assert_eq!(screen.current(), "a".repeat(LINE_MAX));
        assert_eq!(ed.line(), "a".repeat(LINE_MAX));
        // Backspace at the start of a full tail.
        let mut input = vec![b'a'; LINE_MAX];
        input.extend_from_slice(b"\x1b[H\x1b[C\x7f\r");
        let (out, _, _) = run(&input);
        assert_eq!(out, [format!("line:{}", "a".repeat(LINE_MAX - 1))]);
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic generator; every byte value, sequences and overflow included.
        let mut x: u32 = 0x1234_5678;
        let mut ed = LineEditor::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let b = match x % 8 {
                0 => 0x1b,
                1 => b'[',
                2 => b"ABCD~3H\r"[(x >> 8) as usize % 8],
                _ => (x >> 16) as u8,
            };
            let _ = ed.feed(b);
            assert!(ed.len <= LINE_MAX && ed.cursor <= ed.len);
        }
    }
}
