//! `fs_view`: what `services_fs_view` does with a `fs_view_api` request
//! ([`protocol::fs_view`]), without the IPC: decode it, check the path against the **caller's**
//! `files:` / `files_read:` grants ([`protocol::access`], the rule `services_storage` applies),
//! and answer it through `storage_api` behind the [`Store`] trait.
//!
//! The service itself holds `files_read:/`, so the check here is what keeps it from widening
//! anyone's access: a caller with no grant covering the path gets `Denied` before the store is
//! asked. A `Read` is stateless: `Open` (read only), `Read`, `Close` on the store, so no handle
//! outlives a request. The store's replies have the same encoding as `fs_view_api`'s and are
//! passed on as they are, once checked.
//!
//! No allocation: requests to the store are built in small stack buffers, and the one large
//! reply (`Data`) is written straight into the caller's reply buffer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt::{self, Write};

use abi::Error;
use protocol::access;
use protocol::fs_view::{self, MAX_REPLY};
use protocol::storage::{self, normalize, OpenFlags, Response, StorageError, WireError};

/// Where the service's `storage_api` calls go (`services_storage` over IPC; a fake in tests).
pub trait Store {
    /// One `storage_api` call: `request` out, the reply into `reply`; returns its length.
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
}

/// The size of the buffers the small store messages (requests, `Opened`, `Ok`, `Err`) use: a
/// request with the longest path, an error with the longest message.
const SMALL: usize = 1 + 1 + 2 + storage::MAX_PATH_LEN + 1 + 64;

/// Answers one `fs_view_api` request from `caller`, whose capability record
/// (`COMPONENT_CAPS`) is `caps`; the reply goes into `reply` (at least [`MAX_REPLY`] bytes;
/// a shorter buffer gets a `BadRequest` error if the answer does not fit). Returns the reply
/// length. Never panics.
pub fn serve(
    caller: &str,
    caps: &str,
    request: &[u8],
    reply: &mut [u8],
    store: &mut impl Store,
) -> usize {
    let result = fs_view::Request::decode(request)
        .map_err(encode_fail)
        .and_then(|req| answer(caller, caps, req, reply, store));
    match result {
        Ok(n) => n,
        Err(fail) => fail.encode(reply),
    }
}

/// A failure: the error sent, and what its one line says.
#[derive(Debug, Clone, Copy)]
struct Fail<'a> {
    error: StorageError,
    why: Why<'a>,
}

/// What the line of a [`Fail`] says.
#[derive(Debug, Clone, Copy)]
enum Why<'a> {
    /// The error's own text (`not found`, `invalid path`, ...).
    Plain,
    /// The request could not be decoded or encoded.
    Wire(WireError),
    /// The caller has no grant covering the path.
    Denied { caller: &'a str, path: &'a str },
    /// The IPC call to the store failed.
    StoreDown(Error),
    /// The store's reply could not be decoded.
    BadReply(WireError),
    /// The store's reply was not the one the request calls for.
    Unexpected,
}

impl<'a> Fail<'a> {
    fn new(error: StorageError, why: Why<'a>) -> Fail<'a> {
        Fail { error, why }
    }

    fn encode(&self, reply: &mut [u8]) -> usize {
        let mut line = Line::default();
        let _ = match self.why {
            Why::Plain => write!(line, "{}", self.error),
            Why::Wire(e) => write!(line, "fs_view_api: {e}"),
            Why::Denied { caller, path } => write!(
                line,
                "permission denied: {caller} has no files or files_read grant for /{path}"
            ),
            Why::StoreDown(e) => write!(line, "storage service: {e}"),
            Why::BadReply(e) => write!(line, "bad reply from the storage service: {e}"),
            Why::Unexpected => write!(line, "unexpected reply from the storage service"),
        };
        Response::Err(self.error, line.as_str())
            .encode(reply)
            .unwrap_or(0)
    }
}

impl From<StorageError> for Fail<'_> {
    fn from(error: StorageError) -> Self {
        Fail::new(error, Why::Plain)
    }
}

/// A one-line message in a fixed buffer (cut at [`storage::MAX_ERROR_MESSAGE`] bytes).
#[derive(Debug)]
struct Line {
    buf: [u8; storage::MAX_ERROR_MESSAGE],
    len: usize,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            buf: [0; storage::MAX_ERROR_MESSAGE],
            len: 0,
        }
    }
}

