//! Host tests: the editor driven with terminal bytes, checked on a fake VT100 screen (what the
//! user sees) and a fake store (what was saved).

use super::*;
use crate::key::{Key, KeyDecoder};

/// A VT100 screen that understands exactly the subset the editor may emit, and panics on
/// anything else (other sequences, control characters, writing past the right margin).
struct Screen {
    rows: usize,
    cols: usize,
    /// Each cell: character and inverse video.
    cells: Vec<Vec<(char, bool)>>,
    row: usize,
    col: usize,
    inverse: bool,
    /// Bytes written in all.
    written: usize,
    /// Bytes of the last write.
    last: Vec<u8>,
}

impl Screen {
    fn new(rows: usize, cols: usize) -> Self {
        Screen {
            rows,
            cols,
            cells: vec![vec![('#', false); cols]; rows],
            row: 0,
            col: 0,
            inverse: false,
            written: 0,
            last: Vec::new(),
        }
    }

    /// Row `r` as text, trailing spaces removed.
    fn line(&self, r: usize) -> String {
        let text: String = self.cells[r].iter().map(|&(c, _)| c).collect();
        text.trim_end().to_string()
    }

    /// The status line's text.
    fn status(&self) -> String {
        self.line(self.rows - 1)
    }

    /// The text rows.
    fn text(&self) -> Vec<String> {
        (0..self.rows - 1).map(|r| self.line(r)).collect()
    }

    fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    fn sequence(&mut self, params: &str, final_char: char) {
        match (final_char, params) {
            ('J', "2") => {
                for row in &mut self.cells {
                    row.fill((' ', false));
                }
            }
            ('H', "") => (self.row, self.col) = (0, 0),
            ('H', _) => {
                let (r, c) = params.split_once(';').expect("row;col");
                let (r, c): (usize, usize) = (r.parse().unwrap(), c.parse().unwrap());
                assert!(
                    (1..=self.rows).contains(&r) && (1..=self.cols).contains(&c),
                    "{params}"
                );
                (self.row, self.col) = (r - 1, c - 1);
            }
            ('K', "") => {
                let col = self.col.min(self.cols);
                self.cells[self.row][col..].fill((' ', self.inverse));
            }
            ('m', "7") => self.inverse = true,
            ('m', "0") => self.inverse = false,
            _ => panic!("unexpected sequence ESC [ {params} {final_char}"),
        }
    }
}

impl Terminal for Screen {
    fn write(&mut self, bytes: &[u8]) {
        self.written += bytes.len();
        self.last = bytes.to_vec();
        let text = std::str::from_utf8(bytes).expect("the editor writes UTF-8");
        let mut chars = text.chars();
        while let Some(ch) = chars.next() {
            if ch == '\x1b' {
                assert_eq!(chars.next(), Some('['), "only CSI sequences");
                let mut params = String::new();
                loop {
                    let c = chars.next().expect("complete sequence");
                    if c.is_ascii_digit() || c == ';' {
                        params.push(c);
                    } else {
                        self.sequence(&params, c);
                        break;
                    }
                }
                continue;
            }
            assert!(!ch.is_control(), "control character {ch:?} written");
            assert!(
                self.col < self.cols,
                "text past the right margin (would wrap)"
            );
            let last_cell = self.row == self.rows - 1 && self.col == self.cols - 1;
            assert!(!last_cell, "the bottom-right cell is never written");
            self.cells[self.row][self.col] = (ch, self.inverse);
            self.col += 1;
        }
    }
}

/// A store that records saves and fails while `fail` is set.
#[derive(Default)]
struct Store {
    saves: Vec<(String, Vec<u8>)>,
    fail: Option<&'static str>,
}

impl Storage for Store {
    fn save(&mut self, name: &str, bytes: &[u8]) -> Result<(), SaveError> {
        if let Some(reason) = self.fail {
            return Err(SaveError::new(reason));
        }
        self.saves.push((name.to_string(), bytes.to_vec()));
        Ok(())
    }
}

/// An editor on a fake screen with a fake store.
struct Fx {
    ed: Editor,
    screen: Screen,
    store: Store,
}

const ROWS: u16 = 8;
const COLS: u16 = 72;

impl Fx {
    fn open(text: &str) -> Fx {
        Fx::sized(text, 3072, ROWS, COLS)
    }

    fn sized(text: &str, max_bytes: usize, rows: u16, cols: u16) -> Fx {
        let view = Viewport { rows, cols };
        let ed = Editor::open("f.txt", text.as_bytes(), Limits { max_bytes }, view).unwrap();
        let mut fx = Fx {
            ed,
            screen: Screen::new(usize::from(rows.max(2)), usize::from(cols.max(1))),
            store: Store::default(),
        };
        fx.ed.render(&mut fx.screen);
        fx
    }

    /// Types `input`, lets the input go idle (a trailing ESC is a lone Escape), draws.
    fn keys(&mut self, input: &str) -> Outcome {
        self.bytes(input.as_bytes())
    }

    fn bytes(&mut self, input: &[u8]) -> Outcome {
        let mut outcome = self.ed.feed(input, &mut self.store);
        if self.ed.key_pending() {
            outcome = self.ed.key_timeout(&mut self.store);
        }
        self.ed.render(&mut self.screen);
        self.check_cursor();
        outcome
    }

