//! `storage_api`: the request/reply protocol of `services_storage` (the pgfs filesystem).
//!
//! One request message, one reply message, each at most [`MAX_MESSAGE`] bytes. Integers are
//! little-endian. A string or byte field is `u16 len` + bytes (data chunks: `u32 len` +
//! bytes). A message must be consumed exactly: trailing bytes make it invalid.
//!
//! # Requests
//!
//! | op   | request    | body                                        | success reply |
//! |------|------------|---------------------------------------------|---------------|
//! | 0x01 | `Open`     | `u8 flags`, path                            | `Opened`      |
//! | 0x02 | `Read`     | `u32 handle`, `u64 offset`, `u32 len` (≤ [`MAX_CHUNK`]) | `Data` (short at the end of the file, empty past it) |
//! | 0x03 | `Write`    | `u32 handle`, `u64 offset`, data (≤ [`MAX_CHUNK`]) | `Ok`   |
//! | 0x04 | `Truncate` | `u32 handle`, `u64 size`                    | `Ok`          |
//! | 0x05 | `Close`    | `u32 handle`                                | `Ok` (the handle's changes are durable) |
//! | 0x06 | `Sync`     | —                                           | `Ok` (every change is durable) |
//! | 0x07 | `Stat`     | path                                        | `Stat`        |
//! | 0x08 | `List`     | path, cursor (empty: from the start)        | `Entries`     |
//! | 0x09 | `Mkdir`    | path                                        | `Ok`          |
//! | 0x0A | `Rmdir`    | path (an empty directory)                   | `Ok`          |
//! | 0x0B | `Remove`   | path (a file)                               | `Ok`          |
//! | 0x0C | `Rename`   | from, to (atomic; replaces a file at `to`)  | `Ok`          |
//! | 0x0D | `FsInfo`   | —                                           | `FsInfo`      |
//!
//! Open flags ([`OpenFlags`]): bit 0 `WRITE` (the handle may write and truncate), bit 1
//! `CREATE` (create the file if missing), bit 2 `EXCLUSIVE` (with `CREATE`: fail with
//! `AlreadyExists` if it exists), bit 3 `TRUNCATE` (with `WRITE`: empty the file). Other bits
//! are refused.
//!
//! # Replies
//!
//! | tag  | reply     | body                                                             |
//! |------|-----------|------------------------------------------------------------------|
//! | 0x80 | `Ok`      | —                                                                |
//! | 0x81 | `Opened`  | `u32 handle`, `u64 size`                                         |
//! | 0x82 | `Data`    | data (`u32 len`)                                                 |
//! | 0x83 | `Stat`    | `u8 kind`, `u64 size`, `u64 mtime seconds`, `u32 mtime nanoseconds` |
//! | 0x84 | `Entries` | next cursor (empty: the listing is complete), `u16 count`, entries |
//! | 0x85 | `FsInfo`  | `u32 block size`, `u64 blocks`, `u64 used`, `u64 free`, `u64 files` |
//! | 0xFF | `Err`     | `u8 code`, `u64 detail`, message (UTF-8, ≤ [`MAX_ERROR_MESSAGE`]) |
//!
//! An entry is `u8 kind` (1 file, 2 directory), `u64 size`, `u64 mtime seconds`, `u8 len`,
//! name. An `Entries` reply is at most [`MAX_LIST_REPLY`] bytes, a `Data` reply the `len` asked
//! plus 5: a client's reply buffer needs 4096 bytes plus what it reads at a time. A cursor is opaque to clients (≤ [`MAX_CURSOR`] bytes): pass the one a reply gave to
//! get the next entries; every entry is listed exactly once, however many there are.
//!
//! Error codes: see [`StorageError::code`].
//!
//! # Paths
//!
//! `/`-separated components of 1..=[`MAX_NAME_LEN`] bytes of UTF-8 without NUL, not `.` or
//! `..`; at most [`MAX_PATH_LEN`] bytes in all. A leading `/` is optional (`/a/b` = `a/b`);
//! empty components (`a//b`, a trailing `/`) are refused. The root is `/` (or empty).
//! [`normalize`] checks a path.
//!
//! # Durability
//!
//! A handle's changes — the file's creation or truncation by `Open`, then its `Write`s and
//! `Truncate`s — are durable when its `Close` (or a `Sync`) returns `Ok`; until then a power
//! cut leaves the file as it was, so `Open`+`Write`+`Close` replaces a file at once. Every other
//! change (`Mkdir`, `Rmdir`, `Remove`, `Rename`) is durable when its `Ok` reply arrives. Each
//! commit takes everything pending, so another request may make a handle's changes durable
//! earlier. If a failure makes the service drop uncommitted changes, the handles that had them
//! answer `Lost` (see `docs/storage.md`).

