//! The store: mount (scan), the file operations, and the `storage_api` dispatcher.

use core::fmt::{self, Write as _};

use protocol::storage_v1::{
    normalize, EntriesWriter, Entry, EntryKind, Request, Response, StorageError,
};

use crate::record::{decode_superblock, encode_record, encode_superblock, parse_record};
use crate::{
    slot_block, Blocks, Record, SuperblockState, BLOCK_SIZE, FIRST_SLOT, MAX_DEPTH, MAX_FILE_SIZE,
    MAX_SLOTS, SUPERBLOCK,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    File,
    Damaged,
}

/// What the in-memory index knows of a slot: enough to find candidates without reading the
/// disk. `hash[k]` is the FNV-1a hash of the path's first `k + 1` components; `depth` is
/// the number of components (0 for a damaged record that claims no readable path). Hash
/// matches are always confirmed by reading the record.
#[derive(Debug, Clone, Copy)]
struct Slot {
    state: State,
    depth: u8,
    len: u16,
    hash: [u32; MAX_DEPTH],
}

const FREE: Slot = Slot {
    state: State::Free,
    depth: 0,
    len: 0,
    hash: [0; MAX_DEPTH],
};

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h = 0x811C_9DC5u32;
    for &b in bytes {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// Depth and prefix hashes of a normalized, non-empty path.
fn hashes(path: &str) -> (usize, [u32; MAX_DEPTH]) {
    let mut h = [0u32; MAX_DEPTH];
    let mut depth = 0;
    for (i, b) in path.bytes().enumerate() {
        if b == b'/' && depth < MAX_DEPTH {
            h[depth] = fnv1a(&path.as_bytes()[..i]);
            depth += 1;
        }
    }
    if depth < MAX_DEPTH && !path.is_empty() {
        h[depth] = fnv1a(path.as_bytes());
        depth += 1;
    }
    (depth, h)
}

/// The byte length of the first `k` components of a normalized path.
fn prefix_len(path: &str, k: usize) -> usize {
    path.match_indices('/')
        .nth(k - 1)
        .map_or(path.len(), |(i, _)| i)
}

fn slot_for(rec: &Record<'_>) -> Slot {
    match *rec {
        Record::Free => FREE,
        Record::File { path, data, .. } => {
            let (depth, hash) = hashes(path);
            Slot {
                state: State::File,
                depth: depth as u8,
                len: data.len() as u16,
                hash,
            }
        }
        Record::Damaged { claim } => {
            let (depth, hash) = claim.map_or((0, [0; MAX_DEPTH]), hashes);
            Slot {
                state: State::Damaged,
                depth: depth as u8,
                len: 0,
                hash,
            }
        }
    }
}

/// Whether `path` lies under directory `dir` (both normalized; `dir` may be the root `""`).
fn under<'p>(path: &'p str, dir: &str) -> Option<&'p str> {
    if dir.is_empty() {
        return Some(path);
    }
    path.strip_prefix(dir)?.strip_prefix('/')
}

/// What [`Store::mount`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountReport {
    /// The superblock was blank and has just been written.
    pub formatted: bool,
    /// Slots in the store.
    pub slots: usize,
    /// Valid files.
    pub files: usize,
    /// Free slots.
    pub free: usize,
    /// Damaged records.
    pub damaged: usize,
    /// The block of the first damaged record, if any.
    pub first_damaged: Option<u64>,
    /// Older copies of a file left by an interrupted replace, freed by the mount.
    pub superseded: usize,
}

/// Why the store could not be mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountError {
    /// The device failed.
    Io,
    /// The region has no room for the superblock and one slot.
    RegionTooSmall {
        /// The region's size in blocks.
        blocks: u64,
    },
    /// Block 32 is neither blank nor a valid superblock (the store is not touched).
    SuperblockDamaged {
        /// The superblock's block (32).
        block: u64,
    },
    /// The superblock is of an unknown format version.
    UnsupportedVersion(u32),
    /// The superblock's slot count does not fit the region (or exceeds [`MAX_SLOTS`]).
    BadSlotCount {
        /// The superblock's slot count.
        slots: u32,
        /// How many slots the region can hold.
        fit: u64,
    },
}