    /// Escape (alone, then idle).
    fn esc(&mut self) -> Outcome {
        self.keys("\x1b")
    }

    fn lines(&self) -> Vec<String> {
        (0..self.ed.line_count())
            .map(|i| self.ed.line(i).unwrap().to_string())
            .collect()
    }

    fn at(&self) -> (usize, usize) {
        let p = self.ed.cursor();
        (p.line, p.col)
    }

    /// The cursor is within the text, per the mode's rule.
    fn check_cursor(&self) {
        let p = self.ed.cursor();
        let line = self.ed.line(p.line).expect("cursor on a line");
        let len = line.chars().count();
        match self.ed.mode() {
            Mode::Insert => assert!(p.col <= len),
            _ => assert!(p.col <= len.saturating_sub(1), "col {} len {len}", p.col),
        }
    }
}

// ---------------------------------------------------------------- opening and drawing

#[test]
fn open_draws_text_tildes_and_status() {
    let fx = Fx::open("hello\nworld\n");
    let text = fx.screen.text();
    assert_eq!(text[..3], ["hello", "world", "~"]);
    assert_eq!(text[6], "~");
    let status = fx.screen.status();
    assert!(status.starts_with("f.txt  \"f.txt\" 2L, 12B"), "{status}");
    assert!(status.ends_with("1:1"), "{status}");
    // The status line is in inverse video (but its last cell), the text is not.
    let last = usize::from(ROWS) - 1;
    assert!(fx.screen.cells[last][..usize::from(COLS) - 1]
        .iter()
        .all(|&(_, inv)| inv));
    assert!(fx.screen.cells[0].iter().all(|&(_, inv)| !inv));
    assert_eq!(fx.screen.cursor(), (0, 0));
}

#[test]
fn new_file_says_new() {
    let fx = Fx::open("");
    assert_eq!(fx.screen.text()[0], "");
    assert_eq!(fx.screen.text()[1], "~");
    assert!(fx.screen.status().contains("\"f.txt\" [New]"));
    assert!(!fx.ed.is_modified());
}

#[test]
fn non_utf8_and_too_large_files_are_refused() {
    let limits = Limits { max_bytes: 10 };
    let view = Viewport { rows: 5, cols: 20 };
    let err = Editor::open("b", b"ab\xffcd", limits, view).unwrap_err();
    assert_eq!(err, OpenError::NotUtf8 { valid_up_to: 2 });
    assert_eq!(err.to_string(), "not UTF-8 text (bad byte at offset 2)");
    let err = Editor::open("b", &[b'a'; 11], limits, view).unwrap_err();
    assert_eq!(err, OpenError::TooLarge { size: 11, max: 10 });
    assert!(Editor::open("b", &[b'a'; 10], limits, view).is_ok());
}

#[test]
fn files_come_back_byte_for_byte() {
    for text in ["", "a", "a\n", "a\nb", "a\n\nb\n\n", "x\r\ny\r\n", "é\tü"] {
        let fx = Fx::open(text);
        assert_eq!(fx.ed.text(), text.as_bytes(), "{text:?}");
    }
    // A carriage return and other control characters show as `?`, Tab as a space.
    let fx = Fx::open("x\r\na\tb\x01\n");
    assert_eq!(fx.screen.text()[..2], ["x?", "a b?"]);
}

#[test]
fn redraw_rewrites_only_changed_rows() {
    let mut fx = Fx::open("one\ntwo\nthree\n");
    fx.keys("j");
    // Only the status line changed (1:1 -> 2:1) and the cursor moved.
    let last = String::from_utf8(fx.screen.last.clone()).unwrap();
    assert!(!last.contains("\x1b[2J"));
    assert!(!last.contains("one") && !last.contains("three"), "{last:?}");
    assert!(last.contains("2:1"));
    assert_eq!(fx.screen.cursor(), (1, 0));
    // After redraw_all, everything is drawn again after a clear.
    fx.ed.redraw_all();
    fx.ed.render(&mut fx.screen);
    let last = String::from_utf8(fx.screen.last.clone()).unwrap();
    assert!(last.contains("\x1b[2J") && last.contains("three"));
}

#[test]
fn tiny_viewports_do_not_panic() {
    for (rows, cols) in [(0, 0), (1, 1), (2, 1), (2, 2), (3, 5), (4, 9)] {
        let mut fx = Fx::sized("a long first line\nsecond\n", 3072, rows, cols);
        fx.keys("$jllix\x1b:foo");
        fx.keys("\r/sec\rdd");
        assert!(fx.ed.mode() == Mode::Normal);
    }
}

#[test]
fn a_long_name_gives_way_to_the_message() {
    let view = Viewport { rows: 4, cols: 40 };
    let name = "a-very-long-file-name-for-a-small-screen.txt";
    let ed = Editor::open(name, b"x\n", Limits { max_bytes: 100 }, view).unwrap();
    let mut fx = Fx {
        ed,
        screen: Screen::new(4, 40),
        store: Store::default(),
    };
    fx.keys("x");
    fx.store.fail = Some("no space");
    fx.keys(":w\r");
    assert_eq!(
        fx.screen.status(),
        "[+]  save failed: no space          1:1"
    );
    // Without a message, the name is cut instead.
    fx.keys("0");
    assert_eq!(
        fx.screen.status(),
        "a-very-long-file-name-for-a-small-s 1:1"
    );
}

