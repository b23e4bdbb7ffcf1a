//! `storage_api` as milestone 1 spoke it (whole files of at most 3072 bytes). Kept only for
//! the old record store (`storage_format`), read once to convert it to pgfs; nothing serves it.
//!
//! One request message, one reply message, each at most [`MAX_MESSAGE`] bytes. All integers
//! are little-endian; every length is a `u16` followed by that many bytes. A message must be
//! consumed exactly: trailing bytes make it invalid.
//!
//! # Requests
//!
//! | op   | request  | body                                   | success reply      |
//! |------|----------|----------------------------------------|--------------------|
//! | 0x01 | `Create` | path                                   | `Ok` (`AlreadyExists` if it exists) |
//! | 0x02 | `Write`  | path, data (≤ [`MAX_FILE_SIZE`])       | `Ok` (creates or replaces) |
//! | 0x03 | `Read`   | path                                   | `Data`             |
//! | 0x04 | `List`   | directory path (`/` or empty = root)   | `Entries`          |
//! | 0x05 | `Delete` | path                                   | `Ok`               |
//! | 0x06 | `Stat`   | path (a file or a directory)           | `Stat`             |
//!
//! where `path` and `data` are each `u16 len, len bytes`.
//!
//! # Replies
//!
//! | tag  | reply     | body                                                             |
//! |------|-----------|------------------------------------------------------------------|
//! | 0x80 | `Ok`      | —                                                                |
//! | 0x81 | `Data`    | `u16 len`, bytes                                                 |
//! | 0x82 | `Entries` | `u8 flags` (bit 0: truncated), `u16 count`, then `count` entries |
//! | 0x83 | `Stat`    | one entry body (kind, value) without a name: `u8 kind`, `u64 value` |
//! | 0xFF | `Err`     | `u8 code`, `u64 detail`, `u16 len`, message (UTF-8)              |
//!
//! An entry is `u8 kind`, `u64 value`, `u16 len`, name (UTF-8): kind 1 = file (value = size
//! in bytes), 2 = directory (value 0), 3 = damaged record (value = the user-data block it is
//! in; the name is the path component the record claims, or empty if even that is unreadable).
//!
//! Error codes ([`StorageError`]): 1 `NotFound`, 2 `AlreadyExists`, 3 `NameTooLong`,
//! 4 `InvalidPath`, 5 `NoSpace`, 6 `Damaged` (detail = block), 7 `TooLarge`, 8 `BadRequest`,
//! 9 `Io`, 10 `IsDirectory`, 11 `NotDirectory`, 12 `Unavailable`.
//!
//! # Paths
//!
//! `/`-separated components, each `[A-Za-z0-9._-]{1,32}` and not `.` or `..`, at most
//! [`MAX_DEPTH`] components and [`MAX_PATH_LEN`] bytes. One leading `/` is allowed and
//! ignored (`/a/b` = `a/b`); empty components (`a//b`, a trailing `/`) are not. Directories are
//! implicit: they exist while a file lies under them (a file `a/b` lists as directory `a` in
//! the root). A path cannot be both a file and a directory. [`normalize`] checks a path.
//!
//! # Limits
//!
//! A file holds at most [`MAX_FILE_SIZE`] (3072) bytes, so that a `Read` reply fits one
//! message; there is no partial read or write. A `List` reply holds as many entries as fit
//! in one message; when more exist, the reply says `truncated`.

use core::fmt;
use core::str;

use crate::wire::{cut, Reader, Writer};

/// The message limit milestone 1 had (`abi::ipc::MAX_MESSAGE` was 4096 then).
pub const MAX_MESSAGE: usize = 4096;

/// The IPC endpoint name `services_storage` serves.
pub const ENDPOINT: &str = "storage_api";
/// The largest file, in bytes.
pub const MAX_FILE_SIZE: usize = 3072;
/// The longest path, in bytes (after [`normalize`]).
pub const MAX_PATH_LEN: usize = 128;
/// The longest path component, in bytes.
pub const MAX_NAME_LEN: usize = 32;
/// The most components a path may have.
pub const MAX_DEPTH: usize = 4;

