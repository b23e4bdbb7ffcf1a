//! Conversion of the old record store into a pgfs filesystem in the same region, keeping
//! every file, crash-safe at every write (byte-exact rules: `docs/pgfs.md`, *Conversion*).
//!
//! The old store is read by scanning the slots `33..33 + MAX_SLOTS` (clipped to the region)
//! for records, never trusting the old superblock, so a conversion whose first superblock
//! write was torn (the old superblock is gone, the slots are intact) is finished the same way.
//! pgfs is then formatted with every file, avoiding the slots that hold old records; its
//! first superblock goes to block 32 only, so until it is durable the old store is complete.

use crate::record::{parse_record, Record, RECORD_MAGIC, SUPERBLOCK_MAGIC};
use crate::{Blocks, IoError, BLOCK_SIZE, FIRST_SLOT, MAX_SLOTS};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use pgfs::layout::{decode_super, SuperRead, MAGIC_BITMAP, MAGIC_LEAF, MAGIC_NODE};
use pgfs::{BlockDevice, FormatOptions, Fs, Time, SUPER_A};

/// The old store's [`Blocks`] over a pgfs [`BlockDevice`] (each write is flushed before it
/// returns, as `Blocks` requires). Tests build old stores on `pgfs::mem::MemDevice` with it.
#[derive(Debug)]
pub struct PgfsBlocks<D: BlockDevice>(pub D);

impl<D: BlockDevice> Blocks for PgfsBlocks<D> {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        for (i, chunk) in buf.chunks_exact_mut(BLOCK_SIZE).enumerate() {
            let mut b = [0u8; BLOCK_SIZE];
            self.0.read(block + i as u64, &mut b).map_err(|_| IoError)?;
            chunk.copy_from_slice(&b);
        }
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        for (i, chunk) in buf.chunks_exact(BLOCK_SIZE).enumerate() {
            let mut b = [0u8; BLOCK_SIZE];
            b.copy_from_slice(chunk);
            self.0.write(block + i as u64, &b).map_err(|_| IoError)?;
        }
        self.0.flush().map_err(|_| IoError)
    }

    fn blocks(&self) -> u64 {
        self.0.block_count()
    }
}

/// What blocks 32 and 33 say the region holds (see [`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionState {
    /// Both zero: nothing yet (`pgfs::Fs::format`).
    Blank,
    /// Block 32 starts with `PGSTORE1`: the old store (convert with [`to_pgfs`]).
    OldStore,
    /// A conversion was cut during its superblock write: block 32 is a damaged pgfs
    /// superblock (or zeros) and block 33 an old record or zeros (convert with [`to_pgfs`]).
    Interrupted,
    /// A pgfs filesystem, or its damage: `pgfs::Fs::mount` decides.
    Pgfs,
    /// Something else: touch nothing.
    Unknown,
}

impl fmt::Display for RegionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Blank => "an empty region",
            Self::OldStore => "the old record store",
            Self::Interrupted => "an interrupted conversion",
            Self::Pgfs => "a pgfs filesystem",
            Self::Unknown => "an unknown format",
        })
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Classifies the region from blocks 32 and 33 alone (cheap: for mount time).
pub fn classify(block32: &[u8; BLOCK_SIZE], block33: &[u8; BLOCK_SIZE]) -> RegionState {
    let old33 = is_zero(block33) || block33[..8] == RECORD_MAGIC;
    if block32[..8] == SUPERBLOCK_MAGIC {
        return RegionState::OldStore;
    }
    if is_zero(block32) {
        return match (is_zero(block33), old33) {
            (true, _) => RegionState::Blank,
            (false, true) => RegionState::Interrupted,
            (false, false) => RegionState::Pgfs,
        };
    }
    match decode_super(block32, SUPER_A) {
        SuperRead::Damaged if old33 => RegionState::Interrupted,
        SuperRead::Valid(_) | SuperRead::Newer(_) | SuperRead::Damaged => RegionState::Pgfs,
        _ => RegionState::Unknown,
    }
}

/// Whether the region must be converted ([`RegionState::OldStore`] or
/// [`RegionState::Interrupted`]) before pgfs can mount it.
pub fn is_old_store(block32: &[u8; BLOCK_SIZE], block33: &[u8; BLOCK_SIZE]) -> bool {
    matches!(
        classify(block32, block33),
        RegionState::OldStore | RegionState::Interrupted
    )
}

/// What [`to_pgfs`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    /// Files converted (each at `/` + its old path).
    pub files: u64,
    /// Damaged records kept as `/lost+found/record-<block>` (their raw 4096 bytes).
    pub damaged: u64,
    /// Older copies of a path left by an interrupted replace (the higher generation won).
    pub superseded: u64,
    /// Bytes of file data converted (the damaged records' bytes not included).
    pub bytes: u64,
    /// Blocks left in free slots by an earlier, interrupted conversion, recognised and skipped.
    pub leftovers: u64,
    /// The old superblock was gone (an interrupted conversion): the slots were salvaged.
    pub salvaged: bool,
    /// The blocks the conversion did not write (the old slots it kept intact).
    pub reserved: Range<u64>,
}

