//! A FAT16/FAT32 volume read and written through 4096-byte blocks, with just what replacing
//! files safely needs: find a file, read it, write new content into free clusters, switch
//! directory entries to it in one sector write, free old chains, collect lost clusters.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

mod alloc_chain;
mod dir;

pub use alloc_chain::NewFile;
pub use dir::File;

/// The size of a [`Blocks`] block.
pub const BLOCK: usize = 4096;
/// The most blocks one [`Blocks`] call moves (64 KiB).
pub const MAX_IO_BLOCKS: usize = 16;
/// The largest FAT this reader loads into memory.
const MAX_TABLE_BYTES: u64 = 16 << 20;

/// The block device failed (its own error is the driver's to log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the block device failed")
    }
}

/// The ESP as 4096-byte blocks numbered from its first byte.
pub trait Blocks {
    /// Reads whole blocks from `block` on into `buf` (a multiple of [`BLOCK`], at most 64 KiB).
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes whole blocks from `block` on (a multiple of [`BLOCK`], at most 64 KiB).
    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError>;
    /// Makes every write so far durable before any later one.
    fn flush(&mut self) -> Result<(), IoError>;
    /// How many blocks the ESP has.
    fn block_count(&self) -> u64;
}

/// Why the volume cannot be read or changed. `Display` prints one line saying what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatError {
    /// The device failed to read or write the blocks starting at `block`.
    Io {
        /// First block of the failed call.
        block: u64,
        /// A write (else a read).
        write: bool,
    },
    /// Block 0 is not a FAT boot sector (no 0x55AA signature).
    NotFat,
    /// The boot sector's bytes per sector is not a power of two from 512 to 4096.
    SectorSize {
        /// The value found.
        bytes: u16,
    },
    /// A boot sector field is impossible (named).
    Geometry {
        /// Which field or relation.
        what: &'static str,
    },
    /// The volume is FAT12, which this writer does not handle.
    Fat12 {
        /// Its cluster count.
        clusters: u32,
    },
    /// The volume reaches past the device's end.
    PastDevice {
        /// The byte offset reached.
        end: u64,
    },
    /// No file or directory has this path.
    NotFound,
    /// A path names a directory where a file is wanted, or a file where a directory is.
    WrongKind,
    /// A FAT entry or directory entry holds a cluster number that is neither a cluster nor an end.
    BadCluster {
        /// The cluster whose FAT entry (or 0 for a directory entry) holds it.
        at: u32,
        /// The value found.
        value: u32,
    },
    /// Following a chain comes back to a cluster already passed.
    ChainLoop {
        /// The chain's first cluster.
        first: u32,
    },
    /// A chain has fewer clusters than its file's size needs.
    ChainTooShort {
        /// The chain's first cluster.
        first: u32,
        /// The file's size in bytes.
        size: u32,
    },
    /// Two files or directories share a cluster.
    CrossLinked {
        /// The shared cluster.
        cluster: u32,
    },
    /// A directory is larger than FAT allows (65536 entries).
    DirectoryTooLarge,
    /// Not enough free clusters.
    NoSpace {
        /// Clusters needed.
        needed: u32,
        /// Clusters free.
        free: u32,
    },
    /// A file of this length cannot be stored in FAT (4 GiB or more).
    TooLong {
        /// The length asked for.
        len: u64,
    },
    /// The entries to switch are not all in one directory sector.
    NotOneSector,
    /// A directory entry changed since it was found.
    Stale,
    /// A new file got more bytes than allocated, or is switched before all were written.
    WrongLength {
        /// The length allocated.
        len: u32,
        /// The bytes written (or offered).
        written: u64,
    },
}