// Worst-case request (Write) and reply (Data) fit one message.
const _: () = assert!(1 + 2 + MAX_PATH_LEN + 2 + MAX_FILE_SIZE <= MAX_MESSAGE);
const _: () = assert!(1 + 2 + MAX_FILE_SIZE <= MAX_MESSAGE);

const OP_CREATE: u8 = 0x01;
const OP_WRITE: u8 = 0x02;
const OP_READ: u8 = 0x03;
const OP_LIST: u8 = 0x04;
const OP_DELETE: u8 = 0x05;
const OP_STAT: u8 = 0x06;

const TAG_OK: u8 = 0x80;
const TAG_DATA: u8 = 0x81;
const TAG_ENTRIES: u8 = 0x82;
const TAG_STAT: u8 = 0x83;
const TAG_ERR: u8 = 0xFF;

const KIND_FILE: u8 = 1;
const KIND_DIR: u8 = 2;
const KIND_DAMAGED: u8 = 3;

/// The longest error message carried in an `Err` reply, in bytes (longer ones are cut at a
/// character boundary when encoding).
pub const MAX_ERROR_MESSAGE: usize = 256;

/// A storage error, as carried in an `Err` reply (and returned by the store itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageError {
    /// No such file or directory.
    NotFound,
    /// `Create` of a path that already exists (as a file or a directory).
    AlreadyExists,
    /// A path longer than [`MAX_PATH_LEN`], a component longer than [`MAX_NAME_LEN`], or more
    /// than [`MAX_DEPTH`] components.
    NameTooLong,
    /// A path with a character outside `[A-Za-z0-9._-]`, an empty, `.` or `..` component.
    InvalidPath,
    /// No free record slot left.
    NoSpace,
    /// A record at this user-data block failed its checksum; its contents are not returned.
    Damaged {
        /// The region-relative user-data block of the damaged record.
        block: u64,
    },
    /// File data longer than [`MAX_FILE_SIZE`].
    TooLarge,
    /// The request could not be decoded.
    BadRequest,
    /// The block device failed.
    Io,
    /// `Read`/`Write`/`Delete` of a path that is a directory (`Create` says `AlreadyExists`).
    IsDirectory,
    /// A path component that is a file is used as a directory (e.g. `a/b` when `a` is a file).
    NotDirectory,
    /// The store is not mounted (its superblock is damaged or the device failed at boot).
    Unavailable,
}

impl StorageError {
    /// The error's wire code.
    pub const fn code(self) -> u8 {
        match self {
            StorageError::NotFound => 1,
            StorageError::AlreadyExists => 2,
            StorageError::NameTooLong => 3,
            StorageError::InvalidPath => 4,
            StorageError::NoSpace => 5,
            StorageError::Damaged { .. } => 6,
            StorageError::TooLarge => 7,
            StorageError::BadRequest => 8,
            StorageError::Io => 9,
            StorageError::IsDirectory => 10,
            StorageError::NotDirectory => 11,
            StorageError::Unavailable => 12,
        }
    }

    /// The `u64` detail sent with the code (the block for `Damaged`, else 0).
    pub const fn detail(self) -> u64 {
        match self {
            StorageError::Damaged { block } => block,
            _ => 0,
        }
    }

    /// The error with this wire code and detail, if the code is known.
    pub const fn from_wire(code: u8, detail: u64) -> Option<StorageError> {
        Some(match code {
            1 => StorageError::NotFound,
            2 => StorageError::AlreadyExists,
            3 => StorageError::NameTooLong,
            4 => StorageError::InvalidPath,
            5 => StorageError::NoSpace,
            6 => StorageError::Damaged { block: detail },
            7 => StorageError::TooLarge,
            8 => StorageError::BadRequest,
            9 => StorageError::Io,
            10 => StorageError::IsDirectory,
            11 => StorageError::NotDirectory,
            12 => StorageError::Unavailable,
            _ => return None,
        })
    }

    /// A short description (without the block of `Damaged`; `Display` adds it).
    pub const fn as_str(self) -> &'static str {
        match self {
            StorageError::NotFound => "not found",
            StorageError::AlreadyExists => "already exists",
            StorageError::NameTooLong => "name too long",
            StorageError::InvalidPath => "invalid path",
            StorageError::NoSpace => "no space left",
            StorageError::Damaged { .. } => "damaged record",
            StorageError::TooLarge => "file too large",
            StorageError::BadRequest => "bad request",
            StorageError::Io => "I/O error",
            StorageError::IsDirectory => "is a directory",
            StorageError::NotDirectory => "not a directory",
            StorageError::Unavailable => "storage unavailable",
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Damaged { block } => write!(f, "damaged record at block {block}"),
            e => f.write_str(e.as_str()),
        }
    }
}