/// Why a conversion failed; the old store is intact in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// Reading block `block` of the old store failed.
    Io {
        /// The block at fault.
        block: u64,
    },
    /// Blocks 32/33 hold no old store and no interrupted conversion.
    NotOldStore {
        /// What they hold.
        found: RegionState,
    },
    /// The region has no room for the new filesystem next to the old records.
    NoSpace {
        /// The region's size in blocks.
        blocks: u64,
    },
    /// Building the new filesystem failed.
    Fs(pgfs::Error),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { block } => write!(
                f,
                "I/O error reading old store block {block}; the old store is untouched, retry"
            ),
            Self::NotOldStore { found } => write!(
                f,
                "nothing to convert: blocks 32/33 hold {found}; mount or format instead"
            ),
            Self::NoSpace { blocks } => write!(
                f,
                "region of {blocks} blocks too small for pgfs next to the old records; \
                 free old slots or grow the region"
            ),
            Self::Fs(e) => write!(f, "building the pgfs filesystem failed: {e}; retry"),
        }
    }
}

/// One valid old record.
struct OldFile {
    generation: u64,
    block: u64,
    data: Vec<u8>,
}

/// Everything the slot scan found.
#[derive(Default)]
struct Scan {
    files: BTreeMap<String, OldFile>,
    damaged: Vec<(u64, Box<[u8; BLOCK_SIZE]>)>,
    /// Non-zero blocks that were neither records nor leftovers (for the sector check).
    others: Vec<(u64, Box<[u8; BLOCK_SIZE]>)>,
    superseded: u64,
    leftovers: u64,
    /// One past the last slot block holding anything of the old store.
    end: u64,
}

/// The slot blocks: `33..33 + MAX_SLOTS`, clipped to the region.
fn slot_range(blocks: u64) -> Range<u64> {
    FIRST_SLOT..(FIRST_SLOT + MAX_SLOTS as u64).min(blocks)
}

fn read<D: BlockDevice>(dev: &mut D, block: u64) -> Result<Box<[u8; BLOCK_SIZE]>, ConvertError> {
    let mut b = Box::new([0u8; BLOCK_SIZE]);
    dev.read(block, &mut b)
        .map_err(|_| ConvertError::Io { block })?;
    Ok(b)
}

impl Scan {
    fn add(&mut self, block: u64, b: Box<[u8; BLOCK_SIZE]>) {
        let slot = (block - FIRST_SLOT) as u32;
        let Record::File {
            generation,
            path,
            data,
        } = parse_record(&b, slot)
        else {
            self.others.push((block, b));
            return;
        };
        self.end = block + 1;
        let new = OldFile {
            generation,
            block,
            data: data.to_vec(),
        };
        match self.files.get(path) {
            Some(old) if old.generation >= generation => self.superseded += 1,
            Some(_) => {
                self.superseded += 1;
                self.files.insert(String::from(path), new);
            }
            None => {
                self.files.insert(String::from(path), new);
            }
        }
    }

    /// Sorts the non-record blocks into damaged records and leftovers of an earlier attempt.
    fn sort_others(&mut self) {
        let mut known = Sectors::default();
        for f in self.files.values() {
            known.add_data(&f.data);
        }
        for (block, b) in core::mem::take(&mut self.others) {
            if is_pgfs_meta(&b, block) || known.covers(&b[..]) {
                known.add(&b[..]);
                self.leftovers += 1;
                continue;
            }
            known.add(&b[..]);
            self.end = self.end.max(block + 1);
            self.damaged.push((block, b));
        }
    }
}

/// A pgfs tree node or bitmap block written where it lies (its first 16 bytes: magic and
/// own block number, which survive any torn write that reached the block).
fn is_pgfs_meta(b: &[u8; BLOCK_SIZE], block: u64) -> bool {
    let magic_ok = [MAGIC_LEAF, MAGIC_NODE, MAGIC_BITMAP]
        .iter()
        .any(|m| b[..8] == m[..]);
    magic_ok && b[8..16] == block.to_le_bytes()
}

const SECTOR: usize = 512;

/// The 512-byte sectors (by index in the block) of every block content the conversion may
/// have written into a free slot: a block made only of those and of zero sectors is a
/// (possibly torn) copy, not a damaged record.
#[derive(Default)]
struct Sectors(BTreeSet<(usize, [u8; SECTOR])>);

