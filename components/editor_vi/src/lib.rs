//! PandaGen's vi-like modal text editor, without any I/O, so that it runs on the host in tests.
//!
//! `services_editor_vi` owns the I/O: it reads the file, makes an [`Editor`], feeds it the
//! bytes typed on the terminal (and [`Editor::key_timeout`] when the input goes idle, so that
//! a lone Escape takes effect), draws it through a [`Terminal`] after each batch of input, and
//! saves through a [`Storage`] (`storage_api`). The same code draws on the serial terminal and
//! on the on-screen console: it only emits the VT100 subset listed in [`render`].
//!
//! ```
//! use editor_vi::{Editor, Limits, Outcome, SaveError, Storage, Terminal, Viewport};
//!
//! struct Store;
//! impl Storage for Store {
//!     fn save(&mut self, _name: &str, _bytes: &[u8]) -> Result<(), SaveError> {
//!         Ok(())
//!     }
//! }
//! struct Term(Vec<u8>);
//! impl Terminal for Term {
//!     fn write(&mut self, bytes: &[u8]) {
//!         self.0.extend_from_slice(bytes);
//!     }
//! }
//!
//! let limits = Limits { max_bytes: 3072 };
//! let view = Viewport { rows: 24, cols: 80 };
//! let mut ed = Editor::open("notes.txt", b"hello\n", limits, view).expect("UTF-8 text");
//! let (mut store, mut term) = (Store, Term(Vec::new()));
//! ed.render(&mut term);
//! // The component loop: bytes as they arrive, a timeout when the input is idle.
//! for input in [&b"A world"[..], b"\x1b", b":wq\r"] {
//!     let mut outcome = ed.feed(input, &mut store);
//!     if ed.key_pending() {
//!         // ...no byte for ~50 ms:
//!         outcome = ed.key_timeout(&mut store);
//!     }
//!     match outcome {
//!         Outcome::Continue => ed.render(&mut term),
//!         Outcome::Quit(exit) => {
//!             Editor::leave_screen(&mut term);
//!             println!("editor exited: {exit:?}");
//!         }
//!     }
//! }
//! assert_eq!(ed.text(), b"hello world\n");
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod buffer;
mod cmdline;
mod editor;
mod insert;
pub mod key;
mod normal;
pub mod render;

#[cfg(test)]
mod tests;

use alloc::string::String;
use core::fmt;

pub use editor::Editor;
pub use key::{Key, KeyDecoder};
pub use render::Terminal;

/// How many changes [`Editor`] can undo (`u`); older ones are forgotten.
pub const UNDO_LEVELS: usize = 16;

/// The longest `:` command or `/` pattern, in characters (more typing is ignored).
pub const PROMPT_MAX: usize = 128;

/// Limits given by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file the store accepts, in bytes: a larger file is not opened, and an edit
    /// that would make the text larger is refused with a message.
    pub max_bytes: usize,
}

/// The terminal's size, in character cells. The last row is the status line; the editor
/// works with anything from 2 x 1 on (smaller sizes are taken as that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Viewport {
    /// Rows, the status line included.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// The editor's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Commands (`h`, `dd`, `p`, ...).
    Normal,
    /// Typing text (`-- INSERT --`).
    Insert,
    /// Typing a `:` command on the status line.
    Command,
    /// Typing a `/` search pattern on the status line.
    Search,
}

/// A position in the text: line and character in it, both from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 0.
    pub line: usize,
    /// The character in the line (not the byte), from 0.
    pub col: usize,
}

/// What the caller does after feeding input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep going: draw ([`Editor::render`]) and feed more input.
    Continue,
    /// The editor quit; it takes no more input.
    Quit(Exit),
}

/// How the editor quit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `:wq` or `:x`: the text was saved, then the editor quit.
    Saved,
    /// `:q` (or `:q!`) with no change since the file was opened or last saved.
    Unchanged,
    /// `:q!`: unsaved changes were thrown away.
    Discarded,
}

/// Why a file cannot be edited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The file is not UTF-8 text: the editor refuses it rather than change it on save.
    NotUtf8 {
        /// How many bytes from the start are valid UTF-8.
        valid_up_to: usize,
    },
    /// The file is larger than [`Limits::max_bytes`].
    TooLarge {
        /// The file's size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotUtf8 { valid_up_to } => {
                write!(f, "not UTF-8 text (bad byte at offset {valid_up_to})")
            }
            OpenError::TooLarge { size, max } => {
                write!(f, "too large ({size} bytes, max {max})")
            }
        }
    }
}

/// Why a save failed: one line of text, shown as `save failed: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveError {
    reason: String,
}

impl SaveError {
    /// A failure for `reason`; control characters in it become spaces (it stays one line).
    pub fn new(reason: &str) -> Self {
        let reason = reason
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        SaveError { reason }
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Where `:w` writes: `services_editor_vi` implements it with `storage_api`.
pub trait Storage {
    /// Replaces file `name`'s contents with `bytes`, durably.
    fn save(&mut self, name: &str, bytes: &[u8]) -> Result<(), SaveError>;
}