use core::fmt;
use core::str;

use crate::wire::{cut, Reader, Writer};

pub use crate::MAX_MESSAGE;

/// The IPC endpoint name `services_storage` serves.
pub const ENDPOINT: &str = "storage_api";
/// The longest path, in bytes.
pub const MAX_PATH_LEN: usize = 1024;
/// The longest path component (a name), in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 255;
/// The longest cursor, in bytes.
pub const MAX_CURSOR: usize = 8 + 1 + MAX_NAME_LEN;
/// The most bytes an `Entries` reply takes, whatever [`MAX_MESSAGE`] is: with the `Data` of a
/// `Read` (at most the `len` asked + 5 bytes) and the small fixed replies, every reply fits a
/// client buffer of this size plus what the client chose to read.
pub const MAX_LIST_REPLY: usize = 4096;
/// The longest error message carried in an `Err` reply, in bytes (longer ones are cut at a
/// character boundary when encoding).
pub const MAX_ERROR_MESSAGE: usize = 256;
/// Bytes of a `Write` request before its data: op, handle, offset, data length.
const WRITE_HEADER: usize = 1 + 4 + 8 + 4;
/// The most data one `Read` or `Write` carries: what fits a message next to the header.
pub const MAX_CHUNK: usize = MAX_MESSAGE - 32;

// The largest messages fit: a Write or Data of MAX_CHUNK, a Rename of two longest paths, and
// a List with the longest path and cursor.
const _: () = assert!(WRITE_HEADER + MAX_CHUNK <= MAX_MESSAGE);
/// A path on the wire: `u16 len` + up to `MAX_PATH_LEN` bytes and a leading `/`.
const WIRE_PATH: usize = 2 + MAX_PATH_LEN + 1;
/// The longest `Rename`: op and two paths.
const RENAME_MAX: usize = 1 + 2 * WIRE_PATH;
const _: () = assert!(RENAME_MAX <= MAX_MESSAGE);
const _: () = assert!(1 + WIRE_PATH + 2 + MAX_CURSOR <= MAX_MESSAGE);

const OP_OPEN: u8 = 0x01;
const OP_READ: u8 = 0x02;
const OP_WRITE: u8 = 0x03;
const OP_TRUNCATE: u8 = 0x04;
const OP_CLOSE: u8 = 0x05;
const OP_SYNC: u8 = 0x06;
const OP_STAT: u8 = 0x07;
const OP_LIST: u8 = 0x08;
const OP_MKDIR: u8 = 0x09;
const OP_RMDIR: u8 = 0x0A;
const OP_REMOVE: u8 = 0x0B;
const OP_RENAME: u8 = 0x0C;
const OP_FSINFO: u8 = 0x0D;

const TAG_OK: u8 = 0x80;
const TAG_OPENED: u8 = 0x81;
const TAG_DATA: u8 = 0x82;
const TAG_STAT: u8 = 0x83;
const TAG_ENTRIES: u8 = 0x84;
const TAG_FSINFO: u8 = 0x85;
const TAG_ERR: u8 = 0xFF;

/// Bytes of an entry before its name: kind, size, mtime seconds, name length.
const ENTRY_HEADER: usize = 1 + 8 + 8 + 1;

