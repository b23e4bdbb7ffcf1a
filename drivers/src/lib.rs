//! PandaGen device drivers, independent of the kernel so that the host can test them with fakes.
//!
//! - [`hal`]: what the drivers need from the machine (port I/O); MMIO mapping and DMA come
//!   through [`virtio_blk::Hal`] (the `virtio-drivers` crate's trait), which the kernel
//!   implements.
//! - [`pci`]: PCI enumeration over configuration mechanism #1 (ports `0xCF8`/`0xCFC`).
//! - [`block`]: the [`block::BlockDevice`] interface, a RAM disk and a 4 KiB-block adapter.
//! - [`virtio_blk`]: virtio-blk over PCI, wrapping `virtio-drivers`, as a `BlockDevice`.
//!
//! The crate has no `unsafe` blocks outside tests: its only unsafe item is the
//! `ConfigurationAccess::unsafe_clone` that `virtio-drivers` requires of [`pci::PortConfig`]
//! (a plain clone). The unsafety of port I/O, MMIO and DMA lives in the kernel's
//! implementations of [`hal::PortIo`] and [`virtio_blk::Hal`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod block;
pub mod hal;
pub mod pci;
pub mod virtio_blk;

/// Re-exported so that the kernel implements the exact `Hal` trait the drivers use, without a
/// second, possibly mismatched, dependency line.
pub use virtio_drivers;
