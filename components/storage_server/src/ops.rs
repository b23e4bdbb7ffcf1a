//! One handler per `storage_api` request.

use alloc::string::String;

use pgfs::{BlockDevice, FileKind, Time};
use protocol::storage::{
    FsInfo, Kind, OpenFlags, Request, Response, Stat, StorageError, MAX_CHUNK,
};

use crate::{paths, Access, Fail, Server};

impl<D: BlockDevice> Server<D> {
    pub(crate) fn execute(
        &mut self,
        caller: &str,
        access: &Access,
        now: Time,
        req: Request<'_>,
        reply: &mut [u8],
    ) -> Result<usize, Fail> {
        self.fs()?;
        if !matches!(req, Request::Write { .. }) {
            self.hand_over(now);
        }
        let r = match req {
            Request::Open { path, flags } => {
                return self.open(caller, access, now, path, flags, reply)
            }
            Request::Read {
                handle,
                offset,
                len,
            } => return self.read(caller, handle, offset, len, reply),
            Request::Write {
                handle,
                offset,
                data,
            } => self.write_behind(caller, handle, offset, data, now),
            Request::Truncate { handle, size } => {
                self.write(caller, handle, |fs, p| fs.truncate(p, size, now))
            }
            Request::Close { handle } => self.close(caller, handle),
            Request::Sync => self.sync(caller),
            Request::Stat { path } => return self.stat(access, path, reply),
            Request::List { path, cursor } => return self.list(access, path, cursor, reply),
            Request::Mkdir { path } => self.mkdir(access, path, now),
            Request::Rmdir { path } => self.rmdir(access, path),
            Request::Remove { path } => self.remove(access, path),
            Request::Rename { from, to } => self.rename(access, from, to),
            Request::FsInfo => return self.fsinfo(reply),
        };
        r.map(|()| encode(Response::Ok, reply))
    }

    fn open(
        &mut self,
        caller: &str,
        access: &Access,
        now: Time,
        path: &str,
        flags: OpenFlags,
        reply: &mut [u8],
    ) -> Result<usize, Fail> {
        let (rel, abs) = paths(path)?;
        let write = flags.has(OpenFlags::WRITE);
        if flags.has(OpenFlags::TRUNCATE) && !write {
            return Err(Fail::new(StorageError::BadRequest, "TRUNCATE needs WRITE"));
        }
        access.check(rel, write || flags.has(OpenFlags::CREATE))?;
        self.handles.room(caller)?;
        let existing = match self.fs()?.stat(&abs) {
            Ok(s) if s.kind == FileKind::Dir => return Err(StorageError::IsDirectory.into()),
            Ok(_) if flags.has(OpenFlags::CREATE.with(OpenFlags::EXCLUSIVE)) => {
                return Err(Fail::new(
                    StorageError::AlreadyExists,
                    format_args!("{abs}: exists"),
                ))
            }
            Ok(s) => Some(s.size),
            Err(pgfs::Error::NotFound) if flags.has(OpenFlags::CREATE) => None,
            Err(e) => return Err(Fail::fs(&e)),
        };
        // Creating and truncating are the handle's first changes: committed with its writes
        // (at Close or Sync), so `open, write, close` replaces a file all at once.
        let change = match existing {
            None => Some(
                self.commit()
                    .and_then(|()| self.mutate(|fs| fs.create(&abs, now))),
            ),
            Some(size) if size > 0 && flags.has(OpenFlags::TRUNCATE) => Some(
                self.commit()
                    .and_then(|()| self.mutate(|fs| fs.truncate(&abs, 0, now))),
            ),
            Some(_) => None,
        };
        let changed = change.transpose()?.is_some();
        let size = match existing {
            Some(size) if !flags.has(OpenFlags::TRUNCATE) => size,
            _ => 0,
        };
        let handle = self.handles.open(caller, abs, write)?;
        if changed {
            self.handles.get(caller, handle)?.dirty = true;
        }
        Ok(encode(Response::Opened { handle, size }, reply))
    }

    fn read(
        &mut self,
        caller: &str,
        handle: u32,
        offset: u64,
        len: u32,
        reply: &mut [u8],
    ) -> Result<usize, Fail> {
        let path = self.handles.get(caller, handle)?.path.clone();
        // On the heap: a chunk may be longer than the service's stack.
        let mut buf = alloc::vec![0u8; (len as usize).min(MAX_CHUNK)];
        let want = buf.len();
        let n = self
            .fs()?
            .read(&path, offset, &mut buf[..want])
            .map_err(|e| Fail::new(crate::errors::to_wire(&e), format_args!("{path}: {e}")))?;
        Ok(encode(Response::Data(&buf[..n]), reply))
    }

