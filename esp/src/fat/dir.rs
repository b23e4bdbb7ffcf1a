//! Directories: finding a file by path (long names read, case-insensitive), reading it, and
//! the walk over every entry that tells which clusters are in use.

use alloc::vec;
use alloc::vec::Vec;

use super::{Blocks, Fat, FatError, Kind, Next, Root};

/// Attribute bits of a directory entry.
const ATTR_DIRECTORY: u8 = 0x10;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LONG_NAME: u8 = 0x0F;
/// A directory holds at most 65536 entries.
const MAX_DIR_BYTES: u64 = 65536 * 32;
/// The longest long name, in UTF-16 units.
const LFN_UNITS: usize = 255;

/// A file found on the volume: where its directory entry is and what it held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct File {
    pub(super) entry: u64,
    pub(super) first: u32,
    pub(super) size: u32,
}

impl File {
    /// Its size in bytes.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Its first cluster (0 for an empty file).
    pub fn first_cluster(&self) -> u32 {
        self.first
    }

    /// Byte offset (from the ESP's start) of its 32-byte short directory entry.
    pub fn entry_offset(&self) -> u64 {
        self.entry
    }
}

/// A directory: the fixed FAT16 root, or a cluster chain.
#[derive(Clone, Copy, Debug)]
enum Dir {
    Fixed { offset: u64, entries: u32 },
    Chain(u32),
}

/// One short directory entry and the long name before it.
struct Entry {
    offset: u64,
    raw: [u8; 32],
    long: Option<Vec<u16>>,
}

impl Entry {
    fn attr(&self) -> u8 {
        self.raw[11]
    }

    fn is_dir(&self) -> bool {
        self.attr() & ATTR_DIRECTORY != 0
    }

    fn first(&self, kind: Kind) -> u32 {
        let lo = u32::from(u16::from_le_bytes([self.raw[26], self.raw[27]]));
        let hi = u32::from(u16::from_le_bytes([self.raw[20], self.raw[21]]));
        match kind {
            Kind::Fat16 => lo,
            Kind::Fat32 => (hi << 16) | lo,
        }
    }

    fn size(&self) -> u32 {
        u32::from_le_bytes([self.raw[28], self.raw[29], self.raw[30], self.raw[31]])
    }

    fn is_dot(&self) -> bool {
        &self.raw[..11] == b".          " || &self.raw[..11] == b"..         "
    }

    /// Whether `name` is this entry's long name or 8.3 name, ignoring ASCII case.
    fn is_named(&self, name: &str) -> bool {
        if let Some(long) = &self.long {
            let mut units = char::decode_utf16(long.iter().copied());
            let mut chars = name.chars();
            let same = loop {
                match (units.next(), chars.next()) {
                    (None, None) => break true,
                    (Some(Ok(a)), Some(b)) if a.eq_ignore_ascii_case(&b) => {}
                    _ => break false,
                }
            };
            if same {
                return true;
            }
        }
        short_name_is(&self.raw, name)
    }
}

/// Whether the 8.3 name in `raw` reads as `name` (`BASE` or `BASE.EXT`), ignoring ASCII case.
fn short_name_is(raw: &[u8; 32], name: &str) -> bool {
    let mut base = [0u8; 8];
    base.copy_from_slice(&raw[..8]);
    if base[0] == 0x05 {
        base[0] = 0xE5;
    }
    let trim = |s: &[u8]| s.len() - s.iter().rev().take_while(|&&b| b == b' ').count();
    let (b, e) = (&base[..trim(&base)], &raw[8..8 + trim(&raw[8..11])]);
    let name = name.as_bytes();
    match name.iter().rposition(|&c| c == b'.') {
        _ if e.is_empty() => name.eq_ignore_ascii_case(b),
        Some(dot) => name[..dot].eq_ignore_ascii_case(b) && name[dot + 1..].eq_ignore_ascii_case(e),
        None => false,
    }
}