#[test]
fn ctrl_c_in_normal_mode_says_how_to_quit() {
    let mut fx = Fx::open("a\n");
    assert_eq!(fx.keys("\x03"), Outcome::Continue);
    assert!(fx
        .screen
        .status()
        .contains("Type :q! and Enter to quit without saving"));
}

// ---------------------------------------------------------------- moving

#[test]
fn hjkl_and_arrows_move_within_the_text() {
    let mut fx = Fx::open("abcd\nef\nghijk\n");
    fx.keys("lll");
    assert_eq!(fx.at(), (0, 3));
    fx.keys("l");
    assert_eq!(fx.at(), (0, 3), "l stops on the last character");
    fx.keys("j");
    assert_eq!(fx.at(), (1, 1), "a shorter line: on its last character");
    fx.keys("j");
    assert_eq!(fx.at(), (2, 3), "the column aimed for comes back");
    fx.keys("jjj");
    assert_eq!(fx.at(), (2, 3));
    fx.keys("hhhhhh");
    assert_eq!(fx.at(), (2, 0));
    fx.keys("kkkk");
    assert_eq!(fx.at(), (0, 0));
    fx.keys("\x1b[B\x1b[C\x1b[C");
    assert_eq!(fx.at(), (1, 1));
    fx.keys("\x1bOA\x1b[D");
    assert_eq!(fx.at(), (0, 0));
    assert_eq!(fx.screen.status().split_whitespace().last(), Some("1:1"));
    fx.keys("$");
    assert_eq!(fx.at(), (0, 3));
    fx.keys("j");
    assert_eq!(fx.at(), (1, 1));
    fx.keys("j");
    assert_eq!(fx.at(), (2, 4), "`$` sticks to the end of the line");
    fx.keys("0");
    assert_eq!(fx.at(), (2, 0));
    fx.keys("\x1b[F");
    assert_eq!(fx.at(), (2, 4));
    fx.keys("\x1b[H");
    assert_eq!(fx.at(), (2, 0));
    fx.keys("\x1b[4~");
    assert_eq!(fx.at(), (2, 4));
    fx.keys("\x1b[1~");
    assert_eq!(fx.at(), (2, 0));
    fx.keys("G");
    assert_eq!(fx.at(), (2, 0));
    assert_eq!(fx.screen.cursor(), (2, 0));
    assert!(!fx.ed.is_modified());
}

#[test]
fn scrolling_keeps_the_cursor_visible() {
    let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let mut fx = Fx::open(&text);
    let rows = usize::from(ROWS) - 1;
    assert_eq!(fx.screen.text()[rows - 1], format!("line {rows}"));
    fx.keys(&"j".repeat(rows));
    // One line down past the bottom: the view moved by one.
    assert_eq!(fx.screen.text()[0], "line 2");
    assert_eq!(fx.screen.text()[rows - 1], format!("line {}", rows + 1));
    assert_eq!(fx.screen.cursor(), (rows - 1, 0));
    fx.keys("G");
    assert_eq!(fx.screen.text()[rows - 1], "line 30");
    assert_eq!(fx.screen.text()[0], format!("line {}", 31 - rows));
    assert!(fx.screen.status().ends_with("30:1"));
    fx.keys(":1\r");
    assert_eq!(fx.screen.text()[0], "line 1");
    assert_eq!(fx.screen.cursor(), (0, 0));
    fx.keys(":15\r");
    assert_eq!(fx.at(), (14, 0));
    assert!(fx.screen.text().contains(&"line 15".to_string()));
}

#[test]
fn long_lines_are_cut_and_scroll_sideways() {
    let long: String = ('a'..='z').chain('A'..='Z').cycle().take(100).collect();
    let mut fx = Fx::open(&format!("{long}\nshort\n"));
    let cols = usize::from(COLS);
    assert_eq!(fx.screen.text()[0], long[..cols]);
    fx.keys("$");
    assert_eq!(fx.at(), (0, 99));
    // The view moved right by what the cursor needed: the end of the line at the right edge.
    assert_eq!(fx.screen.text()[0], long[100 - cols..]);
    assert_eq!(fx.screen.cursor(), (0, cols - 1));
    assert_eq!(fx.screen.text()[1], "", "`short` is left of the view");
    fx.keys("0");
    assert_eq!(fx.screen.text()[0], long[..cols]);
    assert_eq!(fx.screen.text()[1], "short");
}

// ---------------------------------------------------------------- inserting