pub use crate::wire::WireError;

/// A `storage_api` request. Paths are carried as sent; the server [`normalize`]s them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Create an empty file; `AlreadyExists` if the path exists.
    Create {
        /// The file's path.
        path: &'a str,
    },
    /// Create the file or replace its contents.
    Write {
        /// The file's path.
        path: &'a str,
        /// The new contents (≤ [`MAX_FILE_SIZE`] bytes).
        data: &'a [u8],
    },
    /// Read a whole file.
    Read {
        /// The file's path.
        path: &'a str,
    },
    /// List a directory (`/` or the empty string for the root).
    List {
        /// The directory's path.
        dir: &'a str,
    },
    /// Delete a file (also frees damaged records that claim the path).
    Delete {
        /// The file's path.
        path: &'a str,
    },
    /// Is the path a file (and how large) or a directory?
    Stat {
        /// The path.
        path: &'a str,
    },
}

/// What an entry of a listing (or a `Stat` reply) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A file of `size` bytes.
    File {
        /// Its size in bytes.
        size: u32,
    },
    /// An (implicit) directory.
    Dir,
    /// A record that failed its checksum, in user-data block `block`.
    Damaged {
        /// The region-relative user-data block.
        block: u64,
    },
}

impl EntryKind {
    fn wire(self) -> (u8, u64) {
        match self {
            EntryKind::File { size } => (KIND_FILE, u64::from(size)),
            EntryKind::Dir => (KIND_DIR, 0),
            EntryKind::Damaged { block } => (KIND_DAMAGED, block),
        }
    }

    fn from_wire(kind: u8, value: u64) -> Result<EntryKind, WireError> {
        match kind {
            KIND_FILE => u32::try_from(value)
                .ok()
                .filter(|&s| s as usize <= MAX_FILE_SIZE)
                .map(|size| EntryKind::File { size })
                .ok_or(WireError::TooLong),
            KIND_DIR if value == 0 => Ok(EntryKind::Dir),
            KIND_DIR => Err(WireError::TooLong),
            KIND_DAMAGED => Ok(EntryKind::Damaged { block: value }),
            t => Err(WireError::UnknownTag(t)),
        }
    }
}

/// One entry of a listing: a name (one path component; empty for a damaged record whose
/// name is unreadable) and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name within the listed directory.
    pub name: &'a str,
    /// What it is.
    pub kind: EntryKind,
}

/// A decoded `Entries` reply: borrowed, already validated bytes; iterate with [`Entries::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entries<'a> {
    truncated: bool,
    count: u16,
    body: &'a [u8],
}

impl<'a> Entries<'a> {
    /// Whether the server had more entries than fit in the reply.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The number of entries in the reply.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the reply holds no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries, in the server's order.
    pub fn iter(&self) -> EntryIter<'a> {
        EntryIter {
            r: Reader { buf: self.body },
            left: self.count,
        }
    }
}

impl<'a> IntoIterator for &Entries<'a> {
    type Item = Entry<'a>;
    type IntoIter = EntryIter<'a>;
    fn into_iter(self) -> EntryIter<'a> {
        self.iter()
    }
}

/// Iterator over the entries of an [`Entries`] reply.
#[derive(Debug, Clone)]
pub struct EntryIter<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for EntryIter<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated when the reply was decoded; a failure here cannot happen, but ends the
        // iteration rather than panicking.
        read_entry(&mut self.r).ok()
    }
}

