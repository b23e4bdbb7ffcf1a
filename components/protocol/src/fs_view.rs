//! `fs_view_api`: the read-only file view `services_fs_view` serves over the store of
//! `services_storage`, for components that only read files (the console's `ls`, `cat`,
//! `stat`).
//!
//! Every request stands alone (no handles): a `Read` names its path and offset, so a reader
//! holds nothing open between calls. The service applies the *caller's* `files:` and
//! `files_read:` capabilities ([`crate::access`]) before it asks `storage_api`: a caller with
//! no grant covering the path gets `Denied`, exactly as `services_storage` would answer it.
//!
//! # Requests
//!
//! Integers little-endian; a path is `u16 len` + UTF-8 (the rules of [`storage::normalize`]).
//!
//! | op   | request | body                                                 | success reply |
//! |------|---------|------------------------------------------------------|---------------|
//! | 0x21 | `List`  | path, cursor (`u16 len` + bytes; empty: from the start) | `Entries`  |
//! | 0x22 | `Stat`  | path                                                 | `Stat`        |
//! | 0x23 | `Read`  | path, `u64 offset`, `u32 len` (≤ [`MAX_READ`])       | `Data` (short at the end of the file, empty past it) |
//!
//! # Replies
//!
//! The `storage_api` replies of the same names, byte for byte ([`storage::Response`]):
//! `Entries` (0x84: size and mtime per entry, at most [`storage::MAX_LIST_REPLY`] bytes; the
//! cursor is `storage_api`'s, opaque), `Stat` (0x83), `Data` (0x82: the `len` asked at most,
//! plus 5 bytes of tag and length) and `Err` (0xFF, a [`StorageError`] and one line). Any
//! other reply is invalid here ([`decode_reply`]). So every reply fits [`MAX_REPLY`] bytes
//! for a `Read` of [`MAX_READ`], and 4096 bytes plus the `len` asked in general.
//!
//! [`StorageError`]: crate::storage::StorageError

use crate::storage::{self, Response, WireError, MAX_CURSOR, MAX_PATH_LEN};
use crate::wire::{Reader, Writer};

/// The IPC endpoint name `services_fs_view` serves.
pub const ENDPOINT: &str = "fs_view_api";
/// The most bytes one `Read` returns: `storage_api`'s chunk.
pub const MAX_READ: usize = storage::MAX_CHUNK;
/// The longest reply: a `Data` of [`MAX_READ`] bytes (tag and length first).
pub const MAX_REPLY: usize = MAX_READ + 5;

const OP_LIST: u8 = 0x21;
const OP_STAT: u8 = 0x22;
const OP_READ: u8 = 0x23;

/// The tags of the replies `fs_view_api` may send.
const REPLY_TAGS: [u8; 4] = [0x82, 0x83, 0x84, 0xFF];

/// A `fs_view_api` request; paths are carried as sent (the service normalizes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// A page of the directory's entries after `cursor`.
    List {
        /// The directory.
        path: &'a str,
        /// Empty for the first page, else the cursor the previous reply gave.
        cursor: &'a [u8],
    },
    /// Kind, size and modification time of a path.
    Stat {
        /// The path.
        path: &'a str,
    },
    /// Up to `len` bytes of a file from `offset`.
    Read {
        /// The file.
        path: &'a str,
        /// Byte offset.
        offset: u64,
        /// Bytes wanted (≤ [`MAX_READ`]).
        len: u32,
    },
}

impl<'a> Request<'a> {
    /// Encodes the request into `buf`; returns the message length. `TooLong` for a path over
    /// [`MAX_PATH_LEN`] + 1 bytes, a cursor over [`MAX_CURSOR`] or a `len` over [`MAX_READ`];
    /// `Truncated` if `buf` is too small (2 KiB always suffice).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match *self {
            Request::List { path, cursor } => {
                w.u8(OP_LIST)?;
                w.blob(path.as_bytes(), MAX_PATH_LEN + 1)?;
                w.blob(cursor, MAX_CURSOR)?;
            }
            Request::Stat { path } => {
                w.u8(OP_STAT)?;
                w.blob(path.as_bytes(), MAX_PATH_LEN + 1)?;
            }
            Request::Read { path, offset, len } => {
                if len as usize > MAX_READ {
                    return Err(WireError::TooLong);
                }
                w.u8(OP_READ)?;
                w.blob(path.as_bytes(), MAX_PATH_LEN + 1)?;
                w.u64(offset)?;
                w.u32(len)?;
            }
        }
        Ok(w.pos)
    }

    /// Decodes a request. Never panics: a malformed message is a [`WireError`] (the service
    /// answers `Err(BadRequest)`).
    pub fn decode(msg: &'a [u8]) -> Result<Request<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let req = match r.u8()? {
            OP_LIST => Request::List {
                path: r.str(MAX_PATH_LEN + 1)?,
                cursor: r.blob(MAX_CURSOR)?,
            },
            OP_STAT => Request::Stat {
                path: r.str(MAX_PATH_LEN + 1)?,
            },
            OP_READ => {
                let path = r.str(MAX_PATH_LEN + 1)?;
                let (offset, len) = (r.u64()?, r.u32()?);
                if len as usize > MAX_READ {
                    return Err(WireError::TooLong);
                }
                Request::Read { path, offset, len }
            }
            op => return Err(WireError::UnknownTag(op)),
        };
        r.end()?;
        Ok(req)
    }

    /// The path the request is about.
    pub fn path(&self) -> &'a str {
        match *self {
            Request::List { path, .. } | Request::Stat { path } | Request::Read { path, .. } => {
                path
            }
        }
    }

    /// The request's name (`"list"`, `"stat"`, `"read"`), for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::List { .. } => "list",
            Request::Stat { .. } => "stat",
            Request::Read { .. } => "read",
        }
    }
}

/// Decodes a `fs_view_api` reply: a `storage_api` `Entries`, `Stat`, `Data` or `Err`;
/// another valid `storage_api` reply is `UnknownTag` (it has no meaning here).
pub fn decode_reply(msg: &[u8]) -> Result<Response<'_>, WireError> {
    match msg.first() {
        Some(tag) if !REPLY_TAGS.contains(tag) => Err(WireError::UnknownTag(*tag)),
        _ => Response::decode(msg),
    }
}

#[cfg(test)]
mod tests;