#[test]
fn i_a_and_escape() {
    let mut fx = Fx::open("held\n");
    fx.keys("lli");
    assert_eq!(fx.ed.mode(), Mode::Insert);
    assert!(fx.screen.status().contains("-- INSERT --"));
    fx.keys("XY");
    assert_eq!(fx.lines(), ["heXYld"]);
    assert_eq!(fx.screen.cursor(), (0, 4));
    assert!(fx.screen.status().starts_with("f.txt [+]  -- INSERT --"));
    fx.esc();
    assert_eq!(fx.ed.mode(), Mode::Normal);
    assert_eq!(
        fx.at(),
        (0, 3),
        "Escape steps back onto the last character typed"
    );
    assert!(!fx.screen.status().contains("INSERT"));
    fx.keys("a!\x1b");
    assert_eq!(fx.lines(), ["heXY!ld"]);
    fx.keys("A.\x1b");
    assert_eq!(fx.lines(), ["heXY!ld."]);
    fx.keys("I>\x1b");
    assert_eq!(fx.lines(), [">heXY!ld."]);
    assert_eq!(fx.screen.text()[0], ">heXY!ld.");
    assert_eq!(fx.ed.text(), b">heXY!ld.\n");
}

#[test]
fn insert_mode_editing_keys() {
    let mut fx = Fx::open("abc\ndef\n");
    fx.keys("A\r12");
    assert_eq!(fx.lines(), ["abc", "12", "def"]);
    // Backspace twice: the "12"; a third joins with the line above.
    fx.keys("\x7f\x08\x7f");
    assert_eq!(fx.lines(), ["abc", "def"]);
    assert_eq!(fx.at(), (0, 3));
    // Delete at the end of a line joins the next one.
    fx.keys("\x1b[3~");
    assert_eq!(fx.lines(), ["abcdef"]);
    fx.keys("\x1b[D\x1b[D\x1b[3~");
    assert_eq!(fx.lines(), ["acdef"]);
    fx.keys("\x1b[H^\x1b[F$");
    assert_eq!(fx.lines(), ["^acdef$"]);
    // Ctrl-C leaves Insert mode like Escape.
    fx.keys("\x03");
    assert_eq!(fx.ed.mode(), Mode::Normal);
    // Enter as CR LF is one line break.
    fx.keys("o1\r\n2\x1b");
    assert_eq!(fx.lines(), ["^acdef$", "1", "2"]);
}

#[test]
fn o_and_capital_o_open_lines() {
    let mut fx = Fx::open("one\nthree\n");
    fx.keys("otwo\x1b");
    assert_eq!(fx.lines(), ["one", "two", "three"]);
    fx.keys("ggOzero\x1b");
    // `g` is not a command: `gg` did nothing, O opened above line 2.
    assert_eq!(fx.lines(), ["one", "zero", "two", "three"]);
    fx.keys(":1\rOtop\x1b");
    assert_eq!(fx.lines(), ["top", "one", "zero", "two", "three"]);
    assert_eq!(fx.screen.text()[..2], ["top", "one"]);
}

// ---------------------------------------------------------------- line commands

#[test]
fn x_deletes_under_the_cursor() {
    let mut fx = Fx::open("abc\n\n");
    fx.keys("lx");
    assert_eq!(fx.lines(), ["ac", ""]);
    fx.keys("x");
    assert_eq!(fx.lines(), ["a", ""]);
    assert_eq!(fx.at(), (0, 0), "the cursor steps back from the end");
    fx.keys("\x1b[3~");
    assert_eq!(fx.lines(), ["", ""]);
    let version = fx.ed.text();
    fx.keys("xjx");
    assert_eq!(fx.ed.text(), version, "x on an empty line does nothing");
    fx.keys("u");
    assert_eq!(fx.lines(), ["a", ""]);
}

#[test]
fn dd_yy_p_and_capital_p() {
    let mut fx = Fx::open("1\n2\n3\n");
    fx.keys("p");
    assert!(fx.screen.status().contains("Nothing in register"));
    fx.keys("yyp");
    assert_eq!(fx.lines(), ["1", "1", "2", "3"]);
    assert_eq!(fx.at(), (1, 0));
    fx.keys("jdd");
    assert_eq!(fx.lines(), ["1", "1", "3"]);
    assert_eq!(fx.at(), (2, 0));
    fx.keys("P");
    assert_eq!(fx.lines(), ["1", "1", "2", "3"]);
    assert_eq!(fx.at(), (2, 0));
    fx.keys("Gdd");
    assert_eq!(fx.lines(), ["1", "1", "2"]);
    assert_eq!(fx.at(), (2, 0), "deleting the last line moves up");
    // `d` then another key cancels; `dy` deletes nothing.
    fx.keys("dydj");
    assert_eq!(fx.lines(), ["1", "1", "2"]);
    fx.keys("dddddddd");
    assert_eq!(fx.lines(), [""]);
    assert_eq!(fx.ed.text(), b"");
    fx.keys("p");
    assert_eq!(fx.lines(), ["", "1"]);
    assert_eq!(fx.screen.text()[..3], ["", "1", "~"]);
}

