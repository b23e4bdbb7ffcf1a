//! The status-line prompts: `:` commands (`w`, `q`, `q!`, `wq`, `x`, a line number) and `/`
//! searches (forward, wrapping around the end; `n`/`N` repeat it).

use alloc::format;
use alloc::string::String;

use crate::buffer::{byte_of, char_of};
use crate::editor::Editor;
use crate::key::Key;
use crate::{Exit, Mode, Storage, PROMPT_MAX};

/// Shown by `:q` when the text has unsaved changes.
pub(crate) const NOT_SAVED: &str = "No write since last change (add ! to override)";

impl Editor {
    /// One key while a `:` command or `/` pattern is typed.
    pub(crate) fn prompt_key(&mut self, key: Key, storage: &mut impl Storage) {
        match key {
            Key::Char(ch) if !ch.is_control() && self.prompt.chars().count() < PROMPT_MAX => {
                self.prompt.push(ch);
            }
            // Backspace on an empty prompt leaves it, as in vi.
            Key::Backspace if self.prompt.pop().is_none() => self.mode = Mode::Normal,
            Key::Esc | Key::Interrupt => self.mode = Mode::Normal,
            Key::Enter => {
                let text = core::mem::take(&mut self.prompt);
                let searching = self.mode == Mode::Search;
                self.mode = Mode::Normal;
                if searching {
                    self.search(text);
                } else {
                    self.run_command(text.trim(), storage);
                }
            }
            _ => {}
        }
    }

    /// Runs the `:` command `cmd`.
    fn run_command(&mut self, cmd: &str, storage: &mut impl Storage) {
        match cmd {
            "" => {}
            "w" => {
                self.write(storage);
            }
            "q" if self.is_modified() => self.say(String::from(NOT_SAVED)),
            "q" => self.quit(Exit::Unchanged),
            "q!" if self.is_modified() => self.quit(Exit::Discarded),
            "q!" => self.quit(Exit::Unchanged),
            "wq" | "x" => {
                if self.write(storage) {
                    self.quit(Exit::Saved);
                }
            }
            _ => match cmd.parse::<usize>() {
                Ok(line) => {
                    self.row = line.saturating_sub(1).min(self.buf.len().saturating_sub(1));
                    self.goto_col(0);
                }
                Err(_) => self.say(format!("Not an editor command: {cmd}")),
            },
        }
    }

    /// Saves the text; says how it went. Returns whether it was saved.
    fn write(&mut self, storage: &mut impl Storage) -> bool {
        if self.name.is_empty() {
            self.say(String::from("No file name"));
            return false;
        }
        let bytes = self.buf.to_bytes();
        match storage.save(&self.name, &bytes) {
            Ok(()) => {
                self.mark_saved();
                let lines = if bytes.is_empty() { 0 } else { self.buf.len() };
                self.say(format!(
                    "\"{}\" {lines}L, {}B written",
                    self.name,
                    bytes.len()
                ));
                true
            }
            Err(e) => {
                self.say(format!("save failed: {e}"));
                false
            }
        }
    }

    /// `/pattern` Enter: remembers the pattern (an empty one repeats the last) and searches
    /// forward.
    fn search(&mut self, pattern: String) {
        if !pattern.is_empty() {
            self.last_search = Some(pattern);
        }
        self.search_again(true);
    }

    /// `n` (`forward`) / `N`: the next match of the last pattern, wrapping around.
    pub(crate) fn search_again(&mut self, forward: bool) {
        let Some(pattern) = self.last_search.clone() else {
            self.say(String::from("No previous search pattern"));
            return;
        };
        let found = if forward {
            self.find_forward(&pattern)
        } else {
            self.find_backward(&pattern)
        };
        match found {
            Some((row, col, wrapped)) => {
                self.row = row;
                self.goto_col(col);
                if wrapped {
                    let text = if forward {
                        "search hit BOTTOM, continuing at TOP"
                    } else {
                        "search hit TOP, continuing at BOTTOM"
                    };
                    self.say(String::from(text));
                }
            }
            None => self.say(format!("Pattern not found: {pattern}")),
        }
    }

    /// The first match after the cursor: line, character, and whether the search wrapped.
    fn find_forward(&self, pattern: &str) -> Option<(usize, usize, bool)> {
        let n = self.buf.len();
        let here = self.buf.line(self.row);
        let after = byte_of(here, self.col + 1);
        // The rest of this line, every other line, then this line again from its start.
        (0..=n).find_map(|i| {
            let row = (self.row + i) % n;
            let line = self.buf.line(row);
            let from = if i == 0 { after } else { 0 };
            let at = from + line.get(from..)?.find(pattern)?;
            Some((row, char_of(line, at), self.row + i >= n))
        })
    }

    /// The last match before the cursor: line, character, and whether the search wrapped.
    fn find_backward(&self, pattern: &str) -> Option<(usize, usize, bool)> {
        let n = self.buf.len();
        let before = byte_of(self.buf.line(self.row), self.col);
        (0..=n).find_map(|i| {
            let row = (self.row + n - i % n) % n;
            let line = self.buf.line(row);
            let limit = if i == 0 { before } else { line.len() + 1 };
            let at = line
                .match_indices(pattern)
                .map(|(at, _)| at)
                .filter(|&at| at < limit)
                .last()?;
            Some((row, char_of(line, at), i > self.row))
        })
    }
}
