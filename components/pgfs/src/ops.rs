//! The operations: create, mkdir, rmdir, remove, write, read, truncate, rename, stat, list.
//!
//! Every changing operation checks everything it can before its first change, and runs in
//! [`Fs::mutate`]: a failure after a change rolls the state back to the last commit.

use crate::device::BlockDevice;
use crate::error::Error;
use crate::fs::Fs;
use crate::layout::{
    decode_data, encode_data, FileKind, Inode, Key, KIND_DATA, KIND_DIRENT, KIND_INODE,
};
use crate::{crc::crc32c, Time, BLOCK_SIZE, MAX_FILE_SIZE, MAX_NAME, ROOT_OID};
use alloc::string::String;
use alloc::vec::Vec;

const BS: u64 = BLOCK_SIZE as u64;

/// What `stat` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Inode number (never reused).
    pub inode: u64,
    /// File or directory.
    pub kind: FileKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time (the caller's clock).
    pub mtime: Time,
}

/// Where a listing stopped: pass it back to resume after this entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The entry's name hash.
    pub hash: u64,
    /// The entry's name.
    pub name: String,
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name.
    pub name: String,
    /// File or directory.
    pub kind: FileKind,
    /// Its inode.
    pub inode: u64,
    /// Resume a listing after this entry.
    pub cursor: Cursor,
}

/// Splits an absolute path into checked components (`/` has none).
pub fn components(path: &str) -> Result<Vec<&str>, Error> {
    let rest = path.strip_prefix('/').ok_or(Error::InvalidPath)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let comps: Vec<&str> = rest.split('/').collect();
    for c in &comps {
        if c.is_empty() || *c == "." || *c == ".." || c.contains('\0') {
            return Err(Error::InvalidPath);
        }
        if c.len() > MAX_NAME {
            return Err(Error::NameTooLong);
        }
    }
    Ok(comps)
}

impl<D: BlockDevice> Fs<D> {
    /// The directory at `comps`.
    fn dir_at(&mut self, comps: &[&str]) -> Result<u64, Error> {
        let mut dir = ROOT_OID;
        for c in comps {
            dir = match self.lookup(dir, c)? {
                Some((oid, FileKind::Dir)) => oid,
                Some(_) => return Err(Error::NotDir),
                None => return Err(Error::NotFound),
            };
        }
        Ok(dir)
    }

