//! PandaGen's boot files on the EFI system partition, replaced by the running system so that a
//! power cut at any point leaves a bootable ESP (docs/esp.md).
//!
//! [`fat`] reads and writes a FAT16/FAT32 volume through 4096-byte blocks ([`fat::Blocks`]);
//! [`install`] writes one slot's kernel (and slot A's module), limine.conf and the boot loader
//! in the order that keeps every intermediate state consistent.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod fat;
pub mod install;

#[cfg(test)]
mod tests;
