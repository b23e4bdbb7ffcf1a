//! `editor_api`: the session protocol between the console (`cli_console`, which owns the
//! terminal) and the editor (`services_editor_vi`, which owns the text).
//!
//! An IPC call times out after 5 s, so the editor cannot hold the console's call for a whole
//! editing session. Instead the console forwards: `Open` starts a session, then every batch of
//! bytes typed goes in a `Keys` call, and the reply carries the bytes to write to the
//! terminal. When the reply says a key is pending (a lone `ESC` that may start a sequence) and
//! no input comes for [`IDLE_MS`], the console sends `Idle`. A reply whose output did not fit
//! says `MORE`: the console asks for the rest with `More` before anything else. When the
//! editor quits, the reply carries the [`Exit`] and the session is over.
//!
//! # Requests
//!
//! Integers little-endian; strings and key bytes are `u16 len` + bytes.
//!
//! | op   | request | body                                     | success reply |
//! |------|---------|------------------------------------------|---------------|
//! | 0x41 | `Open`  | `u16 rows`, `u16 cols`, file name (a path) | `Screen` (the first drawing) |
//! | 0x42 | `Keys`  | bytes typed (≤ [`MAX_KEYS`])             | `Screen`      |
//! | 0x43 | `Idle`  | —                                        | `Screen`      |
//! | 0x44 | `More`  | —                                        | `Screen` (the rest of the output) |
//! | 0x45 | `Abort` | — (end the session, nothing saved)       | `Closed`      |
//!
//! # Replies
//!
//! | tag  | reply    | body                                                         |
//! |------|----------|--------------------------------------------------------------|
//! | 0xC1 | `Screen` | `u8 flags` (bit 0 `KEY_PENDING`, bit 1 `MORE`), `u8 exit` (0 none, 1 saved, 2 unchanged, 3 discarded), output (`u32 len` + bytes, ≤ [`MAX_OUTPUT`]) |
//! | 0xC2 | `Closed` | —                                                            |
//! | 0xCF | `Err`    | `u8 code` ([`EditorError`]), message (UTF-8, ≤ [`MAX_ERROR_MESSAGE`]) |
//!
//! Every reply fits [`MAX_REPLY`] bytes; a request, [`MAX_REQUEST`].

use core::fmt;

use crate::storage::{WireError, MAX_PATH_LEN};
use crate::wire::{cut, Reader, Writer};

/// The IPC endpoint name `services_editor_vi` serves.
pub const ENDPOINT: &str = "editor_api";
/// How long the console waits without input before it sends `Idle` (when a key is pending).
pub const IDLE_MS: u64 = 50;
/// The most bytes typed one `Keys` carries.
pub const MAX_KEYS: usize = 1024;
/// The most terminal output one `Screen` carries (the rest follows with `More`).
pub const MAX_OUTPUT: usize = 4000;
/// The longest error message, in bytes (longer ones are cut at a character boundary).
pub const MAX_ERROR_MESSAGE: usize = 256;
/// The longest reply: a `Screen` with [`MAX_OUTPUT`] bytes.
pub const MAX_REPLY: usize = 1 + 1 + 1 + 4 + MAX_OUTPUT;
/// The longest request: an `Open` with the longest path.
pub const MAX_REQUEST: usize = 1 + 2 + 2 + 2 + MAX_PATH_LEN + 1;
const _: () = assert!(1 + 2 + MAX_KEYS <= MAX_REQUEST);
const _: () = assert!(MAX_REPLY <= 4096);

/// `Screen` flag: a key is pending: send `Idle` if no input comes for [`IDLE_MS`].
pub const KEY_PENDING: u8 = 1;
/// `Screen` flag: more output waits: send `More`.
pub const MORE: u8 = 2;
const FLAGS: u8 = KEY_PENDING | MORE;

const OP_OPEN: u8 = 0x41;
const OP_KEYS: u8 = 0x42;
const OP_IDLE: u8 = 0x43;
const OP_MORE: u8 = 0x44;
const OP_ABORT: u8 = 0x45;
const TAG_SCREEN: u8 = 0xC1;
const TAG_CLOSED: u8 = 0xC2;
const TAG_ERR: u8 = 0xCF;

/// An `editor_api` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Start a session on `name` (a new, empty file if it does not exist), on a terminal of
    /// `rows` x `cols` cells. Replaces a session the same caller left open.
    Open {
        /// Terminal rows, the status line included.
        rows: u16,
        /// Terminal columns.
        cols: u16,
        /// The file.
        name: &'a str,
    },
    /// Bytes typed on the terminal.
    Keys(&'a [u8]),
    /// No input came for [`IDLE_MS`] while a key was pending.
    Idle,
    /// The rest of the output of the previous reply (it said `MORE`).
    More,
    /// End the session without saving (the console gives up on it).
    Abort,
}

/// How the session ended (the editor quit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// `:wq` / `:x`: saved, then quit.
    Saved,
    /// `:q` with nothing changed since the last save.
    Unchanged,
    /// `:q!`: the changes were thrown away.
    Discarded,
}

/// A `Screen` reply: output for the terminal, and the session's state after the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen<'a> {
    /// Bytes to write to the terminal as they are (VT100).
    pub output: &'a [u8],
    /// A key is pending: send `Idle` after [`IDLE_MS`] without input.
    pub key_pending: bool,
    /// More output waits: send `More` next.
    pub more: bool,
    /// The editor quit (after this output): the session is over.
    pub exit: Option<Exit>,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorError {
    /// `Keys`, `Idle` or `More` without an open session.
    NoSession,
    /// Another component has a session open (one at a time).
    Busy,
    /// The file cannot be edited (the message says why: not found is *not* this — a missing
    /// file opens empty —, but not UTF-8, too large, a directory, denied, storage failing).
    CannotOpen,
    /// The request could not be decoded.
    BadRequest,
}

