//! virtio-blk as a [`BlockDevice`], wrapping the `virtio-drivers` crate (its PCI transport and
//! its block driver), plus discovery among enumerated PCI functions.
//!
//! The device is driven synchronously: each request is queued, the device notified, and the
//! driver polls for completion (no interrupts). Requests larger than [`MAX_REQUEST_BYTES`] are
//! split, which bounds how much memory a HAL has to bounce for one request.

use alloc::vec::Vec;
use core::fmt;

use virtio_drivers::device::blk::{VirtIOBlk, SECTOR_SIZE};
use virtio_drivers::transport::pci::bus::Command;
pub use virtio_drivers::transport::pci::bus::{ConfigurationAccess, PciRoot};
pub use virtio_drivers::transport::pci::{PciTransport, VirtioPciError};
pub use virtio_drivers::transport::Transport;
pub use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::block::{check_request, BlockDevice, BlockError, DeviceFailure};
use crate::pci::PciDevice;

/// The size of a virtio-blk sector, the device's native block size.
pub const BLOCK_SIZE: usize = SECTOR_SIZE;
/// The largest single request sent to the device; larger reads and writes are split.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// Feature bit: the device is read-only (`VIRTIO_BLK_F_RO`).
pub const FEATURE_RO: u64 = 1 << 5;
/// Feature bit: the device has a volatile write cache and takes flush requests
/// (`VIRTIO_BLK_F_FLUSH`, formerly `VIRTIO_BLK_F_WCE`).
pub const FEATURE_FLUSH: u64 = 1 << 9;

/// Why a virtio-blk device could not be brought up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VirtioBlockError {
    /// The PCI function is not a virtio block device.
    NotVirtioBlock { vendor_id: u16, device_id: u16 },
    /// The virtio PCI transport could not be set up (capabilities missing, BAR unassigned…).
    Transport(VirtioPciError),
    /// Feature negotiation or queue setup failed (e.g. no DMA memory).
    Init(virtio_drivers::Error),
}

impl fmt::Display for VirtioBlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotVirtioBlock {
                vendor_id,
                device_id,
            } => write!(
                f,
                "{vendor_id:04x}:{device_id:04x} is not a virtio block device"
            ),
            Self::Transport(e) => write!(f, "virtio PCI transport: {e}"),
            Self::Init(e) => write!(f, "virtio-blk initialisation: {e}"),
        }
    }
}

/// Maps a `virtio-drivers` error on a request starting at `lba` to a [`BlockError`].
pub fn map_error(e: virtio_drivers::Error, lba: u64) -> BlockError {
    use virtio_drivers::Error as E;
    let failure = match e {
        E::IoError => return BlockError::Io { lba },
        E::NotReady => DeviceFailure::NotReady,
        E::Unsupported => DeviceFailure::Unsupported,
        E::DmaError => DeviceFailure::OutOfDmaMemory,
        E::QueueFull => DeviceFailure::QueueFull,
        _ => DeviceFailure::Protocol,
    };
    BlockError::Device { lba, failure }
}

/// A virtio block device over transport `T`, with DMA and MMIO through `H`.
///
/// Writes and flushes: a device offering `VIRTIO_BLK_F_RO` refuses both with
/// [`BlockError::ReadOnly`] (after the range checks, like every [`BlockDevice`]). A device
/// offering `VIRTIO_BLK_F_FLUSH` gets a flush request on [`BlockDevice::flush`]; one that does
/// not has no write-back cache to flush (as Linux also assumes), so `flush` succeeds without a
/// request ([`VirtioBlock::has_flush`] tells which).
pub struct VirtioBlock<H: Hal, T: Transport> {
    dev: VirtIOBlk<H, T>,
    blocks: u64,
    read_only: bool,
    flush: bool,
}

impl<H: Hal, T: Transport> VirtioBlock<H, T> {
    /// Initialises the device behind `transport` (feature negotiation, one request queue).
    ///
    /// # Errors
    /// [`VirtioBlockError::Init`] if the device rejects the features or the queue cannot be set
    /// up (including [`virtio_drivers::Error::DmaError`] when `H` has no DMA memory).
    pub fn new(mut transport: T) -> Result<Self, VirtioBlockError> {
        // `VirtIOBlk` negotiates RO and FLUSH whenever the device offers them.
        let flush = transport.read_device_features() & FEATURE_FLUSH != 0;
        let dev = VirtIOBlk::<H, T>::new(transport).map_err(VirtioBlockError::Init)?;
        Ok(Self {
            blocks: dev.capacity(),
            read_only: dev.readonly(),
            flush,
            dev,
        })
    }