macro_rules! storage_errors {
    ($($(#[$doc:meta])* $name:ident $({ $field:ident })? = $code:literal, $text:literal;)*) => {
        /// A storage error, as carried in an `Err` reply.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StorageError {
            $($(#[$doc])* $name $({
                /// The block at fault.
                $field: u64
            })?,)*
        }

        impl StorageError {
            /// The error's wire code.
            pub const fn code(self) -> u8 {
                match self { $(StorageError::$name { .. } => $code,)* }
            }

            /// The `u64` detail sent with the code (the block, for the errors that name one).
            pub const fn detail(self) -> u64 {
                match self {
                    $($(StorageError::$name { $field } => $field,)?)*
                    #[allow(unreachable_patterns, reason = "every variant may carry a block")]
                    _ => 0,
                }
            }

            /// The error with this wire code and detail, if the code is known.
            pub const fn from_wire(code: u8, detail: u64) -> Option<StorageError> {
                let _ = detail;
                match code {
                    $($code => Some(StorageError::$name $({ $field: detail })?),)*
                    _ => None,
                }
            }

            /// A short description (`Display` adds the block where there is one).
            pub const fn as_str(self) -> &'static str {
                match self { $(StorageError::$name { .. } => $text,)* }
            }
        }
    };
}

storage_errors! {
    /// No such file or directory.
    NotFound = 1, "not found";
    /// The path exists (`Mkdir`, `Open` with `EXCLUSIVE`).
    AlreadyExists = 2, "already exists";
    /// A name over [`MAX_NAME_LEN`] bytes or a path over [`MAX_PATH_LEN`].
    NameTooLong = 3, "name too long";
    /// An empty, `.` or `..` component, a NUL byte, or a rename of a directory into itself.
    InvalidPath = 4, "invalid path";
    /// The filesystem is full.
    NoSpace = 5, "no space left";
    /// Metadata at this block failed its checksum (the rest of the filesystem is readable).
    Damaged { block } = 6, "damaged metadata";
    /// A file or offset beyond what the filesystem addresses.
    TooLarge = 7, "file too large";
    /// The request could not be decoded.
    BadRequest = 8, "bad request";
    /// The disk failed at this block (`u64::MAX`: a flush).
    Io { block } = 9, "I/O error";
    /// A file operation on a directory.
    IsDirectory = 10, "is a directory";
    /// A path component that is a file used as a directory, or `Rmdir` of a file.
    NotDirectory = 11, "not a directory";
    /// The filesystem is not mounted (see the service's start-up log for why).
    Unavailable = 12, "storage unavailable";
    /// `Rmdir` of a directory that still has entries.
    NotEmpty = 13, "directory not empty";
    /// A handle this caller does not have open (or whose file was removed).
    BadHandle = 14, "bad handle";
    /// The caller has the most handles it may have open ([`MAX_HANDLES`]).
    TooManyOpen = 15, "too many open files";
    /// The caller's capabilities do not grant this path (or this kind of access).
    Denied = 16, "permission denied";
    /// A write through a read-only handle, or a filesystem mounted read-only.
    ReadOnly = 17, "read-only";
    /// A file data block failed its checksum (the file's other blocks are readable).
    DataDamaged { block } = 18, "damaged data";
    /// A failure dropped this handle's uncommitted writes; the file is as at the last commit.
    Lost = 19, "unsynced writes lost";
}

/// The most handles one caller may have open at once.
pub const MAX_HANDLES: usize = 16;

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Damaged { block } | StorageError::DataDamaged { block } => {
                write!(f, "{} at block {block}", self.as_str())
            }
            StorageError::Io { block: u64::MAX } => f.write_str("I/O error on flush"),
            StorageError::Io { block } => write!(f, "I/O error at block {block}"),
            e => f.write_str(e.as_str()),
        }
    }
}

pub use crate::wire::WireError;

/// How [`Request::Open`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenFlags(u8);

impl OpenFlags {
    /// Read only; the file must exist.
    pub const READ: OpenFlags = OpenFlags(0);
    /// The handle may write and truncate.
    pub const WRITE: OpenFlags = OpenFlags(1);
    /// Create the file if it does not exist.
    pub const CREATE: OpenFlags = OpenFlags(2);
    /// With `CREATE`: fail with `AlreadyExists` if the file exists.
    pub const EXCLUSIVE: OpenFlags = OpenFlags(4);
    /// With `WRITE`: empty the file.
    pub const TRUNCATE: OpenFlags = OpenFlags(8);
    const ALL: u8 = 0x0F;

    /// The flags from their wire byte; `None` for unknown bits.
    pub const fn from_bits(bits: u8) -> Option<OpenFlags> {
        if bits & !Self::ALL == 0 {
            Some(OpenFlags(bits))
        } else {
            None
        }
    }