#[test]
fn undo_steps_back_through_changes() {
    let mut fx = Fx::open("abc\n");
    fx.keys("ixyz\x1b");
    fx.keys("x");
    fx.keys("ddp");
    assert_eq!(fx.lines(), ["", "xyabc"]);
    fx.keys("u");
    assert_eq!(fx.lines(), [""]);
    fx.keys("u");
    assert_eq!(fx.lines(), ["xyabc"]);
    fx.keys("u");
    assert_eq!(fx.lines(), ["xyzabc"]);
    // The whole Insert session is one change.
    fx.keys("u");
    assert_eq!(fx.lines(), ["abc"]);
    assert!(!fx.ed.is_modified(), "back to the file as opened");
    assert!(!fx.screen.status().contains("[+]"));
    fx.keys("u");
    assert!(fx.screen.status().contains("Already at oldest change"));
    // An Insert session that typed nothing is not a change.
    fx.keys("ia\x1bi\x1bu");
    assert_eq!(fx.lines(), ["abc"]);
    // Moving is not a change either.
    fx.keys("x$0jku");
    assert_eq!(fx.lines(), ["abc"]);
}

#[test]
fn undo_keeps_the_last_levels_and_tracks_the_saved_state() {
    let mut fx = Fx::open("");
    for i in 0..UNDO_LEVELS + 4 {
        fx.keys(&format!("o{i}\x1b"));
    }
    for _ in 0..UNDO_LEVELS {
        fx.keys("u");
    }
    assert_eq!(fx.ed.line_count(), 5, "the 4 oldest changes stay");
    fx.keys("u");
    assert!(fx.screen.status().contains("Already at oldest change"));
    // Change, save, change, undo: the text is the saved one again.
    fx.keys("A!\x1b:w\r");
    assert!(!fx.ed.is_modified());
    fx.keys("A?\x1b");
    assert!(fx.ed.is_modified());
    fx.keys("u");
    assert!(!fx.ed.is_modified());
    // Undo past the save: modified again.
    fx.keys("u");
    assert!(fx.ed.is_modified());
}

// ---------------------------------------------------------------- searching

#[test]
fn search_forward_wraps_and_reports() {
    let mut fx = Fx::open("foo one\nbar\nfoo two\nbaz foo\n");
    fx.keys("/fo");
    assert_eq!(fx.ed.mode(), Mode::Search);
    assert_eq!(fx.screen.status(), "/fo");
    assert_eq!(fx.screen.cursor(), (usize::from(ROWS) - 1, 3));
    fx.keys("o\r");
    assert_eq!(fx.at(), (2, 0));
    assert_eq!(fx.ed.mode(), Mode::Normal);
    fx.keys("n");
    assert_eq!(fx.at(), (3, 4));
    fx.keys("n");
    assert_eq!(fx.at(), (0, 0));
    assert!(fx
        .screen
        .status()
        .contains("search hit BOTTOM, continuing at TOP"));
    fx.keys("n");
    assert_eq!(fx.at(), (2, 0));
    assert!(
        !fx.screen.status().contains("BOTTOM"),
        "a message lasts one key"
    );
    fx.keys("N");
    assert_eq!(fx.at(), (0, 0));
    fx.keys("N");
    assert_eq!(fx.at(), (3, 4));
    assert!(fx
        .screen
        .status()
        .contains("search hit TOP, continuing at BOTTOM"));
    // An empty pattern repeats the last one.
    fx.keys("/\r");
    assert_eq!(fx.at(), (0, 0));
    fx.keys("/nope\r");
    assert_eq!(fx.at(), (0, 0));
    assert!(fx.screen.status().contains("Pattern not found: nope"));
    // The only match is under the cursor: found again after wrapping.
    fx.keys("j/bar\r");
    assert_eq!(fx.at(), (1, 0));
    fx.keys("n");
    assert_eq!(fx.at(), (1, 0));
    assert!(!fx.ed.is_modified());
}

#[test]
fn search_prompt_editing() {
    let mut fx = Fx::open("abc\n");
    fx.keys("n");
    assert!(fx.screen.status().contains("No previous search pattern"));
    fx.keys("/xy\x7f\x7f\x7f");
    assert_eq!(
        fx.ed.mode(),
        Mode::Normal,
        "Backspace on an empty prompt leaves it"
    );
    fx.keys("/c");
    fx.esc();
    assert_eq!(fx.ed.mode(), Mode::Normal);
    assert_eq!(fx.at(), (0, 0), "Escape cancels the search");
    fx.keys(&format!("/{}", "c".repeat(PROMPT_MAX + 40)));
    assert!(fx.screen.status().starts_with("/ccc"));
    assert!(fx.screen.cursor().1 < usize::from(COLS));
    fx.keys("\r");
    assert!(fx.screen.status().contains("Pattern not found"));
}

#[test]
fn multibyte_search_lands_on_the_character() {
    let mut fx = Fx::open("añb ñc\n");
    fx.keys("/ñc\r");
    assert_eq!(fx.at(), (0, 4));
    assert_eq!(fx.screen.cursor(), (0, 4));
}

// ---------------------------------------------------------------- :w and :q

#[test]
fn w_saves_and_clears_modified() {
    let mut fx = Fx::open("a\n");
    fx.keys("ib\x1b");
    assert!(fx.screen.status().contains("[+]"));
    assert_eq!(fx.keys(":w\r"), Outcome::Continue);
    assert_eq!(fx.store.saves, [("f.txt".to_string(), b"ba\n".to_vec())]);
    assert!(!fx.ed.is_modified());
    let status = fx.screen.status();
    assert!(
        status.starts_with("f.txt  \"f.txt\" 1L, 3B written"),
        "{status}"
    );
    assert_eq!(fx.keys(":q\r"), Outcome::Quit(Exit::Unchanged));
}