impl fmt::Display for FatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Io { block, write } => {
                let op = if write { "writing" } else { "reading" };
                write!(f, "{op} ESP block {block} failed: check the disk")
            }
            Self::NotFat => f.write_str("the ESP has no FAT boot sector: rebuild the image"),
            Self::SectorSize { bytes } => write!(
                f,
                "the ESP's sectors are {bytes} bytes, not 512..=4096: rebuild the image"
            ),
            Self::Geometry { what } => {
                write!(f, "the ESP's boot sector is damaged ({what}): rebuild the image")
            }
            Self::Fat12 { clusters } => write!(
                f,
                "the ESP is FAT12 ({clusters} clusters), only FAT16/FAT32 are written: rebuild the image"
            ),
            Self::PastDevice { end } => write!(
                f,
                "the ESP's file system reaches byte {end}, past the partition's end: rebuild the image"
            ),
            Self::NotFound => f.write_str("no such file on the ESP: rebuild the image"),
            Self::WrongKind => {
                f.write_str("an ESP path names a directory where a file is expected, or the reverse")
            }
            Self::BadCluster { at, value } => write!(
                f,
                "the ESP's FAT is damaged (cluster {at} points to {value:#x}): run fsck or rebuild"
            ),
            Self::ChainLoop { first } => write!(
                f,
                "the ESP's FAT is damaged (the chain from cluster {first} loops): run fsck or rebuild"
            ),
            Self::ChainTooShort { first, size } => write!(
                f,
                "the ESP is damaged (the chain from cluster {first} is too short for {size} bytes): run fsck"
            ),
            Self::CrossLinked { cluster } => write!(
                f,
                "the ESP is damaged (cluster {cluster} belongs to two files): run fsck or rebuild"
            ),
            Self::DirectoryTooLarge => {
                f.write_str("an ESP directory is larger than FAT allows: run fsck or rebuild")
            }
            Self::NoSpace { needed, free } => write!(
                f,
                "the ESP has {free} free clusters, {needed} are needed: make room or a larger ESP"
            ),
            Self::TooLong { len } => write!(f, "a {len}-byte file does not fit in FAT"),
            Self::NotOneSector => f.write_str(
                "the directory entries to switch are not in one sector: rebuild the image",
            ),
            Self::Stale => f.write_str("an ESP directory entry changed under the writer: retry"),
            Self::WrongLength { len, written } => write!(
                f,
                "a new {len}-byte ESP file got {written} bytes: a bug in the caller"
            ),
        }
    }
}

impl core::error::Error for FatError {}

/// FAT16 or FAT32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 16-bit FAT entries, a fixed root directory.
    Fat16,
    /// 28-bit FAT entries, the root directory in clusters.
    Fat32,
}

/// Where the root directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    /// FAT16: `entries` 32-byte entries at byte `offset`.
    Fixed { offset: u64, entries: u32 },
    /// FAT32: a cluster chain.
    Chain(u32),
}

/// The volume's layout, from its boot sector (byte offsets from the ESP's start).
#[derive(Clone, Copy, Debug)]
struct Geometry {
    kind: Kind,
    sector: u32,
    cluster: u32,
    fat_start: u64,
    fat_bytes: u64,
    fats: u32,
    active_fat: u32,
    root: Root,
    data_start: u64,
    /// Cluster count: clusters are numbered 2..clusters + 2.
    clusters: u32,
    fsinfo: Option<u64>,
}

/// What a FAT entry says follows a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Free,
    End,
    Bad,
    Cluster(u32),
    Invalid(u32),
}

/// An open FAT volume.
pub struct Fat<B> {
    dev: B,
    g: Geometry,
    /// The active FAT, entries 0..clusters + 2 (whole sectors).
    table: Vec<u8>,
    /// Which sectors of `table` differ from the disk.
    dirty: Vec<bool>,
    /// FSInfo's hints were marked unknown already.
    fsinfo_done: bool,
    scratch: Vec<u8>,
    /// A run of new-file bytes not yet written: its byte offset and bytes.
    pending: Option<(u64, Vec<u8>)>,
}