/// A `storage_api` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// The request succeeded (Create, Write, Delete).
    Ok,
    /// A file's contents (Read).
    Data(&'a [u8]),
    /// A directory listing (List). Build one with [`EntriesWriter`].
    Entries(Entries<'a>),
    /// What a path is (Stat): `File { size }` or `Dir`.
    Stat(EntryKind),
    /// The request failed; `message` (UTF-8, ≤ [`MAX_ERROR_MESSAGE`] bytes) says more.
    Err(StorageError, &'a str),
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Result<Entry<'a>, WireError> {
    let kind = r.u8()?;
    let value = r.u64()?;
    let name = r.str(MAX_NAME_LEN)?;
    Ok(Entry {
        name,
        kind: EntryKind::from_wire(kind, value)?,
    })
}

impl<'a> Request<'a> {
    /// Encodes the request into `buf`; returns the message length. Fails with `TooLong` for a
    /// path over [`MAX_PATH_LEN`] + 1 bytes (one leading `/` is allowed) or data over
    /// [`MAX_FILE_SIZE`], and with `Truncated` if `buf` is too small ([`MAX_MESSAGE`] always
    /// suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        let (op, path) = match *self {
            Request::Create { path } => (OP_CREATE, path),
            Request::Write { path, .. } => (OP_WRITE, path),
            Request::Read { path } => (OP_READ, path),
            Request::List { dir } => (OP_LIST, dir),
            Request::Delete { path } => (OP_DELETE, path),
            Request::Stat { path } => (OP_STAT, path),
        };
        w.u8(op)?;
        w.blob(path.as_bytes(), MAX_PATH_LEN + 1)?;
        if let Request::Write { data, .. } = *self {
            w.blob(data, MAX_FILE_SIZE)?;
        }
        Ok(w.pos)
    }

    /// Decodes a request message. Never panics; any malformed message is an error (the
    /// server replies `Err(BadRequest)`). The path is not validated here: see [`normalize`].
    pub fn decode(msg: &'a [u8]) -> Result<Request<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let op = r.u8()?;
        if !(OP_CREATE..=OP_STAT).contains(&op) {
            return Err(WireError::UnknownTag(op));
        }
        let path = r.str(MAX_PATH_LEN + 1)?;
        let req = match op {
            OP_CREATE => Request::Create { path },
            OP_WRITE => Request::Write {
                path,
                data: r.blob(MAX_FILE_SIZE)?,
            },
            OP_READ => Request::Read { path },
            OP_LIST => Request::List { dir: path },
            OP_DELETE => Request::Delete { path },
            _ => Request::Stat { path },
        };
        r.end()?;
        Ok(req)
    }

    /// The request's name (`"create"`, `"write"`, ...), for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Create { .. } => "create",
            Request::Write { .. } => "write",
            Request::Read { .. } => "read",
            Request::List { .. } => "list",
            Request::Delete { .. } => "delete",
            Request::Stat { .. } => "stat",
        }
    }
}