#[test]
fn q_refuses_when_modified() {
    let mut fx = Fx::open("a\n");
    fx.keys("x");
    assert_eq!(fx.keys(":q\r"), Outcome::Continue);
    assert!(fx
        .screen
        .status()
        .contains("No write since last change (add ! to override)"));
    assert_eq!(fx.lines(), [""]);
    assert!(fx.store.saves.is_empty());
}

#[test]
fn q_bang_discards() {
    let mut fx = Fx::open("a\n");
    fx.keys("x");
    assert_eq!(fx.keys(":q!\r"), Outcome::Quit(Exit::Discarded));
    assert!(fx.store.saves.is_empty());
    // Unmodified, `:q!` is a plain quit.
    let mut fx = Fx::open("a\n");
    assert_eq!(fx.keys(":q!\r"), Outcome::Quit(Exit::Unchanged));
}

#[test]
fn wq_saves_then_quits_and_input_after_it_is_ignored() {
    let mut fx = Fx::open("a\n");
    assert_eq!(fx.keys("x:wq\rihello"), Outcome::Quit(Exit::Saved));
    assert_eq!(fx.store.saves, [("f.txt".to_string(), b"".to_vec())]);
    assert_eq!(fx.lines(), [""]);
    assert_eq!(fx.keys("ix"), Outcome::Quit(Exit::Saved));
    assert_eq!(fx.lines(), [""]);
    let mut fx = Fx::open("a\n");
    assert_eq!(fx.keys(":x\r"), Outcome::Quit(Exit::Saved));
    // Leaving the screen clean.
    Editor::leave_screen(&mut fx.screen);
    assert!(fx.screen.text().iter().all(String::is_empty));
    assert_eq!(fx.screen.cursor(), (0, 0));
}

#[test]
fn failed_save_keeps_buffer_and_modified() {
    let mut fx = Fx::open("a\n");
    fx.keys("ib\x1b");
    fx.store.fail = Some("disk full\nsecond line");
    assert_eq!(fx.keys(":w\r"), Outcome::Continue);
    let status = fx.screen.status();
    assert!(
        status.contains("save failed: disk full second line"),
        "{status}"
    );
    assert!(status.contains("[+]"));
    assert!(fx.ed.is_modified());
    assert_eq!(
        fx.keys(":wq\r"),
        Outcome::Continue,
        "no quitting after a failed save"
    );
    assert_eq!(fx.lines(), ["ba"]);
    assert_eq!(fx.keys(":q\r"), Outcome::Continue);
    fx.store.fail = None;
    assert_eq!(fx.keys(":wq\r"), Outcome::Quit(Exit::Saved));
    assert_eq!(fx.store.saves, [("f.txt".to_string(), b"ba\n".to_vec())]);
}

#[test]
fn other_commands() {
    let mut fx = Fx::open("a\nb\n");
    fx.keys(":frob\r");
    assert!(fx.screen.status().contains("Not an editor command: frob"));
    fx.keys(":\r");
    assert_eq!(fx.ed.mode(), Mode::Normal);
    fx.keys(":  2  \r");
    assert_eq!(fx.at(), (1, 0));
    fx.keys(":999\r");
    assert_eq!(fx.at(), (1, 0));
    fx.keys(":0\r");
    assert_eq!(fx.at(), (0, 0));
    fx.keys(":wq");
    assert_eq!(fx.screen.status(), ":wq");
    fx.esc();
    assert_eq!(fx.ed.mode(), Mode::Normal);
    assert!(fx.store.saves.is_empty());
    let mut ed = Editor::open(
        "",
        b"",
        Limits { max_bytes: 9 },
        Viewport { rows: 5, cols: 40 },
    )
    .unwrap();
    let mut store = Store::default();
    assert_eq!(ed.feed(b"ia\x1b:wq\r", &mut store), Outcome::Continue);
    assert_eq!(ed.message(), Some("No file name"));
}

// ---------------------------------------------------------------- the size limit

#[test]
fn edits_beyond_the_size_limit_are_refused() {
    // 6 bytes allowed: "abcd\n" is 5.
    let mut fx = Fx::sized("abcd\n", 6, ROWS, COLS);
    fx.keys("Ae");
    assert_eq!(fx.ed.text(), b"abcde\n");
    fx.keys("f");
    assert_eq!(fx.ed.text(), b"abcde\n");
    assert!(fx
        .screen
        .status()
        .contains("File full: the limit is 6 bytes"));
    fx.keys("\r");
    assert_eq!(fx.lines(), ["abcde"]);
    fx.keys("é");
    assert_eq!(fx.lines(), ["abcde"]);
    fx.keys("\x1byyp");
    assert_eq!(fx.lines(), ["abcde"]);
    fx.keys("o");
    assert_eq!(fx.ed.mode(), Mode::Normal, "o refused: no Insert mode");
    // Making room makes the edit possible again.
    fx.keys("xxo");
    assert_eq!(fx.ed.mode(), Mode::Insert);
    assert_eq!(fx.lines(), ["abc", ""]);
    fx.keys("z");
    assert_eq!(fx.ed.text(), b"abc\nz\n");
}

