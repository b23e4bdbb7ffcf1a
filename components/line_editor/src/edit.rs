//! `edit <file>`: an editing session with `services_editor_vi` over `editor_api`
//! ([`protocol::editor`]), the console forwarding its terminal.
//!
//! An IPC call times out after 5 s, so the session is not one call: the console opens it
//! (`Open` with the terminal's size, [`ROWS`] x [`COLS`]: a serial terminal cannot tell its
//! size), then polls the terminal and sends every batch of bytes typed as `Keys`, writing each
//! reply's output to the terminal as it is (`More` fetches the rest of a long one). When a
//! reply says a key is pending (a lone Escape) and nothing is typed for
//! [`IDLE_MS`](protocol::editor::IDLE_MS), it sends `Idle`. When the editor quits, the console
//! prints one line — `edit: saved notes.txt`, `edit: notes.txt unchanged` or
//! `edit: discarded changes to notes.txt`, after a line end (the editor's output has none, so
//! in a serial transcript the session is one line and this the next) — and shows its prompt
//! again. A file the editor
//! cannot open is one error line, `error: edit <file>: <reason>`, and no session; an editor
//! that stops answering mid-session is one error line too (the screen is cleared first).

use core::fmt::{self, Write};

use abi::Error;
use protocol::editor::{
    EditorError, Exit, Request, Response, Screen, IDLE_MS, MAX_KEYS, MAX_REPLY, MAX_REQUEST,
};

use crate::shell::System;

/// The terminal rows the editor is opened with.
pub const ROWS: u16 = 24;
/// The terminal columns the editor is opened with.
pub const COLS: u16 = 80;
/// What the console writes to leave a clean screen when the editor could not do it.
const LEAVE_SCREEN: &[u8] = b"\x1b[0m\x1b[2J\x1b[H";
/// The most bytes read from the terminal at a time (at most [`MAX_KEYS`]).
const INPUT: usize = 256;
const _: () = assert!(INPUT <= MAX_KEYS);

/// Why a session ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// The IPC call failed.
    Ipc(Error),
    /// The editor answered with an error.
    Editor(EditorError),
    /// The reply could not be decoded or was the wrong one.
    BadReply,
    /// The terminal failed.
    Terminal(Error),
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Ipc(Error::NotFound) => f.write_str("editor service not running"),
            Broken::Ipc(e) => write!(f, "editor service: {e}"),
            Broken::Editor(e) => write!(f, "{e}"),
            Broken::BadReply => f.write_str("bad reply from editor service"),
            Broken::Terminal(e) => write!(f, "terminal: {e}"),
        }
    }
}

/// What one reply (and the `More`s after it) left the session in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Going on; whether a key is pending.
    Open { key_pending: bool },
    /// The editor quit.
    Done(Exit),
}

/// Runs `edit file` to its end; its one closing line (or error line) goes to `out`.
pub fn run(sys: &mut impl System, file: &str, out: &mut impl Write) -> fmt::Result {
    let mut reply = [0u8; MAX_REPLY];
    let open = Request::Open {
        rows: ROWS,
        cols: COLS,
        name: file,
    };
    let mut message = Message::of("");
    let mut state = match exchange(sys, &open, &mut reply, &mut message) {
        Ok(state) => state,
        // The file cannot be edited: the editor's message names it.
        Err(Broken::Editor(EditorError::CannotOpen)) => {
            return write!(out, "error: edit {message}\r\n");
        }
        Err(why) => return write!(out, "error: edit {file}: {why}\r\n"),
    };
    let mut input = [0u8; INPUT];
    let mut last_input = sys.uptime().unwrap_or(0);
    let result = loop {
        let key_pending = match state {
            State::Done(exit) => break Ok(exit),
            State::Open { key_pending } => key_pending,
        };
        let n = match sys.terminal_read(&mut input) {
            Ok(n) => n.min(INPUT),
            Err(e) => break Err(Broken::Terminal(e)),
        };
        let now = sys.uptime().unwrap_or(0);
        let req = if n > 0 {
            last_input = now;
            Request::Keys(&input[..n])
        } else if key_pending && now.saturating_sub(last_input) >= IDLE_MS * 1000 {
            last_input = now;
            Request::Idle
        } else {
            sys.pause();
            continue;
        };
        match exchange(sys, &req, &mut reply, &mut message) {
            Ok(next) => state = next,
            Err(why) => break Err(why),
        }
    };
    // The editor's output positions the cursor and never ends a line: end the session's line
    // so that the closing line is a line of its own in a serial transcript too.
    out.write_str("\r\n")?;
    match result {
        Ok(Exit::Saved) => write!(out, "edit: saved {file}\r\n"),
        Ok(Exit::Unchanged) => write!(out, "edit: {file} unchanged\r\n"),
        Ok(Exit::Discarded) => write!(out, "edit: discarded changes to {file}\r\n"),
        Err(why) => {
            // Leave the screen usable and the editor free.
            let _ = sys.terminal_write(LEAVE_SCREEN);
            let _ = call(sys, &Request::Abort, &mut reply);
            write!(out, "error: edit {file}: {why}\r\n")
        }
    }
}

/// Sends `req`, writes the output of its reply (and of the `More`s it calls for) to the
/// terminal; the session's state after it. When the editor answers with an error, its
/// message is copied into `message`.
fn exchange(
    sys: &mut impl System,
    req: &Request<'_>,
    reply: &mut [u8; MAX_REPLY],
    message: &mut Message,
) -> Result<State, Broken> {
    let mut req = *req;
    loop {
        let screen = match call(sys, &req, reply) {
            Ok(Response::Screen(screen)) => screen,
            Ok(Response::Err(e, why)) => {
                *message = Message::of(why);
                return Err(Broken::Editor(e));
            }
            Ok(Response::Closed) => return Err(Broken::BadReply),
            Err(why) => return Err(why),
        };
        let Screen {
            output,
            key_pending,
            more,
            exit,
        } = screen;
        sys.terminal_write(output).map_err(Broken::Terminal)?;
        if !more {
            return Ok(match exit {
                Some(exit) => State::Done(exit),
                None => State::Open { key_pending },
            });
        }
        req = Request::More;
    }
}

/// One `editor_api` round trip.
fn call<'r>(
    sys: &mut impl System,
    req: &Request<'_>,
    reply: &'r mut [u8; MAX_REPLY],
) -> Result<Response<'r>, Broken> {
    let mut msg = [0u8; MAX_REQUEST];
    let n = req.encode(&mut msg).map_err(|_| Broken::BadReply)?;
    let len = sys.editor_call(&msg[..n], reply).map_err(Broken::Ipc)?;
    Response::decode(&reply[..len.min(MAX_REPLY)]).map_err(|_| Broken::BadReply)
}

/// An error message from the editor, kept after its reply buffer is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message {
    buf: [u8; protocol::editor::MAX_ERROR_MESSAGE],
    len: usize,
}

impl Message {
    fn of(why: &str) -> Message {
        let mut m = Message {
            buf: [0; protocol::editor::MAX_ERROR_MESSAGE],
            len: why.len().min(protocol::editor::MAX_ERROR_MESSAGE),
        };
        m.buf[..m.len].copy_from_slice(&why.as_bytes()[..m.len]);
        m
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line whatever the editor sent: control characters are escaped.
        crate::shell::write_text(f, &self.buf[..self.len])
    }
}