impl fmt::Display for MountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountError::Io => f.write_str("I/O error"),
            MountError::RegionTooSmall { blocks } => write!(
                f,
                "the user-data region has {blocks} blocks; the store needs at least {}",
                FIRST_SLOT + 1
            ),
            MountError::SuperblockDamaged { block } => {
                write!(f, "superblock damaged (block {block})")
            }
            MountError::UnsupportedVersion(v) => write!(f, "unsupported store version {v}"),
            MountError::BadSlotCount { slots, fit } => {
                write!(f, "superblock says {slots} slots, the region holds {fit}")
            }
        }
    }
}

/// A mounted store on a [`Blocks`] device.
pub struct Store<B: Blocks> {
    dev: B,
    slots: usize,
    mounted: bool,
    index: [Slot; MAX_SLOTS],
    next_gen: u64,
    cursor: usize,
    buf: [u8; BLOCK_SIZE],
}

impl<B: Blocks> fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("slots", &self.slots)
            .field("files", &self.files())
            .field("free", &self.free())
            .field("damaged", &self.damaged())
            .field("next_gen", &self.next_gen)
            .finish()
    }
}

type Res<T> = Result<T, StorageError>;

impl<B: Blocks> Store<B> {
    /// An unmounted store on `dev`: [`Store::serve`] answers `Err(Unavailable)` and the
    /// file operations fail the same way until [`Store::mount_in_place`] succeeds. (Lets a
    /// caller with a small stack build the ~24 KiB store once, where it stays.)
    pub fn new(dev: B) -> Self {
        Store {
            dev,
            slots: 0,
            mounted: false,
            index: [FREE; MAX_SLOTS],
            next_gen: 1,
            cursor: 0,
            buf: [0; BLOCK_SIZE],
        }
    }

    /// Whether the store is mounted.
    pub fn is_mounted(&self) -> bool {
        self.mounted
    }

    /// [`Store::new`] and [`Store::mount_in_place`] in one.
    pub fn mount(dev: B) -> Result<(Self, MountReport), MountError> {
        let mut s = Store::new(dev);
        let report = s.mount_in_place()?;
        Ok((s, report))
    }

    /// Mounts the store: checks (or, if block 32 is blank, writes) the superblock, scans every
    /// slot, and frees the older copy of any file found twice (a replace cut short between
    /// its two writes). Damaged records are counted, kept, and reported.
    pub fn mount_in_place(&mut self) -> Result<MountReport, MountError> {
        self.mounted = false;
        self.slots = 0;
        self.next_gen = 1;
        self.cursor = 0;
        let blocks = self.dev.blocks();
        if blocks <= FIRST_SLOT {
            return Err(MountError::RegionTooSmall { blocks });
        }
        let fit = (blocks - FIRST_SLOT).min(MAX_SLOTS as u64);
        let s = self;
        let mut report = MountReport::default();
        s.dev
            .read(SUPERBLOCK, &mut s.buf)
            .map_err(|_| MountError::Io)?;
        let slots = match decode_superblock(&s.buf) {
            SuperblockState::Blank => {
                encode_superblock(&mut s.buf, fit as u32);
                s.dev
                    .write(SUPERBLOCK, &s.buf)
                    .map_err(|_| MountError::Io)?;
                report.formatted = true;
                fit as usize
            }
            SuperblockState::Valid { slots } if slots > 0 && u64::from(slots) <= fit => {
                slots as usize
            }
            SuperblockState::Valid { slots } => {
                return Err(MountError::BadSlotCount { slots, fit })
            }
            SuperblockState::OtherVersion(v) => return Err(MountError::UnsupportedVersion(v)),
            SuperblockState::Damaged => {
                return Err(MountError::SuperblockDamaged { block: SUPERBLOCK })
            }
        };
        s.slots = slots;
        for i in 0..s.slots {
            s.dev
                .read(slot_block(i), &mut s.buf)
                .map_err(|_| MountError::Io)?;
            let rec = parse_record(&s.buf, i as u32);
            if let Record::File { generation, .. } = rec {
                s.next_gen = s.next_gen.max(generation.saturating_add(1));
            }
            s.index[i] = slot_for(&rec);
        }
        s.index[s.slots..].fill(FREE);
        report.superseded = s.resolve_duplicates().map_err(|_| MountError::Io)?;
        s.mounted = true;
        report.slots = s.slots;
        report.files = s.files();
        report.free = s.free();
        report.damaged = s.damaged();
        report.first_damaged = (0..s.slots)
            .find(|&i| s.index[i].state == State::Damaged)
            .map(slot_block);
        Ok(report)
    }