#[test]
fn the_empty_file_counts_its_first_newline() {
    let mut fx = Fx::sized("", 2, ROWS, COLS);
    fx.keys("ia");
    assert_eq!(fx.ed.text(), b"a\n");
    fx.keys("b");
    assert_eq!(fx.ed.text(), b"a\n");
    let mut fx = Fx::sized("", 0, ROWS, COLS);
    fx.keys("ia");
    assert_eq!(fx.ed.text(), b"");
    assert!(fx.screen.status().contains("File full"));
}

// ---------------------------------------------------------------- UTF-8

#[test]
fn multibyte_text_moves_by_character() {
    let mut fx = Fx::open("héllo wörld ☃\n");
    assert_eq!(fx.screen.text()[0], "héllo wörld ☃");
    fx.keys("l");
    assert_eq!(fx.at(), (0, 1));
    fx.keys("x");
    assert_eq!(fx.lines(), ["hllo wörld ☃"]);
    fx.keys("$");
    assert_eq!(fx.at(), (0, 11));
    assert_eq!(fx.screen.cursor(), (0, 11));
    assert!(fx.screen.status().ends_with("1:12"));
    fx.keys("x");
    assert_eq!(fx.lines(), ["hllo wörld "]);
    // Typed as UTF-8 bytes, split across feeds.
    let snowman = "☃".as_bytes();
    fx.bytes(b"a");
    fx.ed.feed(&snowman[..1], &mut fx.store);
    assert!(fx.ed.key_pending());
    fx.bytes(&snowman[1..]);
    fx.bytes("ß".as_bytes());
    assert_eq!(fx.lines(), ["hllo wörld ☃ß"]);
    assert_eq!(fx.at(), (0, 13));
    assert_eq!(fx.screen.cursor(), (0, 13));
    fx.keys("\x7f");
    assert_eq!(fx.lines(), ["hllo wörld ☃"]);
    fx.keys("\x1b0llllllx");
    assert_eq!(fx.lines(), ["hllo wrld ☃"]);
    assert_eq!(fx.ed.text(), "hllo wrld ☃\n".as_bytes());
}

#[test]
fn broken_utf8_input_is_dropped() {
    let mut fx = Fx::open("");
    // A lone continuation byte, a cut character, an invalid lead, a surrogate.
    fx.bytes(b"i\x80a\xc3b\xffc\xed\xa0\x80d");
    assert_eq!(fx.lines(), ["abcd"]);
}

// ---------------------------------------------------------------- key decoding

fn decode(bytes: &[u8]) -> Vec<Key> {
    let mut d = KeyDecoder::new();
    let mut keys: Vec<Key> = bytes.iter().flat_map(|&b| d.feed(b)).collect();
    keys.extend(d.timeout());
    keys
}

#[test]
fn key_sequences() {
    use Key::*;
    assert_eq!(
        decode(b"\x1b[A\x1b[B\x1b[C\x1b[D\x1bOA\x1bOD"),
        [Up, Down, Right, Left, Up, Left]
    );
    assert_eq!(
        decode(b"\x1b[H\x1b[F\x1b[1~\x1b[4~\x1b[7~\x1b[8~\x1b[3~\x1bOH\x1bOF"),
        [Home, End, Home, End, Home, End, Delete, Home, End]
    );
    assert_eq!(
        decode(b"\x7f\x08\r\n\r\r\n\n\x03\t"),
        [
            Backspace,
            Backspace,
            Enter,
            Enter,
            Enter,
            Enter,
            Interrupt,
            Char('\t')
        ]
    );
    // Unknown sequences vanish; parameters after the first do not change the key.
    assert_eq!(
        decode(b"\x1b[15~\x1b[5~\x1b[1;5C\x1b[2;3~x"),
        [Right, Char('x')]
    );
    // Escape then a key that cannot continue a sequence: both keys.
    assert_eq!(decode(b"\x1bx"), [Esc, Char('x')]);
    assert_eq!(decode(b"\x1b\x1b[A"), [Esc, Up]);
    assert_eq!(decode(b"\x1bOx"), [Esc, Char('O'), Char('x')]);
    assert_eq!(decode(b"\x1b[\rz"), [Enter, Char('z')]);
    // Other control characters are ignored.
    assert_eq!(decode(b"\x00\x01\x07\x1fq"), [Char('q')]);
}