impl Line {
    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut b = [0u8; 4];
            let c = if c.is_control() { ' ' } else { c };
            let enc = c.encode_utf8(&mut b).as_bytes();
            if self.len + enc.len() > self.buf.len() {
                return Ok(());
            }
            self.buf[self.len..self.len + enc.len()].copy_from_slice(enc);
            self.len += enc.len();
        }
        Ok(())
    }
}

/// Checks the caller's access, then runs the request on the store.
fn answer<'a>(
    caller: &'a str,
    caps: &str,
    req: fs_view::Request<'a>,
    reply: &mut [u8],
    store: &mut impl Store,
) -> Result<usize, Fail<'a>> {
    let path = normalize(req.path())?;
    if !access::permits(caps, path, false) {
        return Err(Fail::new(
            StorageError::Denied,
            Why::Denied { caller, path },
        ));
    }
    match req {
        fs_view::Request::List { cursor, .. } => {
            forward(store, &storage::Request::List { path, cursor }, reply)
        }
        fs_view::Request::Stat { .. } => forward(store, &storage::Request::Stat { path }, reply),
        fs_view::Request::Read { offset, len, .. } => read(store, path, offset, len, reply),
    }
}

/// Sends `req` to the store with the reply going straight into `reply`; checks that the
/// store's answer is one `fs_view_api` may pass on.
fn forward(
    store: &mut impl Store,
    req: &storage::Request<'_>,
    reply: &mut [u8],
) -> Result<usize, Fail<'static>> {
    let mut msg = [0u8; SMALL];
    let n = req.encode(&mut msg).map_err(encode_fail)?;
    let cap = reply.len().min(MAX_REPLY);
    let len = store
        .call(&msg[..n], &mut reply[..cap])
        .map_err(store_down)?;
    let len = len.min(cap);
    match fs_view::decode_reply(&reply[..len]) {
        Ok(_) => Ok(len),
        Err(e) => Err(Fail::new(StorageError::Unavailable, Why::BadReply(e))),
    }
}

/// A small store call (`Open`, `Close`) and its decoded answer in `buf`.
fn small<'b>(
    store: &mut impl Store,
    req: &storage::Request<'_>,
    buf: &'b mut [u8; SMALL],
) -> Result<Response<'b>, Fail<'static>> {
    let mut msg = [0u8; SMALL];
    let n = req.encode(&mut msg).map_err(encode_fail)?;
    let len = store.call(&msg[..n], buf).map_err(store_down)?.min(SMALL);
    match Response::decode(&buf[..len]) {
        Ok(Response::Err(e, _)) => Err(e.into()),
        Ok(r) => Ok(r),
        Err(e) => Err(Fail::new(StorageError::Unavailable, Why::BadReply(e))),
    }
}

/// A stateless read: `Open` read-only, `Read` into `reply`, `Close` (always, once opened).
fn read(
    store: &mut impl Store,
    path: &str,
    offset: u64,
    len: u32,
    reply: &mut [u8],
) -> Result<usize, Fail<'static>> {
    let mut buf = [0u8; SMALL];
    let open = storage::Request::Open {
        path,
        flags: OpenFlags::READ,
    };
    let handle = match small(store, &open, &mut buf)? {
        Response::Opened { handle, .. } => handle,
        _ => return Err(unexpected()),
    };
    let read = storage::Request::Read {
        handle,
        offset,
        len,
    };
    let got = forward(store, &read, reply);
    // A read-only handle has nothing to commit: a failing Close loses nothing that was read.
    let _ = small(store, &storage::Request::Close { handle }, &mut buf);
    let n = got?;
    match fs_view::decode_reply(&reply[..n]) {
        Ok(Response::Data(_) | Response::Err(..)) => Ok(n),
        _ => Err(unexpected()),
    }
}

fn unexpected() -> Fail<'static> {
    Fail::new(StorageError::Unavailable, Why::Unexpected)
}

fn encode_fail(e: WireError) -> Fail<'static> {
    Fail::new(StorageError::BadRequest, Why::Wire(e))
}

fn store_down(e: Error) -> Fail<'static> {
    Fail::new(StorageError::Unavailable, Why::StoreDown(e))
}

#[cfg(test)]
mod tests;
