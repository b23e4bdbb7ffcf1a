//! The editor's files through `storage_api`: loading a file whole, and the
//! [`editor_vi::Storage`] that `:w` saves through.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use abi::Error;
use editor_vi::SaveError;
use protocol::storage::{OpenFlags, Request, Response, StorageError, MAX_LIST_REPLY};

/// Where the service's `storage_api` calls go (`services_storage` over IPC; a fake in tests).
pub trait Store {
    /// One `storage_api` call: `request` out, the reply into `reply`; returns its length.
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error>;
}

/// The most file data one `Read` or `Write` moves.
const CHUNK: usize = 16 * 1024;
/// The message buffers: a chunk and its header, or any other request or reply.
const MESSAGE: usize = CHUNK + MAX_LIST_REPLY;

/// Why a load or save failed: a line such as `not found`, `storage service: timed out`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The service answered with this error.
    Storage(StorageError),
    /// The IPC call failed.
    Ipc(Error),
    /// The reply was not what the request calls for.
    Unexpected,
    /// The file is over the editor's limit.
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Storage(e) => write!(f, "{e}"),
            Failure::Ipc(Error::NotFound) => f.write_str("storage service not running"),
            Failure::Ipc(e) => write!(f, "storage service: {e}"),
            Failure::Unexpected => f.write_str("unexpected reply from the storage service"),
            Failure::TooLarge { size, max } => write!(f, "too large ({size} bytes, max {max})"),
        }
    }
}

/// A request/reply pair of buffers and the calls made with them.
struct Calls<'s, S: Store> {
    store: &'s mut S,
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl<'s, S: Store> Calls<'s, S> {
    fn new(store: &'s mut S) -> Self {
        Calls {
            store,
            request: vec![0; MESSAGE],
            reply: vec![0; MESSAGE],
        }
    }

    /// One round trip; a service error is a [`Failure`].
    fn call(&mut self, req: &Request<'_>) -> Result<Response<'_>, Failure> {
        let n = req
            .encode(&mut self.request)
            .map_err(|_| Failure::Unexpected)?;
        let len = self
            .store
            .call(&self.request[..n], &mut self.reply)
            .map_err(Failure::Ipc)?;
        match Response::decode(&self.reply[..len.min(MESSAGE)]) {
            Ok(Response::Err(e, _)) => Err(Failure::Storage(e)),
            Ok(r) => Ok(r),
            Err(_) => Err(Failure::Unexpected),
        }
    }

    fn ok(&mut self, req: &Request<'_>) -> Result<(), Failure> {
        match self.call(req)? {
            Response::Ok => Ok(()),
            _ => Err(Failure::Unexpected),
        }
    }

    /// Opens `path`; the handle and the size.
    fn open(&mut self, path: &str, flags: OpenFlags) -> Result<(u32, u64), Failure> {
        match self.call(&Request::Open { path, flags })? {
            Response::Opened { handle, size } => Ok((handle, size)),
            _ => Err(Failure::Unexpected),
        }
    }

    /// Reads the whole file behind `handle` (at most `max` bytes, else `TooLarge`).
    fn read_all(&mut self, handle: u32, max: usize) -> Result<Vec<u8>, Failure> {
        let mut data = Vec::new();
        loop {
            let req = Request::Read {
                handle,
                offset: data.len() as u64,
                len: CHUNK as u32,
            };
            let chunk = match self.call(&req)? {
                Response::Data([]) => return Ok(data),
                Response::Data(chunk) => chunk,
                _ => return Err(Failure::Unexpected),
            };
            if data.len() + chunk.len() > max {
                let size = (data.len() + chunk.len()) as u64;
                return Err(Failure::TooLarge { size, max });
            }
            data.extend_from_slice(chunk);
        }
    }
}

/// The contents of `path` (empty if it does not exist: a new file), at most `max` bytes.
pub fn load<S: Store>(store: &mut S, path: &str, max: usize) -> Result<Vec<u8>, Failure> {
    let mut calls = Calls::new(store);
    let (handle, size) = match calls.open(path, OpenFlags::READ) {
        Ok(opened) => opened,
        Err(Failure::Storage(StorageError::NotFound)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let data = if size > max as u64 {
        Err(Failure::TooLarge { size, max })
    } else {
        calls.read_all(handle, max)
    };
    // Nothing was written through the handle: its Close cannot lose anything.
    let _ = calls.ok(&Request::Close { handle });
    data
}

/// Replaces `path`'s contents with `bytes`, durable when it returns `Ok`.
fn save<S: Store>(store: &mut S, path: &str, bytes: &[u8]) -> Result<(), String> {
    let mut calls = Calls::new(store);
    let flags = OpenFlags::WRITE
        .with(OpenFlags::CREATE)
        .with(OpenFlags::TRUNCATE);
    let (handle, _) = calls.open(path, flags).map_err(line)?;
    let mut wrote = Ok(());
    for (i, chunk) in bytes.chunks(CHUNK).enumerate() {
        let req = Request::Write {
            handle,
            offset: (i * CHUNK) as u64,
            data: chunk,
        };
        wrote = calls.ok(&req);
        if wrote.is_err() {
            break;
        }
    }
    let closed = calls.ok(&Request::Close { handle });
    wrote.map_err(line)?;
    closed.map_err(|e| {
        let mut s = String::new();
        let _ = write!(s, "close failed, not saved: {e}");
        s
    })
}

fn line(e: Failure) -> String {
    let mut s = String::new();
    let _ = write!(s, "{e}");
    s
}

/// `:w` through `storage_api`.
pub(crate) struct Saver<'s, S: Store>(pub &'s mut S);

impl<S: Store> editor_vi::Storage for Saver<'_, S> {
    fn save(&mut self, name: &str, bytes: &[u8]) -> Result<(), SaveError> {
        save(self.0, name, bytes).map_err(|why| SaveError::new(&why))
    }
}