#[test]
fn lone_escape_waits_for_the_timeout() {
    let mut d = KeyDecoder::new();
    assert_eq!(d.feed(0x1b).count(), 0);
    assert!(d.is_pending());
    assert_eq!(d.timeout().collect::<Vec<_>>(), [Key::Esc]);
    assert!(!d.is_pending());
    assert_eq!(d.timeout().count(), 0);
    // `ESC O` then idle: Escape, then `O` (open a line above), as typed.
    d.feed(0x1b);
    d.feed(b'O');
    assert_eq!(d.timeout().collect::<Vec<_>>(), [Key::Esc, Key::Char('O')]);
    // A cut sequence is an Escape.
    d.feed(0x1b);
    d.feed(b'[');
    d.feed(b'1');
    assert_eq!(d.timeout().collect::<Vec<_>>(), [Key::Esc]);
    // A cut UTF-8 character is dropped.
    d.feed(0xe2);
    assert!(d.is_pending());
    assert_eq!(d.timeout().count(), 0);

    // In the editor: Escape is not taken until the timeout.
    let mut fx = Fx::open("ab\n");
    let mut store = Store::default();
    fx.ed.feed(b"ix\x1b", &mut store);
    assert_eq!(fx.ed.mode(), Mode::Insert);
    assert!(fx.ed.key_pending());
    fx.ed.key_timeout(&mut store);
    assert_eq!(fx.ed.mode(), Mode::Normal);
    // Escape then `O` typed quickly, then idle: Escape, then open a line above.
    fx.ed.feed(b"O", &mut store);
    assert_eq!(fx.ed.mode(), Mode::Insert);
    fx.ed.feed(b"y\x1bO", &mut store);
    assert!(fx.ed.key_pending());
    fx.ed.key_timeout(&mut store);
    assert_eq!(fx.ed.mode(), Mode::Insert);
    fx.ed.feed(b"z\x1b", &mut store);
    fx.ed.key_timeout(&mut store);
    assert_eq!(fx.lines(), ["z", "y", "xab"]);
    fx.ed.feed(b"G0", &mut store);
    // A sequence split across feeds is still one key.
    fx.ed.feed(b"\x1b", &mut store);
    fx.ed.feed(b"[", &mut store);
    fx.ed.feed(b"C", &mut store);
    assert_eq!(fx.ed.cursor(), Position { line: 2, col: 1 });
    assert!(!fx.ed.key_pending());
}

#[test]
fn keys_can_be_given_decoded() {
    let mut fx = Fx::open("ab\n");
    let mut store = Store::default();
    for key in [
        Key::Char('A'),
        Key::Char('c'),
        Key::Esc,
        Key::Char(':'),
        Key::Char('w'),
        Key::Enter,
    ] {
        assert_eq!(fx.ed.key(key, &mut store), Outcome::Continue);
    }
    assert_eq!(store.saves, [("f.txt".to_string(), b"abc\n".to_vec())]);
}

// ---------------------------------------------------------------- fuzz

/// In Normal and Insert mode, the terminal's cursor is on the cursor's character.
fn check_screen_cursor(fx: &Fx) {
    if !matches!(fx.ed.mode(), Mode::Normal | Mode::Insert) {
        return;
    }
    let p = fx.ed.cursor();
    let ch = fx
        .ed
        .line(p.line)
        .unwrap()
        .chars()
        .nth(p.col)
        .unwrap_or(' ');
    let ch = match ch {
        '\t' => ' ',
        c if c.is_control() => '?',
        c => c,
    };
    let (r, c) = fx.screen.cursor();
    let on_screen = fx.screen.cells[r].get(c).map_or(' ', |&(ch, _)| ch);
    assert_eq!(on_screen, ch, "cursor {p:?} at screen {r},{c}");
}

#[test]
fn random_keys_never_panic() {
    // Mostly commands and keys that matter, some raw bytes; small files so that edits meet
    // the size limit; a store that fails now and then; viewports of several sizes.
    let pieces: &[&str] = &[
        "h", "j", "k", "l", "i", "a", "A", "I", "o", "O", "x", "dd", "yy", "p", "P", "u", "0", "$",
        "G", "n", "N", "/a\r", "/é\r", "/zz\r", ":w\r", ":q\r", ":1\r", ":3\r", "\x1b", "\r",
        "\x7f", "\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D", "\x1b[H", "\x1b[F", "\x1b[3~", "\x1b[1~",
        "\x03", "é", "☃", "ab", " ", "\t", "d", "y", ":", "/", "\x1bO", "\x1b[",
    ];
    let mut x: u32 = 0x2545_f491;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut fx = Fx::sized("a\nbé\n", 64, 6, 12);
    for round in 0..40_000u32 {
        let r = next();
        let outcome = if r % 16 == 0 {
            let raw = [(r >> 8) as u8, (r >> 16) as u8, (r >> 24) as u8];
            let mut out = fx.ed.feed(&raw, &mut fx.store);
            if r % 3 == 0 {
                out = fx.ed.key_timeout(&mut fx.store);
            }
            fx.ed.render(&mut fx.screen);
            fx.check_cursor();
            out
        } else {
            let piece = pieces[(r >> 8) as usize % pieces.len()];
            fx.store.fail = if r % 7 == 0 { Some("flaky") } else { None };
            fx.keys(piece)
        };
        check_screen_cursor(&fx);
        assert!(fx.ed.text().len() <= 64, "the size limit holds");
        if let Outcome::Quit(_) = outcome {
            let (rows, cols) = [(6, 12), (3, 4), (24, 80), (2, 1)][(round % 4) as usize];
            let text = String::from_utf8(fx.ed.text()).unwrap();
            fx = Fx::sized(&text, 64, rows, cols);
        }
    }
}