    /// The wire byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets of flags.
    pub const fn with(self, other: OpenFlags) -> OpenFlags {
        OpenFlags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn has(self, other: OpenFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A `storage_api` request. Paths are carried as sent; the server [`normalize`]s them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Open (and maybe create or truncate) a file; replies `Opened`.
    Open {
        /// The file.
        path: &'a str,
        /// How.
        flags: OpenFlags,
    },
    /// Read up to `len` bytes at `offset`; replies `Data`.
    Read {
        /// An open handle.
        handle: u32,
        /// Byte offset.
        offset: u64,
        /// Bytes wanted (≤ [`MAX_CHUNK`]).
        len: u32,
    },
    /// Write `data` at `offset` (a gap past the end reads as zeros).
    Write {
        /// A handle opened with `WRITE`.
        handle: u32,
        /// Byte offset.
        offset: u64,
        /// The bytes (≤ [`MAX_CHUNK`]).
        data: &'a [u8],
    },
    /// Set the file's size (cut or extended with zeros).
    Truncate {
        /// A handle opened with `WRITE`.
        handle: u32,
        /// The new size.
        size: u64,
    },
    /// Commit the handle's changes and close it.
    Close {
        /// The handle.
        handle: u32,
    },
    /// Commit every change.
    Sync,
    /// Kind, size and modification time of a path.
    Stat {
        /// The path.
        path: &'a str,
    },
    /// Entries of a directory after `cursor`.
    List {
        /// The directory.
        path: &'a str,
        /// Empty for the first page, else the cursor the previous reply gave.
        cursor: &'a [u8],
    },
    /// Create a directory (its parent must exist).
    Mkdir {
        /// The new directory.
        path: &'a str,
    },
    /// Remove an empty directory.
    Rmdir {
        /// The directory.
        path: &'a str,
    },
    /// Remove a file.
    Remove {
        /// The file.
        path: &'a str,
    },
    /// Move `from` to `to` atomically (replacing a file at `to`).
    Rename {
        /// The current path.
        from: &'a str,
        /// The new path.
        to: &'a str,
    },
    /// Size and usage of the filesystem.
    FsInfo,
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A file.
    File,
    /// A directory.
    Dir,
}

impl Kind {
    fn wire(self) -> u8 {
        match self {
            Kind::File => 1,
            Kind::Dir => 2,
        }
    }

    fn from_wire(k: u8) -> Result<Kind, WireError> {
        match k {
            1 => Ok(Kind::File),
            2 => Ok(Kind::Dir),
            t => Err(WireError::UnknownTag(t)),
        }
    }
}

/// What a `Stat` reply says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// File or directory.
    pub kind: Kind,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Modification time, seconds since 1970-01-01 UTC.
    pub mtime_secs: u64,
    /// Nanoseconds of the modification time.
    pub mtime_nanos: u32,
}

/// One entry of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name within the listed directory.
    pub name: &'a str,
    /// File or directory.
    pub kind: Kind,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Modification time, seconds since 1970-01-01 UTC.
    pub mtime_secs: u64,
}

/// A decoded `Entries` reply: borrowed, validated bytes; iterate with [`Entries::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entries<'a> {
    cursor: &'a [u8],
    count: u16,
    body: &'a [u8],
}

impl<'a> Entries<'a> {
    /// The cursor for the next page; empty when the listing is complete.
    pub fn next_cursor(&self) -> &'a [u8] {
        self.cursor
    }

    /// Whether this is the last page.
    pub fn is_last(&self) -> bool {
        self.cursor.is_empty()
    }

    /// The number of entries in the reply.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Whether the reply has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The entries, in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let mut r = Reader { buf: self.body };
        // Validated by `decode`: every read succeeds.
        (0..self.count).map_while(move |_| read_entry(&mut r).ok())
    }
}

/// What an `FsInfo` reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsInfo {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks of the filesystem (the whole user-data region).
    pub blocks: u64,
    /// Blocks in use (metadata and data).
    pub used: u64,
    /// Blocks free.
    pub free: u64,
    /// Files and directories.
    pub files: u64,
}

