//! PandaGen device drivers, independent of the kernel so that the host can test them with fakes.
//!
//! - [`hal`]: what the drivers need from the machine: port I/O ([`hal::PortIo`]), DMA memory
//!   and a clock ([`hal::DmaHal`]), and one controller's memory-mapped registers on top
//!   ([`hal::MmioDmaHal`], for AHCI and NVMe); virtio-blk maps MMIO and allocates DMA memory
//!   through [`virtio_blk::Hal`] (the `virtio-drivers` crate's trait). The kernel implements
//!   them.
//! - [`pci`]: PCI enumeration over configuration mechanism #1 (ports `0xCF8`/`0xCFC`).
//! - [`block`]: the [`block::BlockDevice`] interface, a RAM disk and a 4 KiB-block adapter.
//! - [`virtio_blk`]: virtio-blk over PCI, wrapping `virtio-drivers`, as a `BlockDevice`.
//! - [`ata`]: what the ATA disk drivers share: command codes, status and error bits,
//!   signatures, IDENTIFY DEVICE parsing.
//! - [`ahci`]: AHCI (SATA) host bus adapters and their disks as `BlockDevice`s, generic over
//!   [`ahci::AhciHal`] (= [`hal::MmioDmaHal`]), which the kernel implements.
//! - [`ide`]: IDE (PIIX3/PIIX4 and compatible) controllers and their ATA disks as
//!   `BlockDevice`s, PIO or bus-master DMA, generic over [`ide::IdeHal`] ([`hal::PortIo`] +
//!   [`hal::DmaHal`] with DMA memory below 4 GiB).
//! - [`nvme`]: NVMe controllers and their namespaces as `BlockDevice`s, generic over
//!   [`nvme::NvmeHal`] (= [`hal::MmioDmaHal`]).
//! - [`net`]: the [`net::NetDevice`] interface (Ethernet frames) and the Intel 82574L (e1000e)
//!   driver, polled, generic over [`net::e1000e::E1000eHal`] (= [`hal::MmioDmaHal`]).
//! - [`ps2`]: the i8042 PS/2 controller's bring-up over [`hal::PortIo`] plus a clock
//!   ([`ps2::Ps2Hal`]), a scancode ring for the interrupt handler, and the keyboard decoder
//!   (`pc-keyboard`: scancode sets 1 and 2, US/UK/German/French layouts) that turns scancodes
//!   into the console's bytes (UTF-8, VT100 sequences for the editing keys).
//!
//! The crate has no `unsafe` blocks outside tests: its unsafe items are the
//! `ConfigurationAccess::unsafe_clone` that `virtio-drivers` requires of [`pci::PortConfig`]
//! (a plain clone), the [`hal::DmaHal`], [`hal::MmioDmaHal`] and [`ide::IdeHal`] traits and
//! [`hal::DmaRegion::new`] (all promises a HAL makes). The unsafety of port I/O, MMIO and DMA
//! lives in the kernel's implementations of [`hal::PortIo`], [`virtio_blk::Hal`],
//! [`hal::DmaHal`], [`hal::MmioDmaHal`] and [`ide::IdeHal`].
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod ahci;
pub mod ata;
pub mod block;
pub mod hal;
pub mod ide;
pub mod net;
pub mod nvme;
pub mod pci;
pub mod ps2;
pub mod usb;
pub mod virtio_blk;

/// Re-exported so that the kernel implements the exact `Hal` trait the drivers use, without a
/// second, possibly mismatched, dependency line.
pub use virtio_drivers;
