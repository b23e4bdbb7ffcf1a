//! The on-disk format of PandaGen's persistent store, and the store itself.
//!
//! `services_storage` keeps files in the user-data region (USERDATA_* syscalls,
//! [`BLOCK_SIZE`]-byte blocks). Blocks below [`FIRST_BLOCK`] (32) belong to the kernel (block 0:
//! boot counter, blocks 1..=16: the `test=persist` record, 17..=31: spare) and are never
//! touched. From there:
//!
//! * block 32 ([`SUPERBLOCK`]): the superblock, `PGSTORE1`;
//! * blocks 33.. ([`FIRST_SLOT`]): up to [`MAX_SLOTS`] slots, one block each. A slot is free
//!   (all zeros) or holds one checksummed file record (`PGRECRD1`) with the whole file
//!   (path + up to 3072 bytes of data). Anything else in a slot is damage.
//!
//! Every record carries a CRC-32 over its first 4092 bytes. A record that fails it (or is
//! otherwise malformed) is *damaged*: its data is never returned; reads of the path it claims
//! fail with `Damaged { block }` and listings show it as a damaged entry.
//!
//! A write puts the new version in a free slot with a higher generation, then zeroes the old
//! slot. A power cut before the first write completes leaves the old version; between the
//! writes both are valid and [`Store::mount`] keeps the newer generation (and frees the older);
//! after the second write only the new one exists. Byte-by-byte layout: `docs/storage.md`.
//!
//! The crate is pure: the device is the [`Blocks`] trait, the store needs no allocator
//! (its index is a fixed array, about 20 KiB), and [`Store::serve`] executes a whole
//! `storage_api` request message (see [`protocol::storage`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "convert")]
extern crate alloc;

#[cfg(feature = "convert")]
pub mod convert;
mod crc;
mod record;
mod store;

pub use crc::crc32;
pub use record::{
    decode_superblock, encode_record, encode_superblock, parse_record, Record, SuperblockState,
    RECORD_MAGIC, SUPERBLOCK_MAGIC, VERSION,
};
pub use store::{error_reply, MountError, MountReport, Store};

pub use protocol::storage_v1::{
    StorageError, MAX_DEPTH, MAX_FILE_SIZE, MAX_NAME_LEN, MAX_PATH_LEN,
};

/// Size of a block (and of a slot), in bytes: `abi::USERDATA_BLOCK_SIZE`.
pub const BLOCK_SIZE: usize = 4096;

/// First user-data block the store may use (numbered from the start of the whole region).
/// Blocks `0..FIRST_BLOCK` are the kernel's (`abi::userdata`: block 0 the boot counter, 1..=16
/// the `test=persist` record, 17..=31 spare); the kernel does not let components address them
/// at all, and `services_storage` maps `FIRST_BLOCK` onto the first block it may use.
pub const FIRST_BLOCK: u64 = 32;
/// The superblock's block.
pub const SUPERBLOCK: u64 = FIRST_BLOCK;
/// The block of slot 0; slot `i` is block `FIRST_SLOT + i`.
pub const FIRST_SLOT: u64 = FIRST_BLOCK + 1;
/// The most slots (= files, damaged records included) a store has, whatever the region size.
pub const MAX_SLOTS: usize = 1024;

/// A device I/O failure (the store reports it as [`StorageError::Io`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError;

/// The block device the store lives on: region-relative [`BLOCK_SIZE`]-byte blocks.
pub trait Blocks {
    /// Reads `buf.len()` bytes (a multiple of [`BLOCK_SIZE`]) starting at `block`.
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes `buf` (a multiple of [`BLOCK_SIZE`]) starting at `block`; returns once the
    /// data is durable.
    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError>;
    /// The region's size in blocks.
    fn blocks(&self) -> u64;
}

/// The block a slot lives in.
pub const fn slot_block(slot: usize) -> u64 {
    FIRST_SLOT + slot as u64
}

#[cfg(test)]
mod tests;