impl EditorError {
    const ALL: [EditorError; 4] = [
        EditorError::NoSession,
        EditorError::Busy,
        EditorError::CannotOpen,
        EditorError::BadRequest,
    ];

    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            EditorError::NoSession => 1,
            EditorError::Busy => 2,
            EditorError::CannotOpen => 3,
            EditorError::BadRequest => 4,
        }
    }

    fn from_code(code: u8) -> Result<EditorError, WireError> {
        EditorError::ALL
            .into_iter()
            .find(|e| e.code() == code)
            .ok_or(WireError::UnknownTag(code))
    }
}

impl fmt::Display for EditorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EditorError::NoSession => "no editing session",
            EditorError::Busy => "the editor is in use",
            EditorError::CannotOpen => "cannot edit the file",
            EditorError::BadRequest => "bad request",
        })
    }
}

/// An `editor_api` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// Output and state.
    Screen(Screen<'a>),
    /// The session was ended by `Abort`.
    Closed,
    /// The request failed; the message is one line.
    Err(EditorError, &'a str),
}

impl Exit {
    fn wire(exit: Option<Exit>) -> u8 {
        match exit {
            None => 0,
            Some(Exit::Saved) => 1,
            Some(Exit::Unchanged) => 2,
            Some(Exit::Discarded) => 3,
        }
    }

    fn from_wire(b: u8) -> Result<Option<Exit>, WireError> {
        match b {
            0 => Ok(None),
            1 => Ok(Some(Exit::Saved)),
            2 => Ok(Some(Exit::Unchanged)),
            3 => Ok(Some(Exit::Discarded)),
            t => Err(WireError::UnknownTag(t)),
        }
    }
}

impl<'a> Request<'a> {
    /// Encodes the request; returns its length. `TooLong` for a name over [`MAX_PATH_LEN`] + 1
    /// bytes or keys over [`MAX_KEYS`]; `Truncated` if `buf` is too small ([`MAX_REQUEST`]
    /// always suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match *self {
            Request::Open { rows, cols, name } => {
                w.u8(OP_OPEN)?;
                w.u16(rows)?;
                w.u16(cols)?;
                w.blob(name.as_bytes(), MAX_PATH_LEN + 1)?;
            }
            Request::Keys(bytes) => {
                w.u8(OP_KEYS)?;
                w.blob(bytes, MAX_KEYS)?;
            }
            Request::Idle => w.u8(OP_IDLE)?,
            Request::More => w.u8(OP_MORE)?,
            Request::Abort => w.u8(OP_ABORT)?,
        }
        Ok(w.pos)
    }

    /// Decodes a request. Never panics; a malformed message is a [`WireError`].
    pub fn decode(msg: &'a [u8]) -> Result<Request<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let req = match r.u8()? {
            OP_OPEN => Request::Open {
                rows: r.u16()?,
                cols: r.u16()?,
                name: r.str(MAX_PATH_LEN + 1)?,
            },
            OP_KEYS => Request::Keys(r.blob(MAX_KEYS)?),
            OP_IDLE => Request::Idle,
            OP_MORE => Request::More,
            OP_ABORT => Request::Abort,
            op => return Err(WireError::UnknownTag(op)),
        };
        r.end()?;
        Ok(req)
    }
}

impl<'a> Response<'a> {
    /// Encodes the reply; returns its length. An `Err` message is cut to
    /// [`MAX_ERROR_MESSAGE`]; `TooLong` for output over [`MAX_OUTPUT`]; `Truncated` if `buf`
    /// is too small ([`MAX_REPLY`] always suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match *self {
            Response::Screen(s) => {
                w.u8(TAG_SCREEN)?;
                let flags =
                    if s.key_pending { KEY_PENDING } else { 0 } | if s.more { MORE } else { 0 };
                w.u8(flags)?;
                w.u8(Exit::wire(s.exit))?;
                w.blob32(s.output, MAX_OUTPUT)?;
            }
            Response::Closed => w.u8(TAG_CLOSED)?,
            Response::Err(e, msg) => {
                w.u8(TAG_ERR)?;
                w.u8(e.code())?;
                w.blob(cut(msg, MAX_ERROR_MESSAGE).as_bytes(), MAX_ERROR_MESSAGE)?;
            }
        }
        Ok(w.pos)
    }

    /// Decodes a reply. Never panics; a malformed message is a [`WireError`].
    pub fn decode(msg: &'a [u8]) -> Result<Response<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let resp = match r.u8()? {
            TAG_SCREEN => {
                let flags = r.u8()?;
                if flags & !FLAGS != 0 {
                    return Err(WireError::UnknownTag(flags));
                }
                let exit = Exit::from_wire(r.u8()?)?;
                Response::Screen(Screen {
                    key_pending: flags & KEY_PENDING != 0,
                    more: flags & MORE != 0,
                    exit,
                    output: r.blob32(MAX_OUTPUT)?,
                })
            }
            TAG_CLOSED => Response::Closed,
            TAG_ERR => {
                let e = EditorError::from_code(r.u8()?)?;
                Response::Err(e, r.str(MAX_ERROR_MESSAGE)?)
            }
            t => return Err(WireError::UnknownTag(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests;
