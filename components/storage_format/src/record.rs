//! Byte layouts of the superblock and of a slot's file record (see `docs/storage.md`).

use crate::{crc32, BLOCK_SIZE, FIRST_SLOT, MAX_FILE_SIZE, MAX_PATH_LEN};
use protocol::storage_v1::normalize;

/// Superblock magic (bytes 0..8 of block 32).
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"PGSTORE1";
/// Record magic (bytes 0..8 of a used slot).
pub const RECORD_MAGIC: [u8; 8] = *b"PGRECRD1";
/// The format version in the superblock.
pub const VERSION: u32 = 1;

/// Where the CRC-32 sits: the last 4 bytes of a block, over everything before them.
const CRC_AT: usize = BLOCK_SIZE - 4;
const PATH_AT: usize = 24;
const DATA_AT: usize = PATH_AT + MAX_PATH_LEN; // 152
const DATA_END: usize = DATA_AT + MAX_FILE_SIZE; // 3224
const _: () = assert!(DATA_END <= CRC_AT);

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn seal(block: &mut [u8; BLOCK_SIZE]) {
    let crc = crc32(&block[..CRC_AT]);
    block[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
}

fn crc_ok(block: &[u8; BLOCK_SIZE]) -> bool {
    crc32(&block[..CRC_AT]) == le_u32(block, CRC_AT)
}

/// Writes a superblock for `slots` slots into `block`.
pub fn encode_superblock(block: &mut [u8; BLOCK_SIZE], slots: u32) {
    block.fill(0);
    block[0..8].copy_from_slice(&SUPERBLOCK_MAGIC);
    block[8..12].copy_from_slice(&VERSION.to_le_bytes());
    block[12..16].copy_from_slice(&slots.to_le_bytes());
    block[16..24].copy_from_slice(&FIRST_SLOT.to_le_bytes());
    block[24..32].copy_from_slice(&1u64.to_le_bytes());
    seal(block);
}

/// What block 32 holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuperblockState {
    /// All zeros: no store yet.
    Blank,
    /// A valid superblock for this many slots.
    Valid {
        /// The slot count chosen at format time.
        slots: u32,
    },
    /// A valid superblock of another format version.
    OtherVersion(u32),
    /// Anything else (checksum failure, foreign data).
    Damaged,
}

/// Classifies the contents of the superblock's block.
pub fn decode_superblock(block: &[u8; BLOCK_SIZE]) -> SuperblockState {
    if block.iter().all(|&b| b == 0) {
        return SuperblockState::Blank;
    }
    if block[0..8] != SUPERBLOCK_MAGIC || !crc_ok(block) || le_u64(block, 16) != FIRST_SLOT {
        return SuperblockState::Damaged;
    }
    match le_u32(block, 8) {
        VERSION => SuperblockState::Valid {
            slots: le_u32(block, 12),
        },
        v => SuperblockState::OtherVersion(v),
    }
}

/// Writes a file record for slot `slot` into `block`. `path` must be normalized and
/// non-empty, `data` at most [`MAX_FILE_SIZE`] bytes (checked by the caller; longer input is
/// cut rather than overflowing).
pub fn encode_record(
    block: &mut [u8; BLOCK_SIZE],
    slot: u32,
    generation: u64,
    path: &str,
    data: &[u8],
) {
    let path = &path.as_bytes()[..path.len().min(MAX_PATH_LEN)];
    let data = &data[..data.len().min(MAX_FILE_SIZE)];
    block.fill(0);
    block[0..8].copy_from_slice(&RECORD_MAGIC);
    block[8..12].copy_from_slice(&slot.to_le_bytes());
    block[12..14].copy_from_slice(&(path.len() as u16).to_le_bytes());
    block[14..16].copy_from_slice(&(data.len() as u16).to_le_bytes());
    block[16..24].copy_from_slice(&generation.to_le_bytes());
    block[PATH_AT..PATH_AT + path.len()].copy_from_slice(path);
    block[DATA_AT..DATA_AT + data.len()].copy_from_slice(data);
    seal(block);
}

/// What a slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// All zeros.
    Free,
    /// A valid file record.
    File {
        /// Its generation (higher = newer).
        generation: u64,
        /// The file's normalized path.
        path: &'a str,
        /// The file's contents.
        data: &'a [u8],
    },
    /// Anything else: a checksum failure, a bad magic, a record for another slot, a bad
    /// length or path. `claim` is the path the record names if its magic and path field
    /// still look right (so the damage can be reported against that path); never trusted
    /// for anything else.
    Damaged {
        /// The path the damaged record seems to belong to.
        claim: Option<&'a str>,
    },
}

fn claimed_path(block: &[u8; BLOCK_SIZE]) -> Option<&str> {
    if block[0..8] != RECORD_MAGIC {
        return None;
    }
    let len = usize::from(le_u16(block, 12));
    if len == 0 || len > MAX_PATH_LEN {
        return None;
    }
    let path = core::str::from_utf8(&block[PATH_AT..PATH_AT + len]).ok()?;
    (normalize(path) == Ok(path)).then_some(path)
}

/// Classifies the contents of slot `slot`'s block. Never panics.
pub fn parse_record(block: &[u8; BLOCK_SIZE], slot: u32) -> Record<'_> {
    if block.iter().all(|&b| b == 0) {
        return Record::Free;
    }
    let damaged = Record::Damaged {
        claim: claimed_path(block),
    };
    if !crc_ok(block) || le_u32(block, 8) != slot {
        return damaged;
    }
    let Some(path) = claimed_path(block) else {
        return damaged;
    };
    let len = usize::from(le_u16(block, 14));
    let path_end = PATH_AT + path.len();
    if len > MAX_FILE_SIZE
        || block[path_end..DATA_AT].iter().any(|&b| b != 0)
        || block[DATA_AT + len..CRC_AT].iter().any(|&b| b != 0)
    {
        return damaged;
    }
    Record::File {
        generation: le_u64(block, 16),
        path,
        data: &block[DATA_AT..DATA_AT + len],
    }
}