/// A `storage_api` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// The request succeeded.
    Ok,
    /// A file was opened.
    Opened {
        /// The handle for Read, Write, Truncate and Close.
        handle: u32,
        /// The file's size.
        size: u64,
    },
    /// Bytes read.
    Data(&'a [u8]),
    /// What a path is.
    Stat(Stat),
    /// A page of a listing. Build one with [`EntriesWriter`].
    Entries(Entries<'a>),
    /// Filesystem size and usage.
    FsInfo(FsInfo),
    /// The request failed; the message (UTF-8) says more.
    Err(StorageError, &'a str),
}

/// A path field: `u16 len` + the path (one leading `/` over [`MAX_PATH_LEN`] allowed).
fn put_path(w: &mut Writer<'_>, p: &str) -> Result<(), WireError> {
    w.blob(p.as_bytes(), MAX_PATH_LEN + 1)
}

fn read_entry<'a>(r: &mut Reader<'a>) -> Result<Entry<'a>, WireError> {
    let kind = Kind::from_wire(r.u8()?)?;
    let size = r.u64()?;
    let mtime_secs = r.u64()?;
    let n = usize::from(r.u8()?);
    let name = str::from_utf8(r.bytes(n)?).map_err(|_| WireError::NotUtf8)?;
    Ok(Entry {
        name,
        kind,
        size,
        mtime_secs,
    })
}

impl<'a> Request<'a> {
    /// Encodes the request into `buf`; returns the message length. `TooLong` for a path over
    /// [`MAX_PATH_LEN`] + 1 bytes (a leading `/` is allowed), a chunk over [`MAX_CHUNK`] or a
    /// cursor over [`MAX_CURSOR`]; `Truncated` if `buf` is too small ([`MAX_MESSAGE`] always
    /// suffices).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        w.u8(self.op())?;
        match *self {
            Request::Open { path, flags } => {
                w.u8(flags.bits())?;
                put_path(&mut w, path)?;
            }
            Request::Read {
                handle,
                offset,
                len,
            } => {
                if len as usize > MAX_CHUNK {
                    return Err(WireError::TooLong);
                }
                w.u32(handle)?;
                w.u64(offset)?;
                w.u32(len)?;
            }
            Request::Write {
                handle,
                offset,
                data,
            } => {
                w.u32(handle)?;
                w.u64(offset)?;
                w.blob32(data, MAX_CHUNK)?;
            }
            Request::Truncate { handle, size } => {
                w.u32(handle)?;
                w.u64(size)?;
            }
            Request::Close { handle } => w.u32(handle)?,
            Request::Sync | Request::FsInfo => {}
            Request::Stat { path }
            | Request::Mkdir { path }
            | Request::Rmdir { path }
            | Request::Remove { path } => put_path(&mut w, path)?,
            Request::List { path, cursor } => {
                put_path(&mut w, path)?;
                w.blob(cursor, MAX_CURSOR)?;
            }
            Request::Rename { from, to } => {
                put_path(&mut w, from)?;
                put_path(&mut w, to)?;
            }
        }
        Ok(w.pos)
    }

    fn op(&self) -> u8 {
        match self {
            Request::Open { .. } => OP_OPEN,
            Request::Read { .. } => OP_READ,
            Request::Write { .. } => OP_WRITE,
            Request::Truncate { .. } => OP_TRUNCATE,
            Request::Close { .. } => OP_CLOSE,
            Request::Sync => OP_SYNC,
            Request::Stat { .. } => OP_STAT,
            Request::List { .. } => OP_LIST,
            Request::Mkdir { .. } => OP_MKDIR,
            Request::Rmdir { .. } => OP_RMDIR,
            Request::Remove { .. } => OP_REMOVE,
            Request::Rename { .. } => OP_RENAME,
            Request::FsInfo => OP_FSINFO,
        }
    }

    /// Decodes a request message. Never panics; any malformed message is an error (the
    /// server replies `Err(BadRequest)`). Paths are not validated here: see [`normalize`].
    pub fn decode(msg: &'a [u8]) -> Result<Request<'a>, WireError> {
        let mut r = Reader { buf: msg };
        let path = |r: &mut Reader<'a>| r.str(MAX_PATH_LEN + 1);
        let req = match r.u8()? {
            OP_OPEN => {
                let bits = r.u8()?;
                let flags = OpenFlags::from_bits(bits).ok_or(WireError::UnknownTag(bits))?;
                Request::Open {
                    flags,
                    path: path(&mut r)?,
                }
            }
            OP_READ => {
                let (handle, offset, len) = (r.u32()?, r.u64()?, r.u32()?);
                if len as usize > MAX_CHUNK {
                    return Err(WireError::TooLong);
                }
                Request::Read {
                    handle,
                    offset,
                    len,
                }
            }
            OP_WRITE => Request::Write {
                handle: r.u32()?,
                offset: r.u64()?,
                data: r.blob32(MAX_CHUNK)?,
            },
            OP_TRUNCATE => Request::Truncate {
                handle: r.u32()?,
                size: r.u64()?,
            },
            OP_CLOSE => Request::Close { handle: r.u32()? },
            OP_SYNC => Request::Sync,
            OP_STAT => Request::Stat {
                path: path(&mut r)?,
            },
            OP_LIST => Request::List {
                path: path(&mut r)?,
                cursor: r.blob(MAX_CURSOR)?,
            },
            OP_MKDIR => Request::Mkdir {
                path: path(&mut r)?,
            },
            OP_RMDIR => Request::Rmdir {
                path: path(&mut r)?,
            },
            OP_REMOVE => Request::Remove {
                path: path(&mut r)?,
            },
            OP_RENAME => Request::Rename {
                from: path(&mut r)?,
                to: path(&mut r)?,
            },
            OP_FSINFO => Request::FsInfo,
            op => return Err(WireError::UnknownTag(op)),
        };
        r.end()?;
        Ok(req)
    }

    /// The request's name (`"open"`, `"write"`, ...), for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Open { .. } => "open",
            Request::Read { .. } => "read",
            Request::Write { .. } => "write",
            Request::Truncate { .. } => "truncate",
            Request::Close { .. } => "close",
            Request::Sync => "sync",
            Request::Stat { .. } => "stat",
            Request::List { .. } => "list",
            Request::Mkdir { .. } => "mkdir",
            Request::Rmdir { .. } => "rmdir",
            Request::Remove { .. } => "remove",
            Request::Rename { .. } => "rename",
            Request::FsInfo => "fsinfo",
        }
    }
}

