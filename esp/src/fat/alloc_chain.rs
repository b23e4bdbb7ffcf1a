//! New files: a chain of free clusters, its content written in order, the directory entries
//! switched to it in one sector write, the old chain freed.

use alloc::vec;
use alloc::vec::Vec;

use super::{Blocks, Fat, FatError, File, Kind, Next, BLOCK};

/// Bytes of new content gathered before they are written.
const PENDING_MAX: usize = 256 << 10;

/// Content being written into a chain of clusters that were free: no live file sees it until
/// [`Fat::switch`] points an entry at it.
#[derive(Debug)]
pub struct NewFile {
    clusters: Vec<u32>,
    len: u32,
    written: u32,
}

impl NewFile {
    /// Its length in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether it is empty (no clusters).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Its first cluster (0 when empty).
    pub fn first_cluster(&self) -> u32 {
        self.clusters.first().copied().unwrap_or(0)
    }
}

impl<B: Blocks> Fat<B> {
    /// Allocates a chain of free clusters for `len` bytes, written into every FAT copy at
    /// once. Only clusters free in the FAT are taken, so no live file changes.
    pub fn allocate(&mut self, len: u64) -> Result<NewFile, FatError> {
        let len32 = u32::try_from(len).map_err(|_| FatError::TooLong { len })?;
        let needed = u32::try_from(len.div_ceil(u64::from(self.g.cluster))).unwrap_or(u32::MAX);
        let clusters: Vec<u32> = (2..self.g.clusters + 2)
            .filter(|&c| self.next(c) == Next::Free)
            .take(needed as usize)
            .collect();
        if clusters.len() < needed as usize {
            let free = clusters.len() as u32;
            return Err(FatError::NoSpace { needed, free });
        }
        for pair in clusters.windows(2) {
            self.set_next(pair[0], Next::Cluster(pair[1]));
        }
        if let Some(&last) = clusters.last() {
            self.set_next(last, Next::End);
        }
        self.commit_table()?;
        Ok(NewFile {
            clusters,
            len: len32,
            written: 0,
        })
    }

    /// Appends `data` to the new file's content (it may not grow past its length).
    pub fn write(&mut self, new: &mut NewFile, mut data: &[u8]) -> Result<(), FatError> {
        let offered = u64::from(new.written) + data.len() as u64;
        if offered > u64::from(new.len) {
            return Err(FatError::WrongLength {
                len: new.len,
                written: offered,
            });
        }
        let cluster = self.g.cluster;
        while !data.is_empty() {
            let (index, within) = (new.written / cluster, new.written % cluster);
            let n = ((cluster - within) as usize).min(data.len());
            let at = self.cluster_offset(new.clusters[index as usize]) + u64::from(within);
            self.queue(at, &data[..n])?;
            new.written += n as u32;
            data = &data[n..];
        }
        Ok(())
    }

    /// Adds bytes at `at` to the pending run, writing the run first when `at` does not extend it.
    fn queue(&mut self, at: u64, data: &[u8]) -> Result<(), FatError> {
        let extends = match &self.pending {
            Some((start, run)) => start + run.len() as u64 == at && run.len() < PENDING_MAX,
            None => false,
        };
        if !extends {
            self.flush_pending()?;
            self.pending = Some((
                at,
                Vec::with_capacity(PENDING_MAX.min(data.len().max(BLOCK))),
            ));
        }
        if let Some((_, run)) = self.pending.as_mut() {
            run.extend_from_slice(data);
        }
        Ok(())
    }

    /// Whether every file's directory entry lies in one sector.
    pub fn same_sector(&self, files: &[&File]) -> bool {
        let s = u64::from(self.g.sector);
        files.windows(2).all(|w| w[0].entry / s == w[1].entry / s)
    }

    /// Points each old file's directory entry at its new file (first cluster and size), all
    /// in ONE sector write: every entry must lie in one directory sector, else nothing is
    /// written. Each new file must be complete. The old files' chains stay allocated
    /// ([`Fat::free_chain`] them after a [`Fat::flush`]).
    pub fn switch(&mut self, pairs: &[(&File, &NewFile)]) -> Result<(), FatError> {
        let Some((first, _)) = pairs.first() else {
            return Ok(());
        };
        let olds: Vec<&File> = pairs.iter().map(|(old, _)| *old).collect();
        if !self.same_sector(&olds) {
            return Err(FatError::NotOneSector);
        }
        if let Some((_, new)) = pairs.iter().find(|(_, new)| new.written != new.len) {
            let written = u64::from(new.written);
            return Err(FatError::WrongLength {
                len: new.len,
                written,
            });
        }
        let s = u64::from(self.g.sector);
        let start = first.entry / s * s;
        let mut sector = vec![0u8; s as usize];
        self.read_at(start, &mut sector)?;
        for (old, new) in pairs {
            let e = &mut sector[(old.entry - start) as usize..][..32];
            set_entry(e, old, new, self.g.kind)?;
        }
        self.write_at(start, &sector)
    }

    /// Frees the chain from `first` in every FAT copy; returns how many clusters it had.
    pub fn free_chain(&mut self, first: u32) -> Result<u32, FatError> {
        if first == 0 {
            return Ok(0);
        }
        let mut chain = Vec::new();
        self.walk(first, |c| {
            chain.push(c);
            Ok(())
        })?;
        for &c in &chain {
            self.set_next(c, Next::Free);
        }
        self.commit_table()?;
        Ok(chain.len() as u32)
    }

    /// Frees a new file that will not be switched to.
    pub fn discard(&mut self, new: NewFile) -> Result<(), FatError> {
        for &c in &new.clusters {
            self.set_next(c, Next::Free);
        }
        self.commit_table()
    }
}

/// Rewrites one 32-byte entry `e` from `old`'s chain and size to `new`'s, checking it still
/// holds `old`'s.
fn set_entry(e: &mut [u8], old: &File, new: &NewFile, kind: Kind) -> Result<(), FatError> {
    let lo = u32::from(u16::from_le_bytes([e[26], e[27]]));
    let hi = u32::from(u16::from_le_bytes([e[20], e[21]]));
    let first = if kind == Kind::Fat32 {
        hi << 16 | lo
    } else {
        lo
    };
    let size = u32::from_le_bytes([e[28], e[29], e[30], e[31]]);
    if first != old.first || size != old.size || e[11] & 0x10 != 0 {
        return Err(FatError::Stale);
    }
    let c = new.first_cluster();
    e[26..28].copy_from_slice(&(c as u16).to_le_bytes());
    if kind == Kind::Fat32 {
        e[20..22].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
    }
    e[28..32].copy_from_slice(&new.len.to_le_bytes());
    Ok(())
}