    /// Two valid records of one path: keep the higher generation, zero the other.
    fn resolve_duplicates(&mut self) -> Res<usize> {
        let mut freed = 0;
        for i in 0..self.slots {
            let a = self.index[i];
            if a.state != State::File {
                continue;
            }
            let d = usize::from(a.depth) - 1;
            for j in i + 1..self.slots {
                let b = self.index[j];
                if b.state != State::File || b.depth != a.depth || b.hash[d] != a.hash[d] {
                    continue;
                }
                // Compare the two records' paths and generations.
                self.read_slot(i)?;
                let mut path_a = [0u8; crate::MAX_PATH_LEN];
                let (gen_a, len_a) = match parse_record(&self.buf, i as u32) {
                    Record::File {
                        generation, path, ..
                    } => {
                        path_a[..path.len()].copy_from_slice(path.as_bytes());
                        (generation, path.len())
                    }
                    _ => break,
                };
                self.read_slot(j)?;
                let gen_b = match parse_record(&self.buf, j as u32) {
                    Record::File {
                        generation, path, ..
                    } if path.as_bytes() == &path_a[..len_a] => generation,
                    _ => continue,
                };
                freed += 1;
                if gen_b > gen_a {
                    self.free_slot(i)?;
                    break;
                }
                self.free_slot(j)?;
            }
        }
        Ok(freed)
    }

    /// The device (for tests and diagnostics).
    pub fn device(&mut self) -> &mut B {
        &mut self.dev
    }

    /// Gives the device back.
    pub fn into_device(self) -> B {
        self.dev
    }

