//! pgfs: PandaGen's crash-safe filesystem for the user-data region.
//!
//! Everything (inodes, directory entries, file block maps, the locations of the free-space
//! bitmap blocks) is an item of one copy-on-write B-tree keyed `(inode, type, offset)`. A
//! transaction changes copies of nodes in newly allocated blocks, and [`Fs::sync`] commits
//! it: it writes the new nodes, bitmap blocks and data, flushes, then writes a superblock
//! naming the new root into the slot (block 32 or 33) that does not hold the current one,
//! and flushes again. Mount takes the valid superblock with the highest generation; if it
//! or its root node is damaged, the other one (the previous commit, left intact because no
//! block either root uses is reused before the next commit) and says so.
//!
//! Durability: an operation is durable once a later [`Fs::sync`] returns `Ok`. After a
//! power cut the filesystem is exactly as after the last `sync` that returned, or — if the
//! cut hit a `sync` — possibly as after that one; never anything in between.
//!
//! Every metadata block carries a CRC-32C and its own block number; every data block's
//! CRC-32C is kept in the item that points to it. Byte-by-byte layout: `docs/pgfs.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod bitmap;
mod check;
mod crc;
mod data;
mod device;
mod dir;
mod error;
mod fs;
pub mod layout;
pub mod mem;
mod node;
mod ops;
mod tree;

pub use check::{CheckReport, ScrubReport};
pub use crc::crc32c;
pub use device::{Block, BlockDevice, IoError};
pub use error::{BlockKind, Error};
pub use fs::{FormatOptions, Fs, MountReport, StatFs};
pub use layout::FileKind;
pub use ops::{components, Cursor, DirEntry, Stat};

/// Bytes per block.
pub const BLOCK_SIZE: usize = 4096;
/// Format version written; a superblock with a higher one is refused.
pub const VERSION: u32 = 1;
/// Superblock slot A (the first block pgfs uses; 0..32 are the kernel's).
pub const SUPER_A: u64 = 32;
/// Superblock slot B.
pub const SUPER_B: u64 = 33;
/// First block the allocator hands out.
pub const FIRST_FREE: u64 = 34;
/// Smallest region pgfs formats (256 KiB).
pub const MIN_BLOCKS: u64 = 64;
/// Longest name, in bytes of UTF-8.
pub const MAX_NAME: usize = 255;
/// Largest file size pgfs addresses (2^60 bytes; free space is the practical limit).
pub const MAX_FILE_SIZE: u64 = 1 << 60;
/// The root directory's inode.
pub const ROOT_OID: u64 = 1;

/// A modification time from the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    /// Seconds.
    pub secs: u64,
    /// Nanoseconds.
    pub nanos: u32,
}