    /// A write or truncate through a handle: uncommitted until Close or Sync.
    pub(crate) fn write(
        &mut self,
        caller: &str,
        handle: u32,
        f: impl FnOnce(&mut pgfs::Fs<D>, &str) -> Result<(), pgfs::Error>,
    ) -> Result<(), Fail> {
        let path = self.writable_path(caller, handle)?;
        self.mutate(|fs| f(fs, &path))?;
        self.handles.get(caller, handle)?.dirty = true;
        Ok(())
    }

    /// The path of `caller`'s `handle`, which must have been opened with `WRITE`.
    pub(crate) fn writable_path(&mut self, caller: &str, handle: u32) -> Result<String, Fail> {
        let h = self.handles.get(caller, handle)?;
        if !h.write {
            return Err(Fail::new(
                StorageError::ReadOnly,
                "handle opened without WRITE",
            ));
        }
        Ok(h.path.clone())
    }

    fn close(&mut self, caller: &str, handle: u32) -> Result<(), Fail> {
        let h = self.handles.close(caller, handle)?;
        match h.fate {
            crate::handles::Fate::Lost => Err(Fail::new(
                StorageError::Lost,
                format_args!(
                    "{}: a failure dropped the writes since the last commit",
                    h.path
                ),
            )),
            _ if h.dirty => self.commit(),
            _ => Ok(()),
        }
    }

    fn sync(&mut self, caller: &str) -> Result<(), Fail> {
        self.commit()?;
        if self.handles.has_lost(caller) {
            return Err(Fail::new(
                StorageError::Lost,
                "a failure dropped writes of an open handle; close it to see which",
            ));
        }
        Ok(())
    }

    fn stat(&mut self, access: &Access, path: &str, reply: &mut [u8]) -> Result<usize, Fail> {
        let (rel, abs) = paths(path)?;
        access.check(rel, false)?;
        let s = self
            .fs()?
            .stat(&abs)
            .map_err(|e| Fail::new(crate::errors::to_wire(&e), format_args!("{abs}: {e}")))?;
        Ok(encode(Response::Stat(wire_stat(&s)), reply))
    }

    fn mkdir(&mut self, access: &Access, path: &str, now: Time) -> Result<(), Fail> {
        let (rel, abs) = paths(path)?;
        access.check(rel, true)?;
        self.change(|fs| fs.mkdir(&abs, now))
    }

    fn rmdir(&mut self, access: &Access, path: &str) -> Result<(), Fail> {
        let (rel, abs) = paths(path)?;
        access.check(rel, true)?;
        self.change(|fs| fs.rmdir(&abs))
    }

    fn remove(&mut self, access: &Access, path: &str) -> Result<(), Fail> {
        let (rel, abs) = paths(path)?;
        access.check(rel, true)?;
        self.change(|fs| fs.remove(&abs))?;
        self.handles.removed(&abs);
        Ok(())
    }

    fn rename(&mut self, access: &Access, from: &str, to: &str) -> Result<(), Fail> {
        let (from_rel, from_abs) = paths(from)?;
        let (to_rel, to_abs) = paths(to)?;
        access.check(from_rel, true)?;
        access.check(to_rel, true)?;
        self.change(|fs| fs.rename(&from_abs, &to_abs))?;
        if from_abs != to_abs {
            self.handles.removed(&to_abs);
            self.handles.renamed(&from_abs, &to_abs);
        }
        Ok(())
    }

    fn fsinfo(&mut self, reply: &mut [u8]) -> Result<usize, Fail> {
        let s = self.fs()?.statfs();
        let info = FsInfo {
            block_size: s.block_size as u32,
            blocks: s.total_blocks,
            used: s.used_blocks + s.reserved_blocks,
            free: s.free_blocks,
            files: s.files,
        };
        Ok(encode(Response::FsInfo(info), reply))
    }
}

pub(crate) fn wire_kind(k: FileKind) -> Kind {
    match k {
        FileKind::File => Kind::File,
        FileKind::Dir => Kind::Dir,
    }
}

fn wire_stat(s: &pgfs::Stat) -> Stat {
    Stat {
        kind: wire_kind(s.kind),
        size: s.size,
        mtime_secs: s.mtime.secs,
        mtime_nanos: s.mtime.nanos,
    }
}

/// Encodes a reply the caller's buffer always has room for.
pub(crate) fn encode(r: Response<'_>, reply: &mut [u8]) -> usize {
    r.encode(reply).unwrap_or(0)
}