impl Sectors {
    fn add(&mut self, b: &[u8]) {
        for (i, s) in b.chunks_exact(SECTOR).enumerate() {
            let mut a = [0u8; SECTOR];
            a.copy_from_slice(s);
            self.0.insert((i, a));
        }
    }

    fn add_data(&mut self, data: &[u8]) {
        for chunk in data.chunks(BLOCK_SIZE) {
            let mut b = [0u8; BLOCK_SIZE];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(&b);
        }
    }

    fn covers(&self, b: &[u8]) -> bool {
        b.chunks_exact(SECTOR).enumerate().all(|(i, s)| {
            let mut a = [0u8; SECTOR];
            a.copy_from_slice(s);
            is_zero(s) || self.0.contains(&(i, a))
        })
    }
}

fn scan<D: BlockDevice>(dev: &mut D) -> Result<Scan, ConvertError> {
    let mut s = Scan {
        end: FIRST_SLOT,
        ..Scan::default()
    };
    for block in slot_range(dev.block_count()) {
        let b = read(dev, block)?;
        if !is_zero(&b[..]) {
            s.add(block, b);
        }
    }
    s.sort_others();
    Ok(s)
}

/// The new filesystem's files (valid files first, then `/lost+found`) and how many of them
/// are old files. A damaged record is kept as its raw block; a file whose parent path is
/// also a file (impossible in a store written by [`crate::Store`]) as its data.
fn plan(s: &Scan) -> (Vec<(String, Vec<u8>)>, u64) {
    let mut out = Vec::new();
    let mut lost: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (block, raw) in &s.damaged {
        lost.insert(*block, raw.to_vec());
    }
    for (path, f) in &s.files {
        let under_file = path
            .match_indices('/')
            .any(|(i, _)| s.files.contains_key(&path[..i]));
        if under_file {
            lost.insert(f.block, f.data.clone());
        } else {
            out.push((format!("/{path}"), f.data.clone()));
        }
    }
    let files = out.len() as u64;
    for (block, data) in lost {
        out.push((format!("/lost+found/record-{block}"), data));
    }
    (out, files)
}

/// Blocks pgfs needs for `files` (data, leaves half full, internal nodes, bitmap blocks).
fn need(files: &[(String, Vec<u8>)], blocks: u64) -> u64 {
    let mut data = 0;
    let mut items = 0;
    for (path, d) in files {
        let n = d.len().div_ceil(BLOCK_SIZE).max(1) as u64;
        data += n;
        items += 31 * n + 4 * (80 + path.len() as u64);
    }
    data + 2 * items.div_ceil(2000) + blocks.div_ceil(32480) + 16
}

/// The blocks the format must not write: all `MAX_SLOTS` slots if the region has room for
/// pgfs beyond them, else the slots up to the last one holding anything of the old store.
fn reservation(s: &Scan, files: &[(String, Vec<u8>)], blocks: u64) -> Range<u64> {
    let all = slot_range(blocks);
    if blocks >= FIRST_SLOT + MAX_SLOTS as u64 + need(files, blocks) {
        all
    } else {
        FIRST_SLOT..s.end
    }
}

/// Converts the old store (or finishes an interrupted conversion) on `dev` into a pgfs
/// filesystem holding every file at `/` + its old path, the damaged records as
/// `/lost+found/record-<block>`. A cut at any write leaves a region that
/// [`is_old_store`] still recognises (convert again) or a valid pgfs holding everything.
pub fn to_pgfs<D: BlockDevice>(
    mut dev: D,
    now: Time,
) -> Result<(Fs<D>, ConvertReport), ConvertError> {
    let (b32, b33) = (read(&mut dev, SUPER_A)?, read(&mut dev, FIRST_SLOT)?);
    let found = classify(&b32, &b33);
    if !matches!(found, RegionState::OldStore | RegionState::Interrupted) {
        return Err(ConvertError::NotOldStore { found });
    }
    let s = scan(&mut dev)?;
    let (files, converted) = plan(&s);
    let blocks = dev.block_count();
    let reserved = reservation(&s, &files, blocks);
    let list: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    let opts = FormatOptions {
        reserved: reserved.clone(),
        replace_old_store: true,
    };
    let fs = Fs::format_with(dev, now, &list, &opts).map_err(|e| match e {
        pgfs::Error::NoSpace => ConvertError::NoSpace { blocks },
        e => ConvertError::Fs(e),
    })?;
    let bytes = files[..converted as usize]
        .iter()
        .map(|(_, d)| d.len() as u64)
        .sum();
    let report = ConvertReport {
        files: converted,
        damaged: files.len() as u64 - converted,
        superseded: s.superseded,
        bytes,
        leftovers: s.leftovers,
        salvaged: found == RegionState::Interrupted,
        reserved,
    };
    Ok((fs, report))
}
