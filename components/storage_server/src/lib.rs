//! `storage_server`: what `services_storage` does with a `storage_api` request, without the
//! IPC: decode it, check the caller's access and handles, run it on pgfs, keep the durability
//! rule, encode the reply. Host-tested on `pgfs::mem::MemDevice`.
//!
//! Durability (`docs/storage.md`): data written or truncated through a handle is committed by
//! that handle's `Close` or by `Sync`; every other change is committed before its `Ok`. Before
//! a namespace change the service commits what is pending, so a failing change can only drop
//! itself; a failing write that makes pgfs roll back marks every handle with uncommitted
//! writes `Lost`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod access;
mod behind;
mod errors;
pub mod handles;
mod list;
mod ops;
mod start;

use alloc::format;
use alloc::string::String;
use core::fmt::Display;

use pgfs::{BlockDevice, Fs, Time};
use protocol::storage::{normalize, Request, Response, StorageError};

pub use access::Access;
pub use handles::Handles;
pub use start::{start, StartError, Startup};

/// A failed request: the wire error and the one line sent with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// The error code.
    pub error: StorageError,
    /// The message.
    pub message: String,
}

impl Fail {
    fn new(error: StorageError, why: impl Display) -> Fail {
        Fail {
            error,
            message: format!("{why}"),
        }
    }

    fn fs(e: &pgfs::Error) -> Fail {
        Fail::new(errors::to_wire(e), e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Fail {
        Fail::new(e, e)
    }
}

/// The service's state: the mounted filesystem (or why there is none) and the open handles.
pub struct Server<D: BlockDevice> {
    fs: Result<Fs<D>, StartError>,
    handles: Handles,
    gathered: Option<behind::Gathered>,
}

impl<D: BlockDevice> Server<D> {
    /// A server over what [`start`] gave.
    pub fn new(fs: Result<Fs<D>, StartError>) -> Server<D> {
        Server {
            fs,
            handles: Handles::default(),
            gathered: None,
        }
    }

    /// The filesystem, if mounted.
    pub fn filesystem(&mut self) -> Option<&mut Fs<D>> {
        self.fs.as_mut().ok()
    }

    /// The open handles.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// Executes the request `msg` from `caller` (whose capabilities gave `access`) at time
    /// `now`, and writes the reply into `reply` (≥ `MAX_MESSAGE` bytes); returns its length.
    pub fn serve(
        &mut self,
        caller: &str,
        access: &Access,
        now: Time,
        msg: &[u8],
        reply: &mut [u8],
    ) -> usize {
        let result = match Request::decode(msg) {
            Ok(req) => self.execute(caller, access, now, req, reply),
            Err(e) => Err(Fail::new(StorageError::BadRequest, e)),
        };
        match result {
            Ok(n) => n,
            Err(f) => Response::Err(f.error, &f.message)
                .encode(reply)
                .unwrap_or(0),
        }
    }

    fn fs(&mut self) -> Result<&mut Fs<D>, Fail> {
        self.fs
            .as_mut()
            .map_err(|why| Fail::new(StorageError::Unavailable, why))
    }

    /// Commits everything pending; on failure the handles with uncommitted writes lose them.
    fn commit(&mut self) -> Result<(), Fail> {
        let fs = self.fs()?;
        let had = fs.has_changes();
        match fs.sync() {
            Ok(()) => {
                self.handles.committed();
                Ok(())
            }
            Err(e) => Err(self.failed(had, &e)),
        }
    }

    /// Runs a changing pgfs call; a failure that rolled pgfs back loses the pending writes.
    fn mutate<T>(
        &mut self,
        f: impl FnOnce(&mut Fs<D>) -> Result<T, pgfs::Error>,
    ) -> Result<T, Fail> {
        let fs = self.fs()?;
        let had = fs.has_changes();
        f(fs).map_err(|e| self.failed(had, &e))
    }

    /// A namespace change: commit what is pending, make the change, commit it.
    fn change(
        &mut self,
        f: impl FnOnce(&mut Fs<D>) -> Result<(), pgfs::Error>,
    ) -> Result<(), Fail> {
        self.commit()?;
        self.mutate(f)?;
        self.commit()
    }

    fn failed(&mut self, had_changes: bool, e: &pgfs::Error) -> Fail {
        if matches!(e, pgfs::Error::NeedsRemount) {
            self.remount();
        } else if had_changes && self.fs().is_ok_and(|fs| !fs.has_changes()) {
            self.handles.rolled_back();
        }
        Fail::fs(e)
    }

    /// A commit failed while writing its superblock: only a mount can tell which root won.
    /// Pending writes count as lost (the newer root may or may not have been written).
    fn remount(&mut self) {
        self.handles.rolled_back();
        let fs = core::mem::replace(
            &mut self.fs,
            Err(StartError::Mount(pgfs::Error::NeedsRemount)),
        );
        if let Ok(fs) = fs {
            self.fs = Fs::mount(fs.into_device())
                .map(|(fs, _)| fs)
                .map_err(StartError::Mount);
        }
    }
}

/// A request's path: normalized (no leading `/`; the root is `""`) and absolute (pgfs's form).
fn paths(path: &str) -> Result<(&str, String), Fail> {
    let rel = normalize(path).map_err(|e| Fail::new(e, format_args!("{path:?}: {e}")))?;
    Ok((rel, format!("/{rel}")))
}

/// The time as pgfs keeps it, from microseconds since 1970.
pub fn time_from_us(us: u64) -> Time {
    Time {
        secs: us / 1_000_000,
        nanos: (us % 1_000_000) as u32 * 1000,
    }
}

/// The start-up lines `services_storage` logs (after `services_storage: `), defined once for
/// the service and the host's scenarios and benchmark that look for them.
pub mod msg {
    /// `<MOUNTED><generation> (superblock at block <b>) in <ms> ms`.
    pub const MOUNTED: &str = "mounted pgfs generation ";
    /// `<FORMATTED><ms> ms`.
    pub const FORMATTED: &str = "blank region: new pgfs filesystem in ";
    /// `<CONVERTED><files> files (<bytes> bytes), <n> damaged records kept in /lost+found`.
    pub const CONVERTED: &str = "converted the milestone-1 record store to pgfs: ";
    /// `<FELL_BACK>(<kind> at block <b>): fell back to generation <n>`.
    pub const FELL_BACK: &str = "the newest root is damaged ";
    /// `<UNAVAILABLE><reason>`.
    pub const UNAVAILABLE: &str = "filesystem unavailable: ";
}