    /// `(parent directory, last name)` of a path other than `/`.
    fn parent<'p>(&mut self, comps: &[&'p str]) -> Result<(u64, &'p str), Error> {
        let (name, dirs) = comps.split_last().ok_or(Error::InvalidPath)?;
        Ok((self.dir_at(dirs)?, name))
    }

    /// The inode and kind at `path`.
    fn resolve(&mut self, path: &str) -> Result<(u64, FileKind), Error> {
        let comps = components(path)?;
        if comps.is_empty() {
            return Ok((ROOT_OID, FileKind::Dir));
        }
        let (dir, name) = self.parent(&comps)?;
        self.lookup(dir, name)?.ok_or(Error::NotFound)
    }

    fn file_at(&mut self, path: &str) -> Result<u64, Error> {
        match self.resolve(path)? {
            (oid, FileKind::File) => Ok(oid),
            _ => Err(Error::IsDir),
        }
    }

    pub(crate) fn inode(&mut self, oid: u64) -> Result<Inode, Error> {
        let v = self.get(Key::new(oid, KIND_INODE, 0))?;
        v.as_deref()
            .and_then(Inode::decode)
            .ok_or(Error::BadItem { oid })
    }

    fn set_inode(&mut self, oid: u64, ino: &Inode) -> Result<(), Error> {
        self.put(Key::new(oid, KIND_INODE, 0), &ino.encode())
    }

    /// Creates an empty file (`Exists` if the name is taken).
    pub fn create(&mut self, path: &str, now: Time) -> Result<(), Error> {
        self.make(path, FileKind::File, now)
    }

    /// Creates a directory (`Exists` if the name is taken).
    pub fn mkdir(&mut self, path: &str, now: Time) -> Result<(), Error> {
        self.make(path, FileKind::Dir, now)
    }

    fn make(&mut self, path: &str, kind: FileKind, now: Time) -> Result<(), Error> {
        let comps = components(path)?;
        self.mutate(|fs| {
            let (dir, name) = fs.parent(&comps)?;
            if fs.lookup(dir, name)?.is_some() {
                return Err(Error::Exists);
            }
            if !fs.link_fits(dir, name)? {
                return Err(Error::HashCollision);
            }
            let oid = fs.cur.next_oid;
            fs.cur.next_oid = oid.checked_add(1).ok_or(Error::BadItem { oid: 0 })?;
            fs.cur.files += 1;
            let ino = Inode {
                kind,
                size: 0,
                mtime_s: now.secs,
                mtime_ns: now.nanos,
            };
            fs.set_inode(oid, &ino)?;
            fs.link(dir, name, oid, kind)
        })
    }

    /// Removes a file (`IsDir` for a directory).
    pub fn remove(&mut self, path: &str) -> Result<(), Error> {
        let comps = components(path)?;
        self.mutate(|fs| {
            let (dir, name) = fs.parent(&comps)?;
            match fs.lookup(dir, name)? {
                Some((oid, FileKind::File)) => {
                    fs.unlink(dir, name)?;
                    fs.drop_file(oid)
                }
                Some(_) => Err(Error::IsDir),
                None => Err(Error::NotFound),
            }
        })
    }

    /// Frees a file's blocks and inode (its entry is already gone).
    fn drop_file(&mut self, oid: u64) -> Result<(), Error> {
        self.free_blocks_from(oid, 0)?;
        self.del(Key::new(oid, KIND_INODE, 0))?;
        self.cur.files = self.cur.files.saturating_sub(1);
        Ok(())
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, path: &str) -> Result<(), Error> {
        let comps = components(path)?;
        self.mutate(|fs| {
            let (dir, name) = fs.parent(&comps)?;
            let oid = match fs.lookup(dir, name)? {
                Some((oid, FileKind::Dir)) => oid,
                Some(_) => return Err(Error::NotDir),
                None => return Err(Error::NotFound),
            };
            if fs.has_entries(oid)? {
                return Err(Error::NotEmpty);
            }
            fs.unlink(dir, name)?;
            fs.del(Key::new(oid, KIND_INODE, 0))?;
            fs.cur.files = fs.cur.files.saturating_sub(1);
            Ok(())
        })
    }

    fn has_entries(&mut self, dir: u64) -> Result<bool, Error> {
        let next = self.first_ge(Key::new(dir, KIND_DIRENT, 0))?;
        Ok(next.is_some_and(|(k, _)| k.oid == dir && k.kind == KIND_DIRENT))
    }

    /// Frees every data block of `oid` from file block `first` on.
    fn free_blocks_from(&mut self, oid: u64, first: u64) -> Result<(), Error> {
        while let Some((k, v)) = self.first_ge(Key::new(oid, KIND_DATA, first))? {
            if k.oid != oid || k.kind != KIND_DATA {
                break;
            }
            let (b, _) = decode_data(&v).ok_or(Error::BadItem { oid })?;
            self.free(b)?;
            self.del(k)?;
        }
        Ok(())
    }

    /// Writes `data` at `offset` (growing the file; a gap reads as zeros). The blocks of one
    /// call are allocated in a row and written in contiguous runs.
    pub fn write(&mut self, path: &str, offset: u64, data: &[u8], now: Time) -> Result<(), Error> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|e| *e <= MAX_FILE_SIZE);
        let end = end.ok_or(Error::TooLarge)?;
        self.mutate(|fs| {
            let oid = fs.file_at(path)?;
            let mut ino = fs.inode(oid)?;
            fs.write_range(oid, offset, data)?;
            ino.size = ino.size.max(end);
            (ino.mtime_s, ino.mtime_ns) = (now.secs, now.nanos);
            fs.set_inode(oid, &ino)
        })
    }

    /// Rewrites file block `lb` through `f`: in place if it was written in this transaction,
    /// else into a new block (the old one is freed).
    fn write_block(
        &mut self,
        oid: u64,
        lb: u64,
        full: bool,
        f: impl FnOnce(&mut [u8; BLOCK_SIZE]),
    ) -> Result<(), Error> {
        let key = Key::new(oid, KIND_DATA, lb);
        let old = match self.get(key)? {
            Some(v) => Some(decode_data(&v).ok_or(Error::BadItem { oid })?),
            None => None,
        };
        let mut buf = [0u8; BLOCK_SIZE];
        if let (Some((b, crc)), false) = (old, full) {
            self.read_data(oid, b, crc, &mut buf)?;
        }
        f(&mut buf);
        let target = match old {
            Some((b, _)) if self.is_fresh(b)? => b,
            _ => self.alloc()?,
        };
        self.dev.write(target, &buf)?;
        if let Some((b, _)) = old.filter(|(b, _)| *b != target) {
            self.free(b)?;
        }
        self.put(key, &encode_data(target, crc32c(&buf)))
    }

    pub(crate) fn read_data(
        &mut self,
        oid: u64,
        block: u64,
        crc: u32,
        buf: &mut [u8; BLOCK_SIZE],
    ) -> Result<(), Error> {
        self.dev.read(block, buf)?;
        if crc32c(buf) != crc {
            return Err(Error::DataDamaged { inode: oid, block });
        }
        Ok(())
    }

    /// Reads into `buf` from `offset`; returns the bytes read (0 at or past the end).
    /// Contiguous stored blocks are read with one device call; each is checked.
    pub fn read(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize, Error> {
        let oid = self.file_at(path)?;
        let size = self.inode(oid)?.size;
        let n = size.saturating_sub(offset).min(buf.len() as u64) as usize;
        self.read_range(oid, offset, &mut buf[..n])?;
        Ok(n)
    }

    /// Sets the size: shrinking frees blocks past it, growing adds zeros.
    pub fn truncate(&mut self, path: &str, size: u64, now: Time) -> Result<(), Error> {
        if size > MAX_FILE_SIZE {
            return Err(Error::TooLarge);
        }
        self.mutate(|fs| {
            let oid = fs.file_at(path)?;
            let mut ino = fs.inode(oid)?;
            if size < ino.size {
                fs.free_blocks_from(oid, size.div_ceil(BS))?;
                let tail = (size % BS) as usize;
                if tail != 0 && fs.get(Key::new(oid, KIND_DATA, size / BS))?.is_some() {
                    fs.write_block(oid, size / BS, false, |b| b[tail..].fill(0))?;
                }
            }
            ino.size = size;
            (ino.mtime_s, ino.mtime_ns) = (now.secs, now.nanos);
            fs.set_inode(oid, &ino)
        })
    }

    /// Renames atomically; an existing file at `to` is replaced (a directory is not).
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), Error> {
        let (cf, ct) = (components(from)?, components(to)?);
        if cf.is_empty() || ct.is_empty() || (ct.len() > cf.len() && ct.starts_with(&cf)) {
            return Err(Error::InvalidPath);
        }
        self.mutate(|fs| {
            let (sdir, sname) = fs.parent(&cf)?;
            let (oid, kind) = fs.lookup(sdir, sname)?.ok_or(Error::NotFound)?;
            let (ddir, dname) = fs.parent(&ct)?;
            if cf == ct {
                return Ok(());
            }
            let replaced = match (fs.lookup(ddir, dname)?, kind) {
                (None, _) => None,
                (Some((d, FileKind::File)), FileKind::File) => Some(d),
                (Some((_, FileKind::Dir)), _) => return Err(Error::IsDir),
                (Some(_), FileKind::Dir) => return Err(Error::NotDir),
            };
            if replaced.is_none() && !fs.link_fits(ddir, dname)? {
                return Err(Error::HashCollision);
            }
            if let Some(d) = replaced {
                fs.unlink(ddir, dname)?;
                fs.drop_file(d)?;
            }
            fs.unlink(sdir, sname)?;
            fs.link(ddir, dname, oid, kind)
        })
    }

    /// Kind, size, time and inode of `path`.
    pub fn stat(&mut self, path: &str) -> Result<Stat, Error> {
        let (oid, _) = self.resolve(path)?;
        let ino = self.inode(oid)?;
        let mtime = Time {
            secs: ino.mtime_s,
            nanos: ino.mtime_ns,
        };
        Ok(Stat {
            inode: oid,
            kind: ino.kind,
            size: ino.size,
            mtime,
        })
    }

    /// Up to `max` entries of directory `path` after `after` (from the start if `None`),
    /// in name-hash order; an empty result means the listing is complete.
    pub fn list(
        &mut self,
        path: &str,
        after: Option<&Cursor>,
        max: usize,
    ) -> Result<Vec<DirEntry>, Error> {
        let dir = match self.resolve(path)? {
            (oid, FileKind::Dir) => oid,
            _ => return Err(Error::NotDir),
        };
        let mut out = Vec::new();
        let mut key = Key::new(dir, KIND_DIRENT, after.map_or(0, |c| c.hash));
        while out.len() < max {
            let Some((k, v)) = self.first_ge(key)? else {
                break;
            };
            if k.oid != dir || k.kind != KIND_DIRENT {
                break;
            }
            for e in crate::dir::decode(&v).ok_or(Error::BadItem { oid: dir })? {
                let past =
                    after.is_none_or(|c| (k.off, e.name.as_str()) > (c.hash, c.name.as_str()));
                if past && out.len() < max {
                    let cursor = Cursor {
                        hash: k.off,
                        name: e.name.clone(),
                    };
                    out.push(DirEntry {
                        name: e.name,
                        kind: e.kind,
                        inode: e.oid,
                        cursor,
                    });
                }
            }
            match k.off.checked_add(1) {
                Some(off) => key = Key::new(dir, KIND_DIRENT, off),
                None => break,
            }
        }
        Ok(out)
    }

    /// `(file block index, device block)` of every stored block of a file (holes omitted):
    /// for host tools and damage tests.
    pub fn data_blocks(&mut self, path: &str) -> Result<Vec<(u64, u64)>, Error> {
        let oid = self.file_at(path)?;
        let mut out = Vec::new();
        let mut key = Key::new(oid, KIND_DATA, 0);
        while let Some((k, v)) = self.first_ge(key)? {
            if k.oid != oid || k.kind != KIND_DATA {
                break;
            }
            out.push((k.off, decode_data(&v).ok_or(Error::BadItem { oid })?.0));
            match k.off.checked_add(1) {
                Some(next) => key = Key::new(oid, KIND_DATA, next),
                None => break,
            }
        }
        Ok(out)
    }

    /// Creates `path` (and missing parent directories) holding `data` (used by `format`).
    pub fn put_file(&mut self, path: &str, data: &[u8], now: Time) -> Result<(), Error> {
        let comps = components(path)?;
        for i in 1..comps.len() {
            let dir = alloc::format!("/{}", comps[..i].join("/"));
            match self.mkdir(&dir, now) {
                Ok(()) | Err(Error::Exists) => {}
                Err(e) => return Err(e),
            }
        }
        self.create(path, now)?;
        self.write(path, 0, data, now)
    }
}