fn le16(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn bad(what: &'static str) -> FatError {
    FatError::Geometry { what }
}

/// The sizes a boot sector gives: sector, cluster (in sectors), reserved, FATs, root entries,
/// total sectors, sectors per FAT.
fn bpb_numbers(b: &[u8]) -> Result<[u32; 7], FatError> {
    if b[510] != 0x55 || b[511] != 0xAA {
        return Err(FatError::NotFat);
    }
    let sector = le16(b, 11);
    if !(512..=4096).contains(&sector) || !sector.is_power_of_two() {
        return Err(FatError::SectorSize {
            bytes: sector as u16,
        });
    }
    let spc = u32::from(b[13]);
    if spc == 0 || !spc.is_power_of_two() {
        return Err(bad("sectors per cluster"));
    }
    let total = match le16(b, 19) {
        0 => le32(b, 32),
        n => n,
    };
    let fat_size = match le16(b, 22) {
        0 => le32(b, 36),
        n => n,
    };
    let (reserved, fats) = (le16(b, 14), u32::from(b[16]));
    if reserved == 0 || fats == 0 || fats > 4 || fat_size == 0 {
        return Err(bad("reserved sectors, FAT count or FAT size"));
    }
    Ok([sector, spc, reserved, fats, le16(b, 17), total, fat_size])
}

/// The volume's layout from its boot sector `b` (at least 512 bytes).
fn geometry(b: &[u8]) -> Result<Geometry, FatError> {
    let [sector, spc, reserved, fats, root_entries, total, fat_size] = bpb_numbers(b)?;
    let s = u64::from(sector);
    let root_sectors = (u64::from(root_entries) * 32).div_ceil(s);
    let data_sector = u64::from(reserved) + u64::from(fats) * u64::from(fat_size) + root_sectors;
    let data_sectors = u64::from(total)
        .checked_sub(data_sector)
        .ok_or(bad("no room for data"))?;
    let clusters = u32::try_from(data_sectors / u64::from(spc)).map_err(|_| bad("size"))?;
    let kind = match clusters {
        0..4085 => return Err(FatError::Fat12 { clusters }),
        4085..65525 => Kind::Fat16,
        _ => Kind::Fat32,
    };
    let width = if kind == Kind::Fat16 { 2 } else { 4 };
    if u64::from(fat_size) * s < (u64::from(clusters) + 2) * width {
        return Err(bad("FAT too small for the clusters"));
    }
    let (root, fsinfo, active_fat) = match kind {
        Kind::Fat16 if root_entries == 0 => return Err(bad("FAT16 without a root directory")),
        Kind::Fat16 => {
            let offset = (u64::from(reserved) + u64::from(fats) * u64::from(fat_size)) * s;
            (
                Root::Fixed {
                    offset,
                    entries: root_entries,
                },
                None,
                0,
            )
        }
        Kind::Fat32 => fat32_fields(b, reserved, fats, clusters)?,
    };
    Ok(Geometry {
        kind,
        sector,
        cluster: sector * spc,
        fat_start: u64::from(reserved) * s,
        fat_bytes: u64::from(fat_size) * s,
        fats,
        active_fat,
        root,
        data_start: data_sector * s,
        clusters,
        fsinfo: fsinfo.map(|n: u32| u64::from(n) * s),
    })
}

/// FAT32's root cluster, FSInfo sector and the FAT to read (the active one when mirroring is off).
fn fat32_fields(
    b: &[u8],
    reserved: u32,
    fats: u32,
    clusters: u32,
) -> Result<(Root, Option<u32>, u32), FatError> {
    if le16(b, 17) != 0 {
        return Err(bad("FAT32 with a fixed root directory"));
    }
    let root = le32(b, 44);
    if root < 2 || root - 2 >= clusters {
        return Err(bad("FAT32 root cluster"));
    }
    let fsinfo = le16(b, 48);
    let fsinfo = (fsinfo != 0 && fsinfo < reserved).then_some(fsinfo);
    let flags = le16(b, 40);
    let active = if flags & 0x80 != 0 { flags & 0xF } else { 0 };
    if active >= fats {
        return Err(bad("FAT32 active FAT"));
    }
    Ok((Root::Chain(root), fsinfo, active))
}

impl<B: Blocks> Fat<B> {
    /// Opens the FAT16 or FAT32 volume on `dev`, loading its (active) FAT.
    pub fn open(mut dev: B) -> Result<Self, FatError> {
        if dev.block_count() == 0 {
            return Err(FatError::PastDevice { end: BLOCK as u64 });
        }
        let mut block = vec![0u8; BLOCK];
        dev.read(0, &mut block).map_err(|_| FatError::Io {
            block: 0,
            write: false,
        })?;
        let g = geometry(&block)?;
        let end = (g.data_start + u64::from(g.clusters) * u64::from(g.cluster))
            .max(g.fat_start + g.fat_bytes * u64::from(g.fats));
        if end > dev.block_count().saturating_mul(BLOCK as u64) {
            return Err(FatError::PastDevice { end });
        }
        let width = if g.kind == Kind::Fat16 { 2 } else { 4 };
        let bytes = ((u64::from(g.clusters) + 2) * width).next_multiple_of(u64::from(g.sector));
        if bytes > MAX_TABLE_BYTES {
            return Err(bad("FAT larger than 16 MiB"));
        }
        // Fallible: in the kernel's heap a large FAT is a named error, not an abort.
        let mut table = Vec::new();
        if table.try_reserve_exact(bytes as usize).is_err() {
            return Err(bad("FAT larger than the memory free for it"));
        }
        table.resize(bytes as usize, 0);
        let mut fat = Fat {
            dev,
            g,
            table,
            dirty: vec![false; (bytes / u64::from(g.sector)) as usize],
            fsinfo_done: false,
            scratch: vec![0; BLOCK * MAX_IO_BLOCKS],
            pending: None,
        };
        let mut table = core::mem::take(&mut fat.table);
        fat.read_at(
            g.fat_start + u64::from(g.active_fat) * g.fat_bytes,
            &mut table,
        )?;
        fat.table = table;
        Ok(fat)
    }

    /// FAT16 or FAT32.
    pub fn kind(&self) -> Kind {
        self.g.kind
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u32 {
        self.g.cluster
    }

    /// Bytes per sector.
    pub fn sector_bytes(&self) -> u32 {
        self.g.sector
    }

    /// The device.
    pub fn device(&self) -> &B {
        &self.dev
    }

    /// Gives the device back (after [`Fat::flush`], nothing is left unwritten).
    pub fn into_inner(self) -> B {
        self.dev
    }

    /// Writes everything pending, then makes it durable ([`Blocks::flush`]).
    pub fn flush(&mut self) -> Result<(), FatError> {
        self.flush_pending()?;
        self.dev.flush().map_err(|_| FatError::Io {
            block: 0,
            write: true,
        })
    }

    /// How many clusters are free.
    pub fn free_clusters(&self) -> u32 {
        (2..self.g.clusters + 2)
            .filter(|&c| self.next(c) == Next::Free)
            .count() as u32
    }

    /// Byte offset of cluster `c`'s data.
    fn cluster_offset(&self, c: u32) -> u64 {
        self.g.data_start + u64::from(c - 2) * u64::from(self.g.cluster)
    }

    fn valid(&self, c: u32) -> bool {
        c >= 2 && c - 2 < self.g.clusters
    }

    fn raw_entry(&self, c: u32) -> u32 {
        let i = c as usize;
        match self.g.kind {
            Kind::Fat16 => le16(&self.table, 2 * i),
            Kind::Fat32 => le32(&self.table, 4 * i) & 0x0FFF_FFFF,
        }
    }

    /// What follows cluster `c` (a valid cluster).
    fn next(&self, c: u32) -> Next {
        let v = self.raw_entry(c);
        let (bad_mark, end) = match self.g.kind {
            Kind::Fat16 => (0xFFF7, 0xFFF8),
            Kind::Fat32 => (0x0FFF_FFF7, 0x0FFF_FFF8),
        };
        match v {
            0 => Next::Free,
            v if v >= end => Next::End,
            v if v == bad_mark => Next::Bad,
            v if self.valid(v) => Next::Cluster(v),
            v => Next::Invalid(v),
        }
    }

    /// Sets cluster `c`'s FAT entry in memory (FAT32 keeps the top four bits).
    fn set_next(&mut self, c: u32, next: Next) {
        let v = match (next, self.g.kind) {
            (Next::Cluster(n), _) | (Next::Invalid(n), _) => n,
            (Next::Free, _) => 0,
            (Next::End, Kind::Fat16) => 0xFFFF,
            (Next::End, Kind::Fat32) => 0x0FFF_FFFF,
            (Next::Bad, Kind::Fat16) => 0xFFF7,
            (Next::Bad, Kind::Fat32) => 0x0FFF_FFF7,
        };
        let i = c as usize;
        match self.g.kind {
            Kind::Fat16 => self.table[2 * i..2 * i + 2].copy_from_slice(&(v as u16).to_le_bytes()),
            Kind::Fat32 => {
                let top = le32(&self.table, 4 * i) & 0xF000_0000;
                self.table[4 * i..4 * i + 4].copy_from_slice(&(top | v).to_le_bytes());
            }
        }
        let width = if self.g.kind == Kind::Fat16 { 2 } else { 4 };
        self.dirty[i * width / self.g.sector as usize] = true;
    }

    /// Calls `f` on each cluster of the chain from `first`, in order; returns how many.
    fn walk(
        &self,
        first: u32,
        mut f: impl FnMut(u32) -> Result<(), FatError>,
    ) -> Result<u32, FatError> {
        if !self.valid(first) {
            return Err(FatError::BadCluster {
                at: 0,
                value: first,
            });
        }
        let (mut c, mut n) = (first, 0u32);
        loop {
            n += 1;
            if n > self.g.clusters {
                return Err(FatError::ChainLoop { first });
            }
            f(c)?;
            match self.next(c) {
                Next::End => return Ok(n),
                Next::Cluster(next) => c = next,
                Next::Free | Next::Bad => {
                    return Err(FatError::BadCluster {
                        at: c,
                        value: self.raw_entry(c),
                    })
                }
                Next::Invalid(value) => return Err(FatError::BadCluster { at: c, value }),
            }
        }
    }

    /// The clusters of the chain from `first`, checked to hold `size` bytes.
    fn chain(&self, first: u32, size: u32) -> Result<Vec<u32>, FatError> {
        let mut out = Vec::new();
        if first == 0 {
            return match size {
                0 => Ok(out),
                _ => Err(FatError::ChainTooShort { first, size }),
            };
        }
        self.walk(first, |c| {
            out.push(c);
            Ok(())
        })?;
        if (out.len() as u64) * u64::from(self.g.cluster) < u64::from(size) {
            return Err(FatError::ChainTooShort { first, size });
        }
        Ok(out)
    }

    /// Marks FSInfo's hints unknown (first), then writes every dirty FAT sector into every
    /// FAT copy.
    fn commit_table(&mut self) -> Result<(), FatError> {
        if self.dirty.iter().any(|&d| d) {
            self.forget_fsinfo()?;
        }
        let s = self.g.sector as usize;
        let mut i = 0;
        while i < self.dirty.len() {
            if !self.dirty[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < self.dirty.len() && self.dirty[i] {
                self.dirty[i] = false;
                i += 1;
            }
            let run = self.table[start * s..i * s].to_vec();
            for copy in 0..self.g.fats {
                let at = self.g.fat_start + u64::from(copy) * self.g.fat_bytes + (start * s) as u64;
                self.write_at(at, &run)?;
            }
        }
        Ok(())
    }

    /// FAT32: marks FSInfo's free count and next-free hint unknown (once per open).
    fn forget_fsinfo(&mut self) -> Result<(), FatError> {
        let Some(at) = self.g.fsinfo.filter(|_| !self.fsinfo_done) else {
            return Ok(());
        };
        self.fsinfo_done = true;
        let mut sector = vec![0u8; self.g.sector as usize];
        self.read_at(at, &mut sector)?;
        let signed = le32(&sector, 0) == 0x4161_5252 && le32(&sector, 484) == 0x6141_7272;
        if signed && sector[488..496].iter().any(|&b| b != 0xFF) {
            sector[488..496].fill(0xFF);
            self.write_at(at, &sector)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes from byte `offset` of the ESP (pending writes first).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FatError> {
        self.flush_pending()?;
        self.read_raw(offset, buf)
    }

    /// Writes `data` at byte `offset` of the ESP (pending writes first).
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), FatError> {
        self.flush_pending()?;
        self.write_raw(offset, data)
    }

    fn check_range(&self, offset: u64, len: usize) -> Result<(), FatError> {
        let end = offset.saturating_add(len as u64);
        if end > self.dev.block_count().saturating_mul(BLOCK as u64) {
            return Err(FatError::PastDevice { end });
        }
        Ok(())
    }

    fn read_raw(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), FatError> {
        self.check_range(offset, buf.len())?;
        let mut done = 0;
        while done < buf.len() {
            let pos = offset + done as u64;
            let (block, skip) = (pos / BLOCK as u64, (pos % BLOCK as u64) as usize);
            let want = buf.len() - done;
            let blocks = (skip + want).div_ceil(BLOCK).min(MAX_IO_BLOCKS);
            let scratch = &mut self.scratch[..blocks * BLOCK];
            self.dev.read(block, scratch).map_err(|_| FatError::Io {
                block,
                write: false,
            })?;
            let n = (blocks * BLOCK - skip).min(want);
            buf[done..done + n].copy_from_slice(&scratch[skip..skip + n]);
            done += n;
        }
        Ok(())
    }

    /// Writes `data` at `offset`: whole blocks at a time, a partly covered block read first so
    /// that only `data`'s bytes change.
    fn write_raw(&mut self, offset: u64, data: &[u8]) -> Result<(), FatError> {
        self.check_range(offset, data.len())?;
        let mut done = 0;
        while done < data.len() {
            let pos = offset + done as u64;
            let (block, skip) = (pos / BLOCK as u64, (pos % BLOCK as u64) as usize);
            let blocks = (skip + data.len() - done)
                .div_ceil(BLOCK)
                .min(MAX_IO_BLOCKS);
            let n = (blocks * BLOCK - skip).min(data.len() - done);
            let scratch = &mut self.scratch[..blocks * BLOCK];
            let read_err = |_| FatError::Io {
                block,
                write: false,
            };
            if skip != 0 || (n < BLOCK && blocks == 1) {
                self.dev
                    .read(block, &mut scratch[..BLOCK])
                    .map_err(read_err)?;
            }
            if !(skip + n).is_multiple_of(BLOCK) && blocks > 1 {
                let last = blocks - 1;
                let r = self
                    .dev
                    .read(block + last as u64, &mut scratch[last * BLOCK..]);
                r.map_err(read_err)?;
            }
            scratch[skip..skip + n].copy_from_slice(&data[done..done + n]);
            self.dev
                .write(block, scratch)
                .map_err(|_| FatError::Io { block, write: true })?;
            done += n;
        }
        Ok(())
    }

    /// Writes the run of new-file bytes not yet written.
    fn flush_pending(&mut self) -> Result<(), FatError> {
        match self.pending.take() {
            Some((at, bytes)) => self.write_raw(at, &bytes),
            None => Ok(()),
        }
    }
}