impl<'a> Response<'a> {
    /// Encodes the reply into `buf`; returns the message length. An `Err` message longer than
    /// [`MAX_ERROR_MESSAGE`] is cut. `TooLong` for data over [`MAX_CHUNK`]; `Truncated` if
    /// `buf` is too small.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        match *self {
            Response::Ok => w.u8(TAG_OK)?,
            Response::Opened { handle, size } => {
                w.u8(TAG_OPENED)?;
                w.u32(handle)?;
                w.u64(size)?;
            }
            Response::Data(data) => {
                w.u8(TAG_DATA)?;
                w.blob32(data, MAX_CHUNK)?;
            }
            Response::Stat(s) => {
                w.u8(TAG_STAT)?;
                w.u8(s.kind.wire())?;
                w.u64(s.size)?;
                w.u64(s.mtime_secs)?;
                w.u32(s.mtime_nanos)?;
            }
            Response::Entries(e) => {
                w.u8(TAG_ENTRIES)?;
                w.blob(e.cursor, MAX_CURSOR)?;
                w.u16(e.count)?;
                w.bytes(e.body)?;
            }
            Response::FsInfo(i) => {
                w.u8(TAG_FSINFO)?;
                w.u32(i.block_size)?;
                w.u64(i.blocks)?;
                w.u64(i.used)?;
                w.u64(i.free)?;
                w.u64(i.files)?;
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
            TAG_OPENED => Response::Opened {
                handle: r.u32()?,
                size: r.u64()?,
            },
            TAG_DATA => Response::Data(r.blob32(MAX_CHUNK)?),
            TAG_STAT => Response::Stat(Stat {
                kind: Kind::from_wire(r.u8()?)?,
                size: r.u64()?,
                mtime_secs: r.u64()?,
                mtime_nanos: r.u32()?,
            }),
            TAG_ENTRIES => {
                let cursor = r.blob(MAX_CURSOR)?;
                let count = r.u16()?;
                let body = r.buf;
                for _ in 0..count {
                    read_entry(&mut r)?;
                }
                let used = body.len() - r.buf.len();
                Response::Entries(Entries {
                    cursor,
                    count,
                    body: &body[..used],
                })
            }
            TAG_FSINFO => Response::FsInfo(FsInfo {
                block_size: r.u32()?,
                blocks: r.u64()?,
                used: r.u64()?,
                free: r.u64()?,
                files: r.u64()?,
            }),
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

/// Builds an `Entries` reply directly in a message buffer (no allocation): push entries while
/// they fit, then [`finish`](Self::finish) with the cursor of the last one pushed (or an empty
/// cursor when the directory has no more).
///
/// ```
/// use protocol::storage::{Entry, EntriesWriter, Kind, Response};
/// let mut buf = [0u8; protocol::MAX_MESSAGE];
/// let mut w = EntriesWriter::new(&mut buf).unwrap();
/// assert!(w.push(Entry { name: "notes", kind: Kind::Dir, size: 0, mtime_secs: 0 }));
/// let n = w.finish(b"").unwrap();
/// let Ok(Response::Entries(e)) = Response::decode(&buf[..n]) else { panic!() };
/// assert_eq!((e.len(), e.is_last()), (1, true));
/// ```
#[derive(Debug)]
pub struct EntriesWriter<'b> {
    buf: &'b mut [u8],
    /// Bytes of entries written after the reserved header.
    pos: usize,
    count: u16,
}

impl<'b> EntriesWriter<'b> {
    /// Room kept for the tag, the longest cursor and the count.
    const HEADER: usize = 1 + 2 + MAX_CURSOR + 2;