impl<'a> Response<'a> {
    /// Encodes the reply into `buf`; returns the message length. An `Err` message longer than
    /// [`MAX_ERROR_MESSAGE`] is cut. Fails with `TooLong` for data over [`MAX_FILE_SIZE`] and
    /// `Truncated` if `buf` is too small.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match *self {
            Response::Ok => w.u8(TAG_OK)?,
            Response::Data(data) => {
                w.u8(TAG_DATA)?;
                w.blob(data, MAX_FILE_SIZE)?;
            }
            Response::Entries(e) => {
                w.u8(TAG_ENTRIES)?;
                w.u8(u8::from(e.truncated))?;
                w.u16(e.count)?;
                w.bytes(e.body)?;
            }
            Response::Stat(kind) => {
                let (k, v) = kind.wire();
                w.u8(TAG_STAT)?;
                w.u8(k)?;
                w.u64(v)?;
            }
            Response::Err(e, msg) => {
                w.u8(TAG_ERR)?;
                w.u8(e.code())?;
                w.u64(e.detail())?;
                w.blob(cut(msg, MAX_ERROR_MESSAGE).as_bytes(), MAX_ERROR_MESSAGE)?;
            }
        }
        Ok(w.pos)
    }

    /// Decodes a reply message. Never panics; a malformed message is an error.
    pub fn decode(msg: &'a [u8]) -> Result<Response<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let resp = match r.u8()? {
            TAG_OK => Response::Ok,
            TAG_DATA => Response::Data(r.blob(MAX_FILE_SIZE)?),
            TAG_ENTRIES => {
                let flags = r.u8()?;
                if flags > 1 {
                    return Err(WireError::UnknownTag(flags));
                }
                let count = r.u16()?;
                let body = r.buf;
                for _ in 0..count {
                    read_entry(&mut r)?;
                }
                let used = body.len() - r.buf.len();
                Response::Entries(Entries {
                    truncated: flags == 1,
                    count,
                    body: &body[..used],
                })
            }
            TAG_STAT => {
                let k = r.u8()?;
                let v = r.u64()?;
                match EntryKind::from_wire(k, v)? {
                    EntryKind::Damaged { .. } => return Err(WireError::UnknownTag(k)),
                    kind => Response::Stat(kind),
                }
            }
            TAG_ERR => {
                let code = r.u8()?;
                let detail = r.u64()?;
                let e = StorageError::from_wire(code, detail).ok_or(WireError::UnknownTag(code))?;
                Response::Err(e, r.str(MAX_ERROR_MESSAGE)?)
            }
            t => return Err(WireError::UnknownTag(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

/// Builds an `Entries` reply directly in a message buffer (no allocation).
///
/// ```
/// use protocol::storage_v1::{Entry, EntryKind, EntriesWriter, Response};
/// let mut buf = [0u8; protocol::MAX_MESSAGE];
/// let mut w = EntriesWriter::new(&mut buf).unwrap();
/// w.push(Entry { name: "notes", kind: EntryKind::Dir });
/// w.push(Entry { name: "hello.txt", kind: EntryKind::File { size: 5 } });
/// let n = w.finish();
/// let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else { panic!() };
/// assert_eq!(e.len(), 2);
/// ```
#[derive(Debug)]
pub struct EntriesWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    count: u16,
    truncated: bool,
}

impl<'b> EntriesWriter<'b> {
    const HEADER: usize = 4;

    /// Starts an `Entries` reply in `buf` (at most [`MAX_MESSAGE`] bytes of it are used).
    /// `None` if `buf` cannot hold even an empty reply.
    pub fn new(buf: &'b mut [u8]) -> Option<Self> {
        if buf.len() < Self::HEADER {
            return None;
        }
        let cap = buf.len().min(MAX_MESSAGE);
        Some(EntriesWriter {
            buf: &mut buf[..cap],
            pos: Self::HEADER,
            count: 0,
            truncated: false,
        })
    }

    /// Whether `name` is already in the reply (for callers that merge duplicates).
    pub fn contains(&self, name: &str) -> bool {
        let mut r = Reader {
            buf: &self.buf[Self::HEADER..self.pos],
        };
        (0..self.count).any(|_| matches!(read_entry(&mut r), Ok(e) if e.name == name))
    }

    /// Appends an entry; returns `false` (and marks the reply truncated) when it does not fit,
    /// or if the name is over [`MAX_NAME_LEN`] bytes or the count would overflow.
    pub fn push(&mut self, entry: Entry<'_>) -> bool {
        let need = 1 + 8 + 2 + entry.name.len();
        if entry.name.len() > MAX_NAME_LEN
            || self.count == u16::MAX
            || self.pos + need > self.buf.len()
        {
            self.truncated = true;
            return false;
        }
        let (k, v) = entry.kind.wire();
        let mut w = Writer {
            buf: &mut self.buf[..],
            pos: self.pos,
        };
        // Cannot fail: the room was checked above.
        let ok = w.u8(k).is_ok()
            && w.u64(v).is_ok()
            && w.blob(entry.name.as_bytes(), MAX_NAME_LEN).is_ok();
        self.pos = w.pos;
        if ok {
            self.count += 1;
        }
        ok
    }

    /// Marks the reply truncated (the caller knows of entries it did not push).
    pub fn set_truncated(&mut self) {
        self.truncated = true;
    }

    /// The number of entries pushed so far.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Writes the header; returns the message length.
    pub fn finish(self) -> usize {
        self.buf[0] = TAG_ENTRIES;
        self.buf[1] = u8::from(self.truncated);
        self.buf[2..4].copy_from_slice(&self.count.to_le_bytes());
        self.pos
    }
}

/// Checks a path against the rules (module docs) and returns it without its leading `/`.
/// The root (`""` or `"/"`) normalizes to `""`; it is valid only where a directory is meant
/// (`List`, `Stat`), which the caller checks.
pub fn normalize(path: &str) -> Result<&str, StorageError> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.is_empty() {
        return Ok(p);
    }
    if p.len() > MAX_PATH_LEN {
        return Err(StorageError::NameTooLong);
    }
    let mut depth = 0;
    for c in p.split('/') {
        depth += 1;
        if c.is_empty() || c == "." || c == ".." {
            return Err(StorageError::InvalidPath);
        }
        if c.len() > MAX_NAME_LEN {
            return Err(StorageError::NameTooLong);
        }
        if !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(StorageError::InvalidPath);
        }
    }
    if depth > MAX_DEPTH {
        return Err(StorageError::NameTooLong);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rt_req(req: Request<'_>) {
        let mut buf = [0u8; MAX_MESSAGE];
        let n = req.encode(&mut buf).unwrap();
        assert_eq!(Request::decode(&buf[..n]).unwrap(), req);
        // Every strict prefix is rejected; a trailing byte too.
        for cut in 0..n {
            assert!(Request::decode(&buf[..cut]).is_err());
        }
        assert_eq!(Request::decode(&buf[..n + 1]), Err(WireError::Trailing));
    }

    fn rt_resp(resp: Response<'_>) {
        let mut buf = [0u8; MAX_MESSAGE];
        let n = resp.encode(&mut buf).unwrap();
        assert_eq!(Response::decode(&buf[..n]).unwrap(), resp);
        for cut in 0..n {
            assert!(Response::decode(&buf[..cut]).is_err());
        }
    }

    #[test]
    fn requests_round_trip() {
        let data = [7u8; MAX_FILE_SIZE];
        rt_req(Request::Create { path: "a/b" });
        rt_req(Request::Write {
            path: "/x",
            data: &data,
        });
        rt_req(Request::Write {
            path: "x",
            data: &[],
        });
        rt_req(Request::Read {
            path: "notes/today.txt",
        });
        rt_req(Request::List { dir: "/" });
        rt_req(Request::Delete { path: "a" });
        rt_req(Request::Stat { path: "" });
    }

    #[test]
    fn wire_layout_is_as_documented() {
        let mut buf = [0u8; 32];
        let n = Request::Write {
            path: "ab",
            data: b"xyz",
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(&buf[..n], &[0x02, 2, 0, b'a', b'b', 3, 0, b'x', b'y', b'z']);
        let n = Response::Err(StorageError::Damaged { block: 40 }, "x")
            .encode(&mut buf)
            .unwrap();
        assert_eq!(&buf[..n], &[0xFF, 6, 40, 0, 0, 0, 0, 0, 0, 0, 1, 0, b'x']);
    }

    #[test]
    fn limits_are_enforced() {
        let mut buf = [0u8; MAX_MESSAGE];
        let big = [0u8; MAX_FILE_SIZE + 1];
        assert_eq!(
            Request::Write {
                path: "a",
                data: &big
            }
            .encode(&mut buf),
            Err(WireError::TooLong)
        );
        assert_eq!(
            Response::Data(&big).encode(&mut buf),
            Err(WireError::TooLong)
        );
        assert_eq!(
            Request::Read { path: "a" }.encode(&mut buf[..3]),
            Err(WireError::Truncated)
        );
        // A hand-made Write with a 3073-byte length field.
        let mut m = vec![0x02, 1, 0, b'a'];
        m.extend_from_slice(&((MAX_FILE_SIZE + 1) as u16).to_le_bytes());
        m.extend_from_slice(&big);
        assert_eq!(Request::decode(&m), Err(WireError::TooLong));
    }

    #[test]
    fn responses_round_trip() {
        rt_resp(Response::Ok);
        rt_resp(Response::Data(b"hello"));
        rt_resp(Response::Data(&[1u8; MAX_FILE_SIZE]));
        rt_resp(Response::Stat(EntryKind::File { size: 3072 }));
        rt_resp(Response::Stat(EntryKind::Dir));
        rt_resp(Response::Err(StorageError::NotFound, "no such file: a"));
        rt_resp(Response::Err(StorageError::Damaged { block: 99 }, ""));
        for code in 0..=255u8 {
            if let Some(e) = StorageError::from_wire(code, 5) {
                assert_eq!(e.code(), code);
                rt_resp(Response::Err(e, "m"));
            }
        }
    }

    #[test]
    fn long_error_message_is_cut_at_a_char_boundary() {
        let msg = "é".repeat(200); // 400 bytes
        let mut buf = [0u8; MAX_MESSAGE];
        let n = Response::Err(StorageError::Io, &msg)
            .encode(&mut buf)
            .unwrap();
        let Ok(Response::Err(StorageError::Io, m)) = Response::decode(&buf[..n]) else {
            panic!()
        };
        assert_eq!(m.len(), MAX_ERROR_MESSAGE);
    }

    #[test]
    fn entries_writer_fills_and_truncates() {
        let mut buf = [0u8; MAX_MESSAGE];
        let mut w = EntriesWriter::new(&mut buf).unwrap();
        let name = "n".repeat(MAX_NAME_LEN);
        let mut pushed = 0;
        while w.push(Entry {
            name: &name,
            kind: EntryKind::Damaged { block: pushed },
        }) {
            pushed += 1;
        }
        assert!(w.contains(&name));
        assert!(!w.contains("m"));
        let n = w.finish();
        assert!(n <= MAX_MESSAGE);
        let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else {
            panic!()
        };
        assert!(e.truncated());
        assert_eq!(e.len() as u64, pushed);
        assert!(e.len() >= 90, "{} entries of maximal names fit", e.len());
        for (i, ent) in e.iter().enumerate() {
            assert_eq!(ent.kind, EntryKind::Damaged { block: i as u64 });
        }
        rt_resp(Response::Entries(e));
    }

    #[test]
    fn empty_entries() {
        let mut buf = [0u8; 8];
        let w = EntriesWriter::new(&mut buf).unwrap();
        let n = w.finish();
        let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else {
            panic!()
        };
        assert!(e.is_empty() && !e.truncated());
        assert!(EntriesWriter::new(&mut buf[..3]).is_none());
    }

    #[test]
    fn paths() {
        assert_eq!(normalize("/"), Ok(""));
        assert_eq!(normalize(""), Ok(""));
        assert_eq!(normalize("/a/b.txt"), Ok("a/b.txt"));
        assert_eq!(normalize("A-z_0.9"), Ok("A-z_0.9"));
        assert_eq!(normalize("a/b/c/d"), Ok("a/b/c/d"));
        assert_eq!(normalize("a/b/c/d/e"), Err(StorageError::NameTooLong));
        assert_eq!(normalize(&"x".repeat(32)), Ok(&*"x".repeat(32)));
        assert_eq!(normalize(&"x".repeat(33)), Err(StorageError::NameTooLong));
        let long = [
            "y".repeat(32),
            "y".repeat(32),
            "y".repeat(32),
            "y".repeat(32),
        ]
        .join("/");
        assert_eq!(long.len(), 131);
        assert_eq!(normalize(&long), Err(StorageError::NameTooLong));
        for bad in [
            "a//b", "a/", "//a", "./a", "a/..", "a b", "a\\b", "ä", "a:b", "a*",
        ] {
            assert_eq!(normalize(bad), Err(StorageError::InvalidPath), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Request::decode(&bytes);
            if let Ok(Response::Entries(e)) = Response::decode(&bytes) {
                prop_assert_eq!(e.iter().count(), e.len());
            }
            let _ = normalize(core::str::from_utf8(&bytes).unwrap_or(""));
        }

        #[test]
        fn mutated_messages_never_panic(
            path in "[a-z]{0,20}", data in proptest::collection::vec(any::<u8>(), 0..100),
            at in any::<usize>(), val in any::<u8>(),
        ) {
            let mut buf = [0u8; MAX_MESSAGE];
            let n = Request::Write { path: &path, data: &data }.encode(&mut buf).unwrap();
            buf[at % n] = val;
            let _ = Request::decode(&buf[..n]);
            let _ = Response::decode(&buf[..n]);
        }

        #[test]
        fn write_round_trips(path in "[ -~]{0,129}", data in proptest::collection::vec(any::<u8>(), 0..=MAX_FILE_SIZE)) {
            let req = Request::Write { path: &path, data: &data };
            let mut buf = [0u8; MAX_MESSAGE];
            let n = req.encode(&mut buf).unwrap();
            prop_assert_eq!(Request::decode(&buf[..n]).unwrap(), req);
        }
    }
}