/// The 8.3 name's checksum that long-name entries carry.
fn short_checksum(raw: &[u8; 32]) -> u8 {
    raw[..11]
        .iter()
        .fold(0u8, |sum, &b| sum.rotate_right(1).wrapping_add(b))
}

/// A long name being gathered from its entries (last part first on disk).
struct LongName {
    units: [u16; LFN_UNITS + 13],
    expect: u8,
    checksum: u8,
}

impl LongName {
    /// Takes one long-name entry; a part out of order drops the name.
    fn take(this: &mut Option<Self>, e: &[u8; 32]) {
        let seq = e[0] & 0x1F;
        if e[0] & 0x40 != 0 {
            *this = Some(LongName {
                units: [0xFFFF; LFN_UNITS + 13],
                expect: seq,
                checksum: e[13],
            });
        }
        let Some(name) = this.as_mut() else { return };
        if seq == 0 || seq != name.expect || e[13] != name.checksum || seq > 20 {
            *this = None;
            return;
        }
        let at = (usize::from(seq) - 1) * 13;
        let pos = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (k, &p) in pos.iter().enumerate() {
            name.units[at + k] = u16::from_le_bytes([e[p], e[p + 1]]);
        }
        name.expect = seq - 1;
    }

    /// The name, if complete and belonging to the short entry `raw`.
    fn finish(this: Option<Self>, raw: &[u8; 32]) -> Option<Vec<u16>> {
        let name = this?;
        if name.expect != 0 || name.checksum != short_checksum(raw) {
            return None;
        }
        let len = name.units.iter().position(|&u| u == 0 || u == 0xFFFF);
        let len = len.unwrap_or(name.units.len()).min(LFN_UNITS);
        Some(name.units[..len].to_vec())
    }
}

impl<B: Blocks> Fat<B> {
    fn root_dir(&self) -> Dir {
        match self.g.root {
            Root::Fixed { offset, entries } => Dir::Fixed { offset, entries },
            Root::Chain(c) => Dir::Chain(c),
        }
    }

    /// The byte offsets and lengths of a directory's pieces.
    fn dir_spans(&self, dir: Dir) -> Result<Vec<(u64, u64)>, FatError> {
        match dir {
            Dir::Fixed { offset, entries } => Ok(vec![(offset, u64::from(entries) * 32)]),
            Dir::Chain(first) => {
                let mut spans = Vec::new();
                let cluster = u64::from(self.g.cluster);
                self.walk(first, |c| {
                    if (spans.len() as u64 + 1) * cluster > MAX_DIR_BYTES {
                        return Err(FatError::DirectoryTooLarge);
                    }
                    spans.push((self.cluster_offset(c), cluster));
                    Ok(())
                })?;
                Ok(spans)
            }
        }
    }

    /// Every short entry of a directory in order (deleted ones and volume labels skipped), each
    /// with its long name.
    fn entries(&mut self, dir: Dir) -> Result<Vec<Entry>, FatError> {
        let mut out = Vec::new();
        let mut long = None;
        for (start, len) in self.dir_spans(dir)? {
            let mut bytes = vec![0u8; len as usize];
            self.read_at(start, &mut bytes)?;
            for (i, chunk) in bytes.chunks_exact(32).enumerate() {
                let mut raw = [0u8; 32];
                raw.copy_from_slice(chunk);
                match raw[0] {
                    0 => return Ok(out),
                    0xE5 => long = None,
                    _ if raw[11] & 0x3F == ATTR_LONG_NAME => LongName::take(&mut long, &raw),
                    _ if raw[11] & ATTR_VOLUME != 0 => long = None,
                    _ => out.push(Entry {
                        offset: start + 32 * i as u64,
                        long: LongName::finish(long.take(), &raw),
                        raw,
                    }),
                }
            }
        }
        Ok(out)
    }

