//! The PandaGen system image as data: block 0, the manifest, its dependency graph and streaming verification.
//!
//! The crate is `no_std` and never allocates, so the kernel can verify its own image before it has a heap.
//! Everything it returns is bounded (`heapless`); every limit is a named constant and going over one is a
//! named [`LoadError`], never a silent truncation. The byte layout is described in `docs/image-format.md`.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![allow(
    clippy::result_large_err,
    reason = "without a heap, errors carry the names at fault inline (about 130 bytes); a load error is fatal, never hot"
)]

pub mod capability;
pub mod error;
pub mod graph;
pub mod hex;
pub mod manifest;
pub mod mem;
pub mod memory_limit;
pub mod pack;
pub mod sha256;
pub mod signature;
pub mod slim;
pub mod slots;
pub mod superblock;
pub mod verify;

#[cfg(test)]
mod testimage;

pub use error::LoadError;
pub use manifest::{Entry, Kernel, Manifest};
pub use mem::MemSource;
pub use sha256::Sha256Digest;
pub use superblock::{Superblock, BLOCK_SIZE, FORMAT_VERSION, MAGIC};
pub use verify::{verify_image, verify_image_into, BlockSource, Observer, Verified, VerifiedImage};