    /// Whether the device takes flush requests (`VIRTIO_BLK_F_FLUSH`): it has a volatile write
    /// cache that [`BlockDevice::flush`] empties. Without it, `flush` sends nothing.
    pub fn has_flush(&self) -> bool {
        self.flush
    }

    /// The device's capacity in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.blocks * BLOCK_SIZE as u64
    }

    /// The wrapped driver, for requests this interface does not cover.
    pub fn driver(&mut self) -> &mut VirtIOBlk<H, T> {
        &mut self.dev
    }

    fn each_chunk(
        lba: u64,
        len: usize,
        mut f: impl FnMut(usize, core::ops::Range<usize>) -> Result<(), virtio_drivers::Error>,
    ) -> Result<(), BlockError> {
        let mut offset = 0;
        while offset < len {
            let n = (len - offset).min(MAX_REQUEST_BYTES);
            let at = lba + (offset / BLOCK_SIZE) as u64;
            let sector = usize::try_from(at).map_err(|_| BlockError::OutOfRange {
                lba,
                count: (len / BLOCK_SIZE) as u64,
                device_blocks: u64::MAX,
            })?;
            f(sector, offset..offset + n).map_err(|e| map_error(e, at))?;
            offset += n;
        }
        Ok(())
    }
}

impl<H: Hal, T: Transport> BlockDevice for VirtioBlock<H, T> {
    fn block_size(&self) -> usize {
        BLOCK_SIZE
    }

    fn num_blocks(&self) -> u64 {
        self.blocks
    }

    fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(BLOCK_SIZE, self.blocks, lba, buf.len())?;
        let dev = &mut self.dev;
        Self::each_chunk(lba, buf.len(), |sector, range| {
            dev.read_blocks(sector, &mut buf[range])
        })
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(BLOCK_SIZE, self.blocks, lba, buf.len())?;
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        let dev = &mut self.dev;
        Self::each_chunk(lba, buf.len(), |sector, range| {
            dev.write_blocks(sector, &buf[range])
        })
    }

    /// Sends a flush request if the device offers `VIRTIO_BLK_F_FLUSH`; otherwise succeeds at
    /// once (no write-back cache).
    ///
    /// # Errors
    /// [`BlockError::ReadOnly`] on a read-only device; [`BlockError::Io`] (LBA 0) if the device
    /// fails the flush; [`BlockError::Device`] for other failures (see [`map_error`]).
    fn flush(&mut self) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        if !self.flush {
            return Ok(());
        }
        self.dev.flush().map_err(|e| map_error(e, 0))
    }
}

/// The virtio block devices among `devices` (e.g. [`crate::pci::enumerate`]'s answer), in order.
pub fn find_virtio_block_devices(devices: &[PciDevice]) -> Vec<&PciDevice> {
    devices.iter().filter(|d| d.is_virtio_block()).collect()
}