    /// The file at `path` (`/`-separated, case-insensitive, long names read), its chain checked
    /// to hold its size.
    pub fn find(&mut self, path: &str) -> Result<File, FatError> {
        let mut dir = self.root_dir();
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        while let Some(part) = parts.next() {
            let found = self
                .entries(dir)?
                .into_iter()
                .find(|e| !e.is_dot() && e.is_named(part));
            let e = found.ok_or(FatError::NotFound)?;
            let first = e.first(self.g.kind);
            if parts.peek().is_some() {
                if !e.is_dir() || first == 0 {
                    return Err(FatError::WrongKind);
                }
                dir = Dir::Chain(first);
                continue;
            }
            if e.is_dir() {
                return Err(FatError::WrongKind);
            }
            let (size, entry) = (e.size(), e.offset);
            self.chain(first, size)?;
            return Ok(File { entry, first, size });
        }
        Err(FatError::WrongKind)
    }

    /// Reads `file`'s bytes from `offset` into `buf`; returns how many (fewer at its end).
    pub fn read(&mut self, file: &File, offset: u64, buf: &mut [u8]) -> Result<usize, FatError> {
        let chain = self.chain(file.first, file.size)?;
        let end = u64::from(file.size).min(offset.saturating_add(buf.len() as u64));
        let cluster = u64::from(self.g.cluster);
        let mut pos = offset;
        while pos < end {
            let c = chain[(pos / cluster) as usize];
            let n = (cluster - pos % cluster).min(end - pos);
            let at = (pos - offset) as usize;
            let dst = &mut buf[at..at + n as usize];
            self.read_at(self.cluster_offset(c) + pos % cluster, dst)?;
            pos += n;
        }
        Ok(end.saturating_sub(offset) as usize)
    }

    /// Marks every cluster some directory entry reaches (the FAT32 root included).
    fn reachable(&mut self) -> Result<Vec<bool>, FatError> {
        let mut used = vec![false; self.g.clusters as usize + 2];
        let mut todo = vec![self.root_dir()];
        if let Root::Chain(root) = self.g.root {
            self.mark(&mut used, root, None)?;
        }
        while let Some(dir) = todo.pop() {
            for e in self.entries(dir)? {
                let first = e.first(self.g.kind);
                if e.is_dot() || first == 0 {
                    continue;
                }
                let size = (!e.is_dir()).then(|| e.size());
                self.mark(&mut used, first, size)?;
                if e.is_dir() {
                    todo.push(Dir::Chain(first));
                }
            }
        }
        Ok(used)
    }

    /// Marks the chain from `first` used; a cluster marked before (by another chain: a loop
    /// is found first) is cross-linked.
    fn mark(&self, used: &mut [bool], first: u32, size: Option<u32>) -> Result<(), FatError> {
        self.walk(first, |_| Ok(()))?;
        let n = self.walk(first, |c| {
            match core::mem::replace(&mut used[c as usize], true) {
                true => Err(FatError::CrossLinked { cluster: c }),
                false => Ok(()),
            }
        })?;
        let size = size.unwrap_or(0);
        if u64::from(n) * u64::from(self.g.cluster) < u64::from(size) {
            return Err(FatError::ChainTooShort { first, size });
        }
        Ok(())
    }

    /// The clusters allocated in the FAT that no directory entry reaches (lost by a power
    /// cut between allocating and switching, or switching and freeing).
    fn lost(&mut self) -> Result<Vec<u32>, FatError> {
        let used = self.reachable()?;
        let lost = (2..self.g.clusters + 2)
            .filter(|&c| !used[c as usize] && !matches!(self.next(c), Next::Free | Next::Bad));
        Ok(lost.collect())
    }

    /// How many clusters [`Fat::collect_lost`] would free; writes nothing.
    pub fn count_lost(&mut self) -> Result<u32, FatError> {
        Ok(self.lost()?.len() as u32)
    }

    /// Frees the clusters allocated in the FAT that no directory entry reaches, in every FAT
    /// copy; returns how many.
    pub fn collect_lost(&mut self) -> Result<u32, FatError> {
        let lost = self.lost()?;
        for &c in &lost {
            self.set_next(c, Next::Free);
        }
        self.commit_table()?;
        Ok(lost.len() as u32)
    }
}