    /// Starts an `Entries` reply in `buf` (at most [`MAX_LIST_REPLY`] bytes of it are used).
    /// `None` if `buf` cannot hold even an empty reply.
    pub fn new(buf: &'b mut [u8]) -> Option<Self> {
        let cap = buf.len().min(MAX_LIST_REPLY);
        (cap >= Self::HEADER).then(|| EntriesWriter {
            buf: &mut buf[..cap],
            pos: Self::HEADER,
            count: 0,
        })
    }

    /// Appends an entry; `false` (nothing written) when it does not fit or its name is empty
    /// or over [`MAX_NAME_LEN`] bytes.
    pub fn push(&mut self, e: Entry<'_>) -> bool {
        let need = ENTRY_HEADER + e.name.len();
        if e.name.is_empty()
            || e.name.len() > MAX_NAME_LEN
            || self.count == u16::MAX
            || self.pos + need > self.buf.len()
        {
            return false;
        }
        let mut w = Writer {
            buf: &mut self.buf[..],
            pos: self.pos,
        };
        let ok = w.u8(e.kind.wire()).is_ok()
            && w.u64(e.size).is_ok()
            && w.u64(e.mtime_secs).is_ok()
            && w.u8(e.name.len() as u8).is_ok()
            && w.bytes(e.name.as_bytes()).is_ok();
        if ok {
            self.pos = w.pos;
            self.count += 1;
        }
        ok
    }

    /// The number of entries pushed so far.
    pub fn count(&self) -> usize {
        usize::from(self.count)
    }

    /// Writes the header with `next_cursor` and moves the entries up behind it; returns the
    /// message length. `TooLong` for a cursor over [`MAX_CURSOR`].
    pub fn finish(self, next_cursor: &[u8]) -> Result<usize, WireError> {
        if next_cursor.len() > MAX_CURSOR {
            return Err(WireError::TooLong);
        }
        let head = 1 + 2 + next_cursor.len() + 2;
        let mut w = Writer::new(&mut self.buf[..head]);
        w.u8(TAG_ENTRIES)?;
        w.blob(next_cursor, MAX_CURSOR)?;
        w.u16(self.count)?;
        self.buf.copy_within(Self::HEADER..self.pos, head);
        Ok(head + self.pos - Self::HEADER)
    }
}

/// Checks a path against the rules (module docs) and returns it without its leading `/`.
/// The root (`""` or `"/"`) normalizes to `""`; it is valid only where a directory is meant.
pub fn normalize(path: &str) -> Result<&str, StorageError> {
    let p = path.strip_prefix('/').unwrap_or(path);
    if p.len() > MAX_PATH_LEN {
        return Err(StorageError::NameTooLong);
    }
    if p.is_empty() {
        return Ok(p);
    }
    for c in p.split('/') {
        if c.is_empty() || c == "." || c == ".." || c.contains('\0') {
            return Err(StorageError::InvalidPath);
        }
        if c.len() > MAX_NAME_LEN {
            return Err(StorageError::NameTooLong);
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests;