/// Brings up the virtio block device `dev` found on `root`: turns on memory decoding and bus
/// mastering, sets up the modern virtio PCI transport (mapping its BARs through
/// `H::mmio_phys_to_virt`), and initialises the device.
///
/// # Errors
/// [`VirtioBlockError::NotVirtioBlock`] (nothing touched), [`VirtioBlockError::Transport`],
/// [`VirtioBlockError::Init`].
pub fn open_pci<H: Hal, C: ConfigurationAccess>(
    root: &mut PciRoot<C>,
    dev: &PciDevice,
) -> Result<VirtioBlock<H, PciTransport>, VirtioBlockError> {
    if !dev.is_virtio_block() {
        return Err(VirtioBlockError::NotVirtioBlock {
            vendor_id: dev.vendor_id,
            device_id: dev.device_id,
        });
    }
    let df = dev.address.into();
    let (_, command) = root.get_status_command(df);
    let wanted = Command::MEMORY_SPACE | Command::BUS_MASTER;
    if !command.contains(wanted) {
        root.set_command(df, command | wanted);
    }
    let transport = PciTransport::new::<H, C>(root, df).map_err(VirtioBlockError::Transport)?;
    VirtioBlock::new(transport)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::fake::{FakeConfig, FakeFunction};
    use crate::pci::{enumerate, PciAddress, VIRTIO_VENDOR};

    #[test]
    fn errors_map_to_block_errors() {
        use virtio_drivers::Error as E;
        assert_eq!(map_error(E::IoError, 7), BlockError::Io { lba: 7 });
        for (e, failure) in [
            (E::NotReady, DeviceFailure::NotReady),
            (E::Unsupported, DeviceFailure::Unsupported),
            (E::DmaError, DeviceFailure::OutOfDmaMemory),
            (E::QueueFull, DeviceFailure::QueueFull),
            (E::WrongToken, DeviceFailure::Protocol),
            (E::InvalidParam, DeviceFailure::Protocol),
        ] {
            assert_eq!(map_error(e, 3), BlockError::Device { lba: 3, failure });
        }
    }

    #[test]
    fn chunks_split_large_requests_with_their_lbas() {
        let mut seen = Vec::new();
        let len = MAX_REQUEST_BYTES * 2 + 1024;
        VirtioBlock::<NoHal, NoTransport>::each_chunk(10, len, |sector, range| {
            seen.push((sector, range.len()));
            Ok(())
        })
        .unwrap();
        let per = MAX_REQUEST_BYTES / BLOCK_SIZE;
        assert_eq!(
            seen,
            [
                (10, MAX_REQUEST_BYTES),
                (10 + per, MAX_REQUEST_BYTES),
                (10 + 2 * per, 1024)
            ]
        );
        let err = VirtioBlock::<NoHal, NoTransport>::each_chunk(10, len, |sector, _| {
            if sector > 10 {
                Err(virtio_drivers::Error::IoError)
            } else {
                Ok(())
            }
        });
        assert_eq!(
            err,
            Err(BlockError::Io {
                lba: 10 + per as u64
            })
        );
    }

    #[test]
    fn discovery_picks_virtio_block_functions() {
        let mut cfg = FakeConfig::default()
            .with(
                PciAddress::new(0, 2, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1000, 0x02, 0, 0),
            )
            .with(
                PciAddress::new(0, 3, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1001, 0x01, 0, 0),
            )
            .with(
                PciAddress::new(0, 4, 0),
                FakeFunction::new(VIRTIO_VENDOR, 0x1042, 0x01, 0, 0),
            )
            .with(
                PciAddress::new(0, 5, 0),
                FakeFunction::new(0x8086, 0x2922, 0x01, 0x06, 1),
            );
        let devs = enumerate(&mut cfg);
        let found: Vec<_> = find_virtio_block_devices(&devs)
            .iter()
            .map(|d| d.address.device)
            .collect();
        assert_eq!(found, [3, 4]);
    }

    #[test]
    fn open_refuses_other_devices_untouched() {
        let mut cfg = FakeConfig::default().with(
            PciAddress::new(0, 5, 0),
            FakeFunction::new(0x8086, 0x2922, 0x01, 0x06, 1),
        );
        let devs = enumerate(&mut cfg);
        let mut root = PciRoot::new(NoConfig);
        assert_eq!(
            open_pci::<NoHal, _>(&mut root, &devs[0]).err(),
            Some(VirtioBlockError::NotVirtioBlock {
                vendor_id: 0x8086,
                device_id: 0x2922
            })
        );
        assert!(VirtioBlockError::Init(virtio_drivers::Error::DmaError)
            .to_string()
            .contains("DMA"));
    }

    /// Configuration access that must not be used.
    struct NoConfig;

    impl ConfigurationAccess for NoConfig {
        fn read_word(&self, _: virtio_drivers::transport::pci::bus::DeviceFunction, _: u8) -> u32 {
            panic!("configuration space touched")
        }
        fn write_word(
            &mut self,
            _: virtio_drivers::transport::pci::bus::DeviceFunction,
            _: u8,
            _: u32,
        ) {
            panic!("configuration space touched")
        }
        unsafe fn unsafe_clone(&self) -> Self {
            NoConfig
        }
    }

    /// Type parameters for functions that never reach the HAL or the transport.
    struct NoHal;

    // SAFETY: every method panics, so no pointer is ever handed out; the tests using `NoHal`
    // never reach it.
    unsafe impl Hal for NoHal {
        fn dma_alloc(_: usize, _: BufferDirection) -> (PhysAddr, core::ptr::NonNull<u8>) {
            unreachable!()
        }
        unsafe fn dma_dealloc(_: PhysAddr, _: core::ptr::NonNull<u8>, _: usize) -> i32 {
            unreachable!()
        }
        unsafe fn mmio_phys_to_virt(_: PhysAddr, _: usize) -> core::ptr::NonNull<u8> {
            unreachable!()
        }
        unsafe fn share(_: core::ptr::NonNull<[u8]>, _: BufferDirection) -> PhysAddr {
            unreachable!()
        }
        unsafe fn unshare(_: PhysAddr, _: core::ptr::NonNull<[u8]>, _: BufferDirection) {
            unreachable!()
        }
    }

    type NoTransport = PciTransport;
}