    fn count(&self, state: State) -> usize {
        self.index[..self.slots]
            .iter()
            .filter(|s| s.state == state)
            .count()
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Number of valid files.
    pub fn files(&self) -> usize {
        self.count(State::File)
    }

    /// Number of free slots.
    pub fn free(&self) -> usize {
        self.count(State::Free)
    }

    /// Number of damaged records.
    pub fn damaged(&self) -> usize {
        self.count(State::Damaged)
    }

    fn read_slot(&mut self, i: usize) -> Res<()> {
        self.dev
            .read(slot_block(i), &mut self.buf)
            .map_err(|_| StorageError::Io)
    }

    fn free_slot(&mut self, i: usize) -> Res<()> {
        self.buf.fill(0);
        self.dev
            .write(slot_block(i), &self.buf)
            .map_err(|_| StorageError::Io)?;
        self.index[i] = FREE;
        Ok(())
    }

    /// The slot of the valid file `path` (normalized, non-empty), if any. A record that
    /// has rotted since the mount is re-indexed as damaged; if it claims `path`, the result is
    /// `Damaged`.
    fn find_file(&mut self, path: &str) -> Res<Option<usize>> {
        let (depth, hash) = hashes(path);
        for i in 0..self.slots {
            let s = self.index[i];
            if s.state != State::File
                || usize::from(s.depth) != depth
                || s.hash[depth - 1] != hash[depth - 1]
            {
                continue;
            }
            self.read_slot(i)?;
            let rec = parse_record(&self.buf, i as u32);
            match rec {
                Record::File { path: p, .. } if p == path => return Ok(Some(i)),
                Record::File { .. } => {}
                other => {
                    let claimed = matches!(other, Record::Damaged { claim: Some(c) } if c == path);
                    self.index[i] = slot_for(&other);
                    if claimed {
                        return Err(StorageError::Damaged {
                            block: slot_block(i),
                        });
                    }
                }
            }
        }
        Ok(None)
    }

    /// The slot of a damaged record that claims `path`, if any.
    fn find_damaged(&mut self, path: &str) -> Res<Option<usize>> {
        let (depth, hash) = hashes(path);
        for i in 0..self.slots {
            let s = self.index[i];
            if s.state != State::Damaged
                || usize::from(s.depth) != depth
                || s.hash[depth - 1] != hash[depth - 1]
            {
                continue;
            }
            self.read_slot(i)?;
            if matches!(parse_record(&self.buf, i as u32), Record::Damaged { claim: Some(c) } if c == path)
            {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether some file or damaged record lies under `dir` (normalized; the root always
    /// exists).
    fn is_dir(&mut self, dir: &str) -> Res<bool> {
        if dir.is_empty() {
            return Ok(true);
        }
        let (depth, hash) = hashes(dir);
        for i in 0..self.slots {
            let s = self.index[i];
            if s.state == State::Free
                || usize::from(s.depth) <= depth
                || s.hash[depth - 1] != hash[depth - 1]
            {
                continue;
            }
            self.read_slot(i)?;
            let p = match parse_record(&self.buf, i as u32) {
                Record::File { path, .. } => path,
                Record::Damaged { claim: Some(c) } => c,
                _ => continue,
            };
            if under(p, dir).is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Fails with `NotDirectory` if a proper prefix of `path` is a file.
    fn check_parents(&mut self, path: &str) -> Res<()> {
        let (depth, _) = hashes(path);
        for k in 1..depth {
            let prefix = &path[..prefix_len(path, k)];
            if self.find_file(prefix)?.is_some() {
                return Err(StorageError::NotDirectory);
            }
        }
        Ok(())
    }

    fn check_mounted(&self) -> Res<()> {
        if self.mounted {
            Ok(())
        } else {
            Err(StorageError::Unavailable)
        }
    }

    fn put(&mut self, path: &str, data: &[u8], create: bool) -> Res<()> {
        self.check_mounted()?;
        if data.len() > MAX_FILE_SIZE {
            return Err(StorageError::TooLarge);
        }
        let p = normalize(path)?;
        if p.is_empty() {
            return Err(StorageError::IsDirectory);
        }
        self.check_parents(p)?;
        let old = match self.find_file(p) {
            Ok(old) => old,
            Err(StorageError::Damaged { block }) if create => {
                return Err(StorageError::Damaged { block })
            }
            Err(StorageError::Damaged { .. }) => None,
            Err(e) => return Err(e),
        };
        if old.is_some() && create {
            return Err(StorageError::AlreadyExists);
        }
        if old.is_none() {
            if self.is_dir(p)? {
                return Err(if create {
                    StorageError::AlreadyExists
                } else {
                    StorageError::IsDirectory
                });
            }
            if create {
                if let Some(i) = self.find_damaged(p)? {
                    return Err(StorageError::Damaged {
                        block: slot_block(i),
                    });
                }
            }
        }
        let new = (0..self.slots)
            .map(|k| (self.cursor + k) % self.slots)
            .find(|&i| self.index[i].state == State::Free)
            .ok_or(StorageError::NoSpace)?;
        // 1. The new version, in a free slot, with a higher generation.
        encode_record(&mut self.buf, new as u32, self.next_gen, p, data);
        self.dev
            .write(slot_block(new), &self.buf)
            .map_err(|_| StorageError::Io)?;
        self.next_gen += 1;
        self.cursor = (new + 1) % self.slots;
        self.index[new] = slot_for(&parse_record(&self.buf, new as u32));
        // 2. Only then the old version (and damaged records of the path) go.
        if let Some(o) = old {
            self.free_slot(o)?;
        }
        while let Some(d) = self.find_damaged(p)? {
            self.free_slot(d)?;
        }
        Ok(())
    }

    /// Creates an empty file. `AlreadyExists` if `path` is a file or a directory; `Damaged`
    /// if a damaged record claims it (write or delete the path to clear that).
    pub fn create(&mut self, path: &str) -> Res<()> {
        self.put(path, &[], true)
    }

    /// Creates or replaces a file (at most [`MAX_FILE_SIZE`] bytes). A damaged record of the
    /// path is superseded (freed after the new version is written).
    pub fn write(&mut self, path: &str, data: &[u8]) -> Res<()> {
        self.put(path, data, false)
    }

    /// A file's contents (borrowed from the store's block buffer).
    pub fn read(&mut self, path: &str) -> Res<&[u8]> {
        self.check_mounted()?;
        let p = normalize(path)?;
        if p.is_empty() {
            return Err(StorageError::IsDirectory);
        }
        match self.find_file(p)? {
            Some(i) => {
                self.read_slot(i)?;
                match parse_record(&self.buf, i as u32) {
                    Record::File { data, .. } => Ok(data),
                    _ => Err(StorageError::Damaged {
                        block: slot_block(i),
                    }),
                }
            }
            None => Err(self.missing(p)?),
        }
    }

    /// Why `p` (not a valid file) cannot be read: damaged, a directory, or not found.
    fn missing(&mut self, p: &str) -> Res<StorageError> {
        if let Some(i) = self.find_damaged(p)? {
            return Ok(StorageError::Damaged {
                block: slot_block(i),
            });
        }
        Ok(if self.is_dir(p)? {
            StorageError::IsDirectory
        } else {
            StorageError::NotFound
        })
    }

    /// Deletes a file: zeroes its slot and those of damaged records that claim the path.
    pub fn delete(&mut self, path: &str) -> Res<()> {
        self.check_mounted()?;
        let p = normalize(path)?;
        if p.is_empty() {
            return Err(StorageError::IsDirectory);
        }
        let mut freed = false;
        match self.find_file(p) {
            Ok(Some(i)) => {
                self.free_slot(i)?;
                freed = true;
            }
            Ok(None) | Err(StorageError::Damaged { .. }) => {}
            Err(e) => return Err(e),
        }
        while let Some(d) = self.find_damaged(p)? {
            self.free_slot(d)?;
            freed = true;
        }
        if freed {
            return Ok(());
        }
        Err(if self.is_dir(p)? {
            StorageError::IsDirectory
        } else {
            StorageError::NotFound
        })
    }

    /// Whether `path` is a file (and its size) or a directory.
    pub fn stat(&mut self, path: &str) -> Res<EntryKind> {
        self.check_mounted()?;
        let p = normalize(path)?;
        if p.is_empty() {
            return Ok(EntryKind::Dir);
        }
        if let Some(i) = self.find_file(p)? {
            return Ok(EntryKind::File {
                size: u32::from(self.index[i].len),
            });
        }
        match self.missing(p)? {
            StorageError::IsDirectory => Ok(EntryKind::Dir),
            e => Err(e),
        }
    }

    /// Lists directory `dir` into `w`: files with their sizes, subdirectories once each,
    /// damaged records under their claimed name (and, in the root, damaged records that
    /// claim no readable path, with an empty name). Entries come in slot order.
    pub fn list(&mut self, dir: &str, w: &mut EntriesWriter<'_>) -> Res<()> {
        self.check_mounted()?;
        let p = normalize(dir)?;
        let (depth, hash) = if p.is_empty() {
            (0, [0; MAX_DEPTH])
        } else {
            hashes(p)
        };
        if !p.is_empty() {
            self.check_parents(p)?;
            if self.find_file(p)?.is_some() {
                return Err(StorageError::NotDirectory);
            }
        }
        let mut found = false;
        for i in 0..self.slots {
            let s = self.index[i];
            let block = slot_block(i);
            if s.state == State::Free {
                continue;
            }
            if s.state == State::Damaged && s.depth == 0 {
                if depth == 0
                    && !w.push(Entry {
                        name: "",
                        kind: EntryKind::Damaged { block },
                    })
                {
                    break;
                }
                continue;
            }
            if usize::from(s.depth) <= depth || (depth > 0 && s.hash[depth - 1] != hash[depth - 1])
            {
                continue;
            }
            self.read_slot(i)?;
            let rec = parse_record(&self.buf, i as u32);
            let (path, leaf_kind) = match rec {
                Record::File { path, data, .. } => (
                    path,
                    EntryKind::File {
                        size: data.len() as u32,
                    },
                ),
                Record::Damaged { claim: Some(c) } => (c, EntryKind::Damaged { block }),
                other => {
                    self.index[i] = slot_for(&other);
                    continue;
                }
            };
            let Some(rest) = under(path, p) else {
                continue;
            };
            found = true;
            let pushed = match rest.split_once('/') {
                None => w.push(Entry {
                    name: rest,
                    kind: leaf_kind,
                }),
                Some((child, _)) if w.contains(child) => true,
                Some((child, _)) => w.push(Entry {
                    name: child,
                    kind: EntryKind::Dir,
                }),
            };
            if !pushed {
                break;
            }
        }
        if !found && depth > 0 {
            return Err(StorageError::NotFound);
        }
        Ok(())
    }

    /// Executes one `storage_api` request message and writes the reply into `reply`
    /// (which should hold [`protocol::storage_v1::MAX_MESSAGE`] bytes); returns the reply's length.
    /// Never panics: undecodable requests get `Err(BadRequest)`.
    pub fn serve(&mut self, msg: &[u8], reply: &mut [u8]) -> usize {
        let req = match Request::decode(msg) {
            Ok(r) => r,
            Err(e) => return error_reply(reply, StorageError::BadRequest, format_args!("{e}")),
        };
        let (name, path) = match req {
            Request::Create { path }
            | Request::Write { path, .. }
            | Request::Read { path }
            | Request::Delete { path }
            | Request::Stat { path } => (req.name(), path),
            Request::List { dir } => (req.name(), dir),
        };
        let result = match req {
            Request::Create { path } => self
                .create(path)
                .map(|()| encode_or_io(&Response::Ok, reply)),
            Request::Write { path, data } => self
                .write(path, data)
                .map(|()| encode_or_io(&Response::Ok, reply)),
            Request::Delete { path } => self
                .delete(path)
                .map(|()| encode_or_io(&Response::Ok, reply)),
            Request::Stat { path } => self
                .stat(path)
                .map(|k| encode_or_io(&Response::Stat(k), reply)),
            Request::Read { path } => self
                .read(path)
                .map(|d| encode_or_io(&Response::Data(d), reply)),
            Request::List { dir } => match EntriesWriter::new(reply) {
                None => return 0,
                Some(mut w) => match self.list(dir, &mut w) {
                    Ok(()) => Ok(w.finish()),
                    Err(e) => Err(e),
                },
            },
        };
        match result {
            Ok(n) => n,
            Err(e) => {
                let shown = if path.len() > 64 { "..." } else { path };
                error_reply(reply, e, format_args!("{name} {shown}: {e}"))
            }
        }
    }
}

fn encode_or_io(resp: &Response<'_>, reply: &mut [u8]) -> usize {
    resp.encode(reply)
        .or_else(|_| Response::Err(StorageError::Io, "reply encoding failed").encode(reply))
        .unwrap_or(0)
}

/// Formats into a fixed buffer, cutting what does not fit.
struct Msg {
    buf: [u8; 160],
    len: usize,
}

impl fmt::Write for Msg {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let e = c.encode_utf8(&mut tmp);
            if self.len + e.len() > self.buf.len() {
                return Ok(());
            }
            self.buf[self.len..self.len + e.len()].copy_from_slice(e.as_bytes());
            self.len += e.len();
        }
        Ok(())
    }
}

/// Writes an `Err(e, message)` reply; returns its length.
pub fn error_reply(reply: &mut [u8], e: StorageError, args: fmt::Arguments<'_>) -> usize {
    let mut m = Msg {
        buf: [0; 160],
        len: 0,
    };
    let _ = m.write_fmt(args);
    let text = core::str::from_utf8(&m.buf[..m.len]).unwrap_or("");
    encode_or_io(&Response::Err(e, text), reply)
}
