//! PandaGen device drivers, independent of the kernel so that the host can test them with fakes.
//!
//! - [`hal`]: what the drivers need from the machine (port I/O); MMIO mapping and DMA come
//!   through [`virtio_blk::Hal`] (the `virtio-drivers` crate's trait), which the kernel
//!   implements.
//! - [`pci`]: PCI enumeration over configuration mechanism #1 (ports `0xCF8`/`0xCFC`).
//! - [`block`]: the [`block::BlockDevice`] interface, a RAM disk and a 4 KiB-block adapter.
//! - [`virtio_blk`]: virtio-blk over PCI, wrapping `virtio-drivers`, as a `BlockDevice`.
//! - [`ahci`]: AHCI (SATA) host bus adapters and their disks as `BlockDevice`s, generic over
//!   [`ahci::AhciHal`] (registers, DMA memory, clock), which the kernel implements.
//!
//! The crate has no `unsafe` blocks outside tests: its unsafe items are the
//! `ConfigurationAccess::unsafe_clone` that `virtio-drivers` requires of [`pci::PortConfig`]
//! (a plain clone), the [`ahci::AhciHal`] trait and [`ahci::DmaRegion::new`] (both promises a
//! HAL makes). The unsafety of port I/O, MMIO and DMA lives in the kernel's implementations of
//! [`hal::PortIo`], [`virtio_blk::Hal`] and [`ahci::AhciHal`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod ahci;
pub mod block;
pub mod hal;
pub mod pci;
pub mod virtio_blk;

/// Re-exported so that the kernel implements the exact `Hal` trait the drivers use, without a
/// second, possibly mismatched, dependency line.
pub use virtio_drivers;
