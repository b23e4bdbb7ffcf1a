//! `editor_session`: what `services_editor_vi` does with an `editor_api` request
//! ([`protocol::editor`]), without the IPC.
//!
//! The console owns the terminal and forwards it: `Open` loads the file through `storage_api`
//! (a missing file opens empty, as a new one) and makes an [`editor_vi::Editor`]; `Keys` feeds
//! it the bytes typed, `Idle` tells it the input went idle (a lone Escape), and each reply
//! carries what to write to the terminal — at most [`MAX_OUTPUT`] bytes, the rest on `More`.
//! `:w` saves through `storage_api` (`Open` write + create + truncate, `Write` in chunks,
//! `Close`, which makes it durable); a failure keeps the buffer and the status line says
//! `save failed: <reason>`. When the editor quits, the screen is cleared and the last reply
//! carries the [`Exit`]; the session is over.
//!
//! One session at a time (the console is the one terminal): `Open` from another caller while
//! a session is open is `Busy`; `Open` from the same caller replaces its session.
//!
//! Files up to [`MAX_FILE_BYTES`]: pgfs itself takes files of up to 2^60 bytes, so the limit
//! is the editor's own, chosen so that the text, its 16 undo snapshots and the save fit the
//! service's memory (`memory_limit`, 64 MiB by default) many times over.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod store;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use editor_vi::{Editor, Limits, Outcome, Viewport};
use protocol::editor::{EditorError, Exit, Request, Response, Screen, MAX_OUTPUT};

pub use store::Store;

/// The largest file the editor opens or saves, in bytes (256 KiB).
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The terminal size used when `Open` gives 0 rows or columns (a serial terminal cannot tell
/// its size: the console sends this one).
pub const DEFAULT_VIEW: Viewport = Viewport { rows: 24, cols: 80 };

/// One editing session.
struct Session {
    /// The component that opened it (the only one that may drive it).
    owner: String,
    editor: Editor,
    /// Terminal output not yet sent.
    output: Vec<u8>,
    /// How much of `output` was sent.
    sent: usize,
    /// The editor quit: the session ends once `output` is all sent.
    exit: Option<Exit>,
}

/// The service's state: at most one session.
#[derive(Default)]
pub struct Service {
    session: Option<Session>,
}

/// A failure and its one line.
struct Fail(EditorError, String);

impl Service {
    /// A service without a session.
    pub fn new() -> Service {
        Service::default()
    }

    /// Whether a session is open.
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Answers one request from `caller` into `reply` (at least
    /// [`protocol::editor::MAX_REPLY`] bytes); returns the reply length. Never panics.
    pub fn serve(
        &mut self,
        caller: &str,
        request: &[u8],
        reply: &mut [u8],
        store: &mut impl Store,
    ) -> usize {
        let result = match Request::decode(request) {
            Ok(req) => self.answer(caller, req, store),
            Err(e) => Err(Fail(
                EditorError::BadRequest,
                alloc::format!("editor_api: {e}"),
            )),
        };
        match result {
            Ok(Some(())) => self.screen(reply),
            Ok(None) => Response::Closed.encode(reply).unwrap_or(0),
            Err(Fail(e, why)) => Response::Err(e, &why).encode(reply).unwrap_or(0),
        }
    }

    /// Runs a request; `Some` when a `Screen` follows, `None` for `Closed`.
    fn answer(
        &mut self,
        caller: &str,
        req: Request<'_>,
        store: &mut impl Store,
    ) -> Result<Option<()>, Fail> {
        if let Request::Open { rows, cols, name } = req {
            if self.session.as_ref().is_some_and(|s| s.owner != caller) {
                return Err(Fail(
                    EditorError::Busy,
                    String::from("the editor is in use by another component"),
                ));
            }
            self.session = None;
            self.session = Some(open(caller, name, rows, cols, store)?);
            return Ok(Some(()));
        }
        let Some(s) = self.session.as_mut().filter(|s| s.owner == caller) else {
            return Err(Fail(
                EditorError::NoSession,
                String::from("no editing session: send Open first"),
            ));
        };
        let mut saver = store::Saver(store);
        match req {
            Request::Keys(bytes) if s.exit.is_none() => {
                let outcome = s.editor.feed(bytes, &mut saver);
                s.draw(outcome);
            }
            Request::Idle if s.exit.is_none() => {
                let outcome = s.editor.key_timeout(&mut saver);
                s.draw(outcome);
            }
            Request::Abort => {
                self.session = None;
                return Ok(None);
            }
            // `More`, or input after the quit while output is still waiting: the rest.
            _ => {}
        }
        Ok(Some(()))
    }

    /// The next `Screen` reply of the session; ends the session after its last output.
    fn screen(&mut self, reply: &mut [u8]) -> usize {
        let Some(s) = self.session.as_mut() else {
            return 0;
        };
        let end = s.output.len().min(s.sent + MAX_OUTPUT);
        let more = end < s.output.len();
        let exit = if more { None } else { s.exit };
        let n = Response::Screen(Screen {
            output: &s.output[s.sent..end],
            key_pending: !more && exit.is_none() && s.editor.key_pending(),
            more,
            exit,
        })
        .encode(reply)
        .unwrap_or(0);
        s.sent = end;
        if !more {
            s.output.clear();
            s.sent = 0;
            if exit.is_some() {
                self.session = None;
            }
        }
        n
    }
}

impl Session {
    /// Draws after input: the changes, or the clean screen after a quit.
    fn draw(&mut self, outcome: Outcome) {
        let mut term = Output(&mut self.output);
        match outcome {
            Outcome::Continue => self.editor.render(&mut term),
            Outcome::Quit(exit) => {
                Editor::leave_screen(&mut term);
                self.exit = Some(match exit {
                    editor_vi::Exit::Saved => Exit::Saved,
                    editor_vi::Exit::Unchanged => Exit::Unchanged,
                    editor_vi::Exit::Discarded => Exit::Discarded,
                });
            }
        }
    }
}

/// Collects the editor's drawing.
struct Output<'a>(&'a mut Vec<u8>);

impl editor_vi::Terminal for Output<'_> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Loads `name` and starts a session on it, drawn once.
fn open(
    caller: &str,
    name: &str,
    rows: u16,
    cols: u16,
    store: &mut impl Store,
) -> Result<Session, Fail> {
    let view = if rows == 0 || cols == 0 {
        DEFAULT_VIEW
    } else {
        Viewport { rows, cols }
    };
    let cannot = |why: &dyn core::fmt::Display| {
        let mut line = String::new();
        let _ = write!(line, "{name}: {why}");
        Fail(EditorError::CannotOpen, line)
    };
    let bytes = store::load(store, name, MAX_FILE_BYTES).map_err(|e| cannot(&e))?;
    let limits = Limits {
        max_bytes: MAX_FILE_BYTES,
    };
    let editor = Editor::open(name, &bytes, limits, view).map_err(|e| cannot(&e))?;
    let mut s = Session {
        owner: String::from(caller),
        editor,
        output: Vec::new(),
        sent: 0,
        exit: None,
    };
    s.draw(Outcome::Continue);
    Ok(s)
}

#[cfg(test)]
mod tests;
