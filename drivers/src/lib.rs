//! PandaGen device drivers, independent of the kernel so that the host can test them with fakes.
//!
//! - [`hal`]: what the drivers need from the machine: port I/O ([`hal::PortIo`]), and one
//!   controller's registers, DMA memory and clock ([`hal::MmioDmaHal`], for AHCI and NVMe);
//!   virtio-blk maps MMIO and allocates DMA memory through [`virtio_blk::Hal`] (the
//!   `virtio-drivers` crate's trait). The kernel implements them.
//! - [`pci`]: PCI enumeration over configuration mechanism #1 (ports `0xCF8`/`0xCFC`).
//! - [`block`]: the [`block::BlockDevice`] interface, a RAM disk and a 4 KiB-block adapter.
//! - [`virtio_blk`]: virtio-blk over PCI, wrapping `virtio-drivers`, as a `BlockDevice`.
//! - [`ahci`]: AHCI (SATA) host bus adapters and their disks as `BlockDevice`s, generic over
//!   [`ahci::AhciHal`] (= [`hal::MmioDmaHal`]), which the kernel implements.
//! - [`nvme`]: NVMe controllers and their namespaces as `BlockDevice`s, generic over
//!   [`nvme::NvmeHal`] (= [`hal::MmioDmaHal`]).
//!
//! The crate has no `unsafe` blocks outside tests: its unsafe items are the
//! `ConfigurationAccess::unsafe_clone` that `virtio-drivers` requires of [`pci::PortConfig`]
//! (a plain clone), the [`hal::MmioDmaHal`] trait and [`hal::DmaRegion::new`] (both promises a
//! HAL makes). The unsafety of port I/O, MMIO and DMA lives in the kernel's implementations of
//! [`hal::PortIo`], [`virtio_blk::Hal`] and [`hal::MmioDmaHal`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod ahci;
pub mod block;
pub mod hal;
pub mod nvme;
pub mod pci;
pub mod virtio_blk;

/// Re-exported so that the kernel implements the exact `Hal` trait the drivers use, without a
/// second, possibly mismatched, dependency line.
pub use virtio_drivers;
