//! The block-device interface every disk driver implements, a RAM disk, and adapters.
//!
//! A block device is an array of [`BlockDevice::num_blocks`] blocks of
//! [`BlockDevice::block_size`] bytes (512 or 4096), addressed by LBA (block number, from 0).
//! Requests cover whole blocks; every implementation validates a request the same way, with
//! [`check_request`], before touching the device, so callers get the same errors everywhere.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Why a block request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// Blocks `lba .. lba + count` do not all lie within the device's `device_blocks` blocks.
    /// Nothing was transferred.
    OutOfRange {
        lba: u64,
        count: u64,
        device_blocks: u64,
    },
    /// The buffer's length `len` is not a multiple of the block size. Nothing was transferred.
    BufferNotMultiple { len: usize, block_size: usize },
    /// A write or flush on a device that cannot be written. Nothing was transferred.
    ReadOnly,
    /// The device reported a medium or transfer error for the request starting at `lba`; the
    /// buffer's contents are unspecified (reads) or the blocks' contents are (writes).
    Io { lba: u64 },
    /// The device or its driver failed in another way (see [`DeviceFailure`]) on the request
    /// starting at `lba`; the buffer's or blocks' contents are unspecified.
    Device { lba: u64, failure: DeviceFailure },
}

/// The ways a device can fail that are not a plain I/O error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceFailure {
    /// The device said it is not ready for requests.
    NotReady,
    /// The device does not support this request.
    Unsupported,
    /// No DMA memory for the request.
    OutOfDmaMemory,
    /// The request queue had no room.
    QueueFull,
    /// The device broke the protocol (e.g. completed a request that was not submitted).
    Protocol,
    /// The device did not complete the request in time (the driver then tried to reset it).
    Timeout,
    /// The device is gone (unplugged): this and every later request fail.
    Removed,
}

impl fmt::Display for DeviceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotReady => "device not ready",
            Self::Unsupported => "request not supported by the device",
            Self::OutOfDmaMemory => "out of DMA memory",
            Self::QueueFull => "request queue full",
            Self::Protocol => "device protocol error",
            Self::Timeout => "device timed out",
            Self::Removed => "device removed (unplugged)",
        })
    }
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange {
                lba,
                count,
                device_blocks,
            } => write!(
                f,
                "blocks {lba}..{} are beyond the device's {device_blocks} blocks",
                lba.saturating_add(*count)
            ),
            Self::BufferNotMultiple { len, block_size } => write!(
                f,
                "buffer of {len} bytes is not a whole number of {block_size}-byte blocks"
            ),
            Self::ReadOnly => write!(f, "the device is read-only"),
            Self::Io { lba } => write!(f, "I/O error at block {lba}"),
            Self::Device { lba, failure } => write!(f, "{failure} (request at block {lba})"),
        }
    }
}

impl BlockError {
    /// The same error with its block numbers divided by `ratio` (for adapters presenting larger
    /// blocks over smaller ones).
    fn scaled_down(self, ratio: u64) -> Self {
        match self {
            Self::OutOfRange {
                lba,
                count,
                device_blocks,
            } => Self::OutOfRange {
                lba: lba / ratio,
                count: count.div_ceil(ratio),
                device_blocks: device_blocks / ratio,
            },
            Self::Io { lba } => Self::Io { lba: lba / ratio },
            Self::Device { lba, failure } => Self::Device {
                lba: lba / ratio,
                failure,
            },
            other => other,
        }
    }
}

/// A disk: fixed-size blocks addressed by LBA.
pub trait BlockDevice {
    /// The size of one block in bytes: 512 or 4096. Constant for the device's lifetime.
    fn block_size(&self) -> usize;

    /// How many blocks the device holds. Constant for the device's lifetime.
    fn num_blocks(&self) -> u64;

    /// Whether [`write_blocks`](Self::write_blocks) and [`flush`](Self::flush) always fail with
    /// [`BlockError::ReadOnly`]. The default says yes, matching the default `write_blocks`.
    fn is_read_only(&self) -> bool {
        true
    }

    /// Reads blocks `lba .. lba + buf.len() / block_size()` into `buf`. An empty buffer reads
    /// nothing and succeeds if `lba <= num_blocks()`.
    ///
    /// # Errors
    /// - [`BlockError::BufferNotMultiple`]: `buf.len()` is not a multiple of the block size.
    /// - [`BlockError::OutOfRange`]: the blocks do not all exist.
    /// - [`BlockError::Io`]: the device reported an I/O error.
    /// - [`BlockError::Device`]: the device or driver failed otherwise.
    ///
    /// The first two are detected before the device is touched (see [`check_request`]).
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError>;

    /// Writes `buf` to blocks `lba .. lba + buf.len() / block_size()`. The data may sit in a
    /// device cache until [`flush`](Self::flush).
    ///
    /// # Errors
    /// - [`BlockError::BufferNotMultiple`] and [`BlockError::OutOfRange`], as for reads (checked
    ///   first, so they take precedence over `ReadOnly`).
    /// - [`BlockError::ReadOnly`]: the device cannot be written (the default implementation,
    ///   for read-only devices).
    /// - [`BlockError::Io`], [`BlockError::Device`]: as for reads.
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.block_size(), self.num_blocks(), lba, buf.len())?;
        Err(BlockError::ReadOnly)
    }

    /// Makes every completed write durable.
    ///
    /// # Errors
    /// - [`BlockError::ReadOnly`]: the device cannot be written (the default implementation).
    /// - [`BlockError::Io`] (with `lba` 0), [`BlockError::Device`]: the device failed.
    fn flush(&mut self) -> Result<(), BlockError> {
        Err(BlockError::ReadOnly)
    }
}

/// Validates a request for `len` bytes at `lba` on a device of `num_blocks` blocks of
/// `block_size` bytes, returning the number of blocks it covers.
///
/// # Errors
/// [`BlockError::BufferNotMultiple`] first, then [`BlockError::OutOfRange`] (also when
/// `lba + count` overflows).
pub fn check_request(
    block_size: usize,
    num_blocks: u64,
    lba: u64,
    len: usize,
) -> Result<u64, BlockError> {
    if block_size == 0 || !len.is_multiple_of(block_size) {
        return Err(BlockError::BufferNotMultiple { len, block_size });
    }
    let count = (len / block_size) as u64;
    match lba.checked_add(count) {
        Some(end) if end <= num_blocks => Ok(count),
        _ => Err(BlockError::OutOfRange {
            lba,
            count,
            device_blocks: num_blocks,
        }),
    }
}

macro_rules! forward_block_device {
    ($($ty:ty),*) => {$(
        impl<D: BlockDevice + ?Sized> BlockDevice for $ty {
            fn block_size(&self) -> usize {
                (**self).block_size()
            }
            fn num_blocks(&self) -> u64 {
                (**self).num_blocks()
            }
            fn is_read_only(&self) -> bool {
                (**self).is_read_only()
            }
            fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
                (**self).read_blocks(lba, buf)
            }
            fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
                (**self).write_blocks(lba, buf)
            }
            fn flush(&mut self) -> Result<(), BlockError> {
                (**self).flush()
            }
        }
    )*};
}

forward_block_device!(&mut D, Box<D>);

mod window;
pub use window::Window;

/// Memory a [`RamDisk`] can live in: read access always, write access when mutable.
pub trait RamStorage {
    fn bytes(&self) -> &[u8];
    /// `None` for read-only storage.
    fn bytes_mut(&mut self) -> Option<&mut [u8]>;
    /// Whether [`bytes_mut`](Self::bytes_mut) answers `Some`.
    fn writable(&self) -> bool;
}

impl RamStorage for &[u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn writable(&self) -> bool {
        false
    }
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        None
    }
}

impl RamStorage for &mut [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn writable(&self) -> bool {
        true
    }
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Some(self)
    }
}

impl RamStorage for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn writable(&self) -> bool {
        true
    }
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Some(self)
    }
}

impl RamStorage for Box<[u8]> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn writable(&self) -> bool {
        true
    }
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Some(self)
    }
}

/// Why [`RamDisk::new`] refused its storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamDiskError {
    /// The block size is not 512 or 4096.
    BadBlockSize(usize),
    /// The storage is not a whole number of blocks.
    NotMultiple { len: usize, block_size: usize },
}

impl fmt::Display for RamDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBlockSize(n) => write!(f, "block size {n} is not 512 or 4096"),
            Self::NotMultiple { len, block_size } => write!(
                f,
                "{len} bytes of storage are not a whole number of {block_size}-byte blocks"
            ),
        }
    }
}

/// A block device in memory: a slice (read-only `&[u8]` or writable `&mut [u8]`), or a
/// `Vec<u8>`/`Box<[u8]>`. Never fails with `Io` or `Device`.
pub struct RamDisk<S> {
    storage: S,
    block_size: usize,
}

impl<S: RamStorage> RamDisk<S> {
    /// A disk of `storage.len() / block_size` blocks.
    ///
    /// # Errors
    /// [`RamDiskError::BadBlockSize`] unless `block_size` is 512 or 4096;
    /// [`RamDiskError::NotMultiple`] if the storage is not a whole number of blocks.
    pub fn new(storage: S, block_size: usize) -> Result<Self, RamDiskError> {
        if block_size != 512 && block_size != 4096 {
            return Err(RamDiskError::BadBlockSize(block_size));
        }
        let len = storage.bytes().len();
        if !len.is_multiple_of(block_size) {
            return Err(RamDiskError::NotMultiple { len, block_size });
        }
        Ok(Self {
            storage,
            block_size,
        })
    }

    /// Gives the storage back.
    pub fn into_inner(self) -> S {
        self.storage
    }

    fn range(&self, lba: u64, len: usize) -> Result<core::ops::Range<usize>, BlockError> {
        check_request(self.block_size, self.num_blocks(), lba, len)?;
        let start = lba as usize * self.block_size;
        Ok(start..start + len)
    }
}

impl<S: RamStorage> BlockDevice for RamDisk<S> {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        (self.storage.bytes().len() / self.block_size) as u64
    }

    fn is_read_only(&self) -> bool {
        !self.storage.writable()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let range = self.range(lba, buf.len())?;
        buf.copy_from_slice(&self.storage.bytes()[range]);
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        let range = self.range(lba, buf.len())?;
        let bytes = self.storage.bytes_mut().ok_or(BlockError::ReadOnly)?;
        bytes[range].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        match self.storage.bytes_mut() {
            Some(_) => Ok(()),
            None => Err(BlockError::ReadOnly),
        }
    }
}

/// The block size of PandaGen's system image.
pub const IMAGE_BLOCK_SIZE: usize = 4096;

/// Why [`Blocks4K::new`] refused a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterError {
    /// The device's block size does not divide 4096.
    IncompatibleBlockSize(usize),
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IncompatibleBlockSize(n) => {
                write!(f, "device block size {n} does not divide 4096")
            }
        }
    }
}

/// Presents a device with 512-byte (or any divisor of 4096) blocks as one with 4096-byte blocks:
/// block *n* is the inner blocks `n * r .. (n + 1) * r`, `r = 4096 / inner block size`. A tail of
/// fewer than `r` inner blocks is not reachable. Errors carry block numbers in 4 KiB units.
pub struct Blocks4K<D> {
    inner: D,
    ratio: u64,
}

impl<D: BlockDevice> Blocks4K<D> {
    /// # Errors
    /// [`AdapterError::IncompatibleBlockSize`] if the inner block size is 0 or does not divide
    /// 4096.
    pub fn new(inner: D) -> Result<Self, AdapterError> {
        let bs = inner.block_size();
        if bs == 0 || !IMAGE_BLOCK_SIZE.is_multiple_of(bs) {
            return Err(AdapterError::IncompatibleBlockSize(bs));
        }
        Ok(Self {
            inner,
            ratio: (IMAGE_BLOCK_SIZE / bs) as u64,
        })
    }

    pub fn inner(&mut self) -> &mut D {
        &mut self.inner
    }

    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: BlockDevice> BlockDevice for Blocks4K<D> {
    fn block_size(&self) -> usize {
        IMAGE_BLOCK_SIZE
    }

    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks() / self.ratio
    }

    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(IMAGE_BLOCK_SIZE, self.num_blocks(), lba, buf.len())?;
        if buf.is_empty() {
            return Ok(());
        }
        self.inner
            .read_blocks(lba * self.ratio, buf)
            .map_err(|e| e.scaled_down(self.ratio))
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(IMAGE_BLOCK_SIZE, self.num_blocks(), lba, buf.len())?;
        if buf.is_empty() {
            return if self.inner.is_read_only() {
                Err(BlockError::ReadOnly)
            } else {
                Ok(())
            };
        }
        self.inner
            .write_blocks(lba * self.ratio, buf)
            .map_err(|e| e.scaled_down(self.ratio))
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

/// Reads `buf.len()` bytes starting at byte `offset` of `dev`, whatever their alignment: whole
/// blocks go straight into `buf`, a partial first or last block through a one-block scratch
/// buffer (heap).
///
/// # Errors
/// [`BlockError::OutOfRange`] (in `dev`'s blocks) if the bytes do not all lie on the device,
/// else whatever `dev.read_blocks` returns.
pub fn read_bytes_at<D: BlockDevice + ?Sized>(
    dev: &mut D,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), BlockError> {
    let bs = dev.block_size() as u64;
    if bs == 0 {
        return Err(BlockError::BufferNotMultiple {
            len: buf.len(),
            block_size: 0,
        });
    }
    let device_bytes = dev.num_blocks().saturating_mul(bs);
    let first = offset / bs;
    let end = offset.checked_add(buf.len() as u64);
    if end.is_none_or(|end| end > device_bytes) {
        let end = end.unwrap_or(u64::MAX);
        return Err(BlockError::OutOfRange {
            lba: first,
            count: end.div_ceil(bs) - first,
            device_blocks: dev.num_blocks(),
        });
    }
    let mut done = 0usize;
    let mut pos = offset;
    let mut scratch: Vec<u8> = Vec::new();
    while done < buf.len() {
        let lba = pos / bs;
        let within = (pos % bs) as usize;
        let left = buf.len() - done;
        if within == 0 && left as u64 >= bs {
            let whole = left - left % bs as usize;
            dev.read_blocks(lba, &mut buf[done..done + whole])?;
            done += whole;
            pos += whole as u64;
            continue;
        }
        if scratch.is_empty() {
            scratch = vec![0; bs as usize];
        }
        dev.read_blocks(lba, &mut scratch)?;
        let n = (bs as usize - within).min(left);
        buf[done..done + n].copy_from_slice(&scratch[within..within + n]);
        done += n;
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 512-byte-block disk whose byte *i* is `i * 7 + i / 512` (mod 256), that can be told to
    /// fail, and counts requests.
    pub struct Pattern {
        pub blocks: u64,
        pub fail_at: Option<(u64, BlockError)>,
        pub requests: Vec<(u64, usize)>,
    }

    pub fn byte(i: u64) -> u8 {
        (i.wrapping_mul(7) + i / 512) as u8
    }

    impl BlockDevice for Pattern {
        fn block_size(&self) -> usize {
            512
        }
        fn num_blocks(&self) -> u64 {
            self.blocks
        }
        fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
            let count = check_request(512, self.blocks, lba, buf.len())?;
            self.requests.push((lba, buf.len()));
            if let Some((bad, err)) = self.fail_at {
                if (lba..lba + count).contains(&bad) {
                    return Err(err);
                }
            }
            for (i, b) in buf.iter_mut().enumerate() {
                *b = byte(lba * 512 + i as u64);
            }
            Ok(())
        }
    }

    fn pattern(blocks: u64) -> Pattern {
        Pattern {
            blocks,
            fail_at: None,
            requests: Vec::new(),
        }
    }

    #[test]
    fn check_request_orders_errors() {
        assert_eq!(check_request(512, 10, 9, 512), Ok(1));
        assert_eq!(check_request(512, 10, 10, 0), Ok(0));
        assert_eq!(
            check_request(512, 10, 9, 1024),
            Err(BlockError::OutOfRange {
                lba: 9,
                count: 2,
                device_blocks: 10
            })
        );
        assert_eq!(
            check_request(512, 10, 99, 100),
            Err(BlockError::BufferNotMultiple {
                len: 100,
                block_size: 512
            })
        );
        assert!(matches!(
            check_request(512, u64::MAX, u64::MAX, 512),
            Err(BlockError::OutOfRange { .. })
        ));
    }

    #[test]
    fn ram_disk_reads_writes_and_validates() {
        let mut mem = vec![0u8; 4 * 512];
        mem[512] = 0xaa;
        let mut disk = RamDisk::new(mem.as_mut_slice(), 512).unwrap();
        assert_eq!((disk.block_size(), disk.num_blocks()), (512, 4));
        assert!(!disk.is_read_only());
        let mut buf = [0u8; 1024];
        disk.read_blocks(1, &mut buf).unwrap();
        assert_eq!(buf[0], 0xaa);
        disk.write_blocks(3, &[0x55; 512]).unwrap();
        assert_eq!(
            disk.read_blocks(3, &mut buf),
            Err(BlockError::OutOfRange {
                lba: 3,
                count: 2,
                device_blocks: 4
            })
        );
        assert_eq!(
            disk.write_blocks(0, &[0; 10]),
            Err(BlockError::BufferNotMultiple {
                len: 10,
                block_size: 512
            })
        );
        disk.flush().unwrap();
        assert_eq!(mem[3 * 512], 0x55);

        assert_eq!(
            RamDisk::new(vec![0u8; 1000], 512).err(),
            Some(RamDiskError::NotMultiple {
                len: 1000,
                block_size: 512
            })
        );
        assert_eq!(
            RamDisk::new(vec![0u8; 1024], 1024).err(),
            Some(RamDiskError::BadBlockSize(1024))
        );
    }

    #[test]
    fn read_only_ram_disk_refuses_writes() {
        let mem = [7u8; 8192];
        let mut disk = RamDisk::new(&mem[..], 4096).unwrap();
        assert!(disk.is_read_only());
        let mut buf = [0u8; 4096];
        disk.read_blocks(1, &mut buf).unwrap();
        assert_eq!(buf, [7u8; 4096]);
        assert_eq!(disk.write_blocks(0, &buf), Err(BlockError::ReadOnly));
        assert_eq!(disk.flush(), Err(BlockError::ReadOnly));
        // Range errors come first.
        assert!(matches!(
            disk.write_blocks(2, &buf),
            Err(BlockError::OutOfRange { .. })
        ));
        let mut boxed: Box<dyn BlockDevice> = Box::new(RamDisk::new(vec![1u8; 512], 512).unwrap());
        assert!(!boxed.is_read_only());
        boxed.write_blocks(0, &[2u8; 512]).unwrap();
    }

    #[test]
    fn blocks_4k_maps_lbas_and_errors() {
        // 8 full 4 KiB blocks plus 3 stray sectors.
        let mut dev = Blocks4K::new(pattern(8 * 8 + 3)).unwrap();
        assert_eq!((dev.block_size(), dev.num_blocks()), (4096, 8));
        let mut buf = vec![0u8; 2 * 4096];
        dev.read_blocks(3, &mut buf).unwrap();
        assert!(buf
            .iter()
            .enumerate()
            .all(|(i, &b)| b == byte(3 * 4096 + i as u64)));
        assert_eq!(dev.inner().requests, [(24, 8192)]);
        assert_eq!(
            dev.read_blocks(7, &mut buf),
            Err(BlockError::OutOfRange {
                lba: 7,
                count: 2,
                device_blocks: 8
            })
        );
        assert_eq!(
            dev.read_blocks(0, &mut buf[..512]),
            Err(BlockError::BufferNotMultiple {
                len: 512,
                block_size: 4096
            })
        );
        dev.inner().fail_at = Some((
            45,
            BlockError::Device {
                lba: 40,
                failure: DeviceFailure::NotReady,
            },
        ));
        assert_eq!(
            dev.read_blocks(5, &mut buf[..4096]),
            Err(BlockError::Device {
                lba: 5,
                failure: DeviceFailure::NotReady
            })
        );
        dev.inner().fail_at = Some((41, BlockError::Io { lba: 41 }));
        assert_eq!(
            dev.read_blocks(5, &mut buf[..4096]),
            Err(BlockError::Io { lba: 5 })
        );
        assert_eq!(dev.write_blocks(0, &buf), Err(BlockError::ReadOnly));
        assert_eq!(
            Blocks4K::new(RamDisk::new(vec![0u8; 0], 4096).unwrap())
                .unwrap()
                .num_blocks(),
            0
        );
    }

    #[test]
    fn blocks_4k_rejects_incompatible_devices() {
        struct Odd;
        impl BlockDevice for Odd {
            fn block_size(&self) -> usize {
                520
            }
            fn num_blocks(&self) -> u64 {
                1
            }
            fn read_blocks(&mut self, _: u64, _: &mut [u8]) -> Result<(), BlockError> {
                Ok(())
            }
        }
        assert_eq!(
            Blocks4K::new(Odd).err(),
            Some(AdapterError::IncompatibleBlockSize(520))
        );
    }

    #[test]
    fn read_bytes_at_handles_unaligned_ranges() {
        let mut dev = pattern(16);
        for (offset, len) in [
            (0, 512),
            (3, 10),
            (500, 30),
            (511, 1026),
            (1024, 4096),
            (7000, 1192),
        ] {
            let mut buf = vec![0u8; len];
            dev.requests.clear();
            read_bytes_at(&mut dev, offset, &mut buf).unwrap();
            for (i, &b) in buf.iter().enumerate() {
                assert_eq!(
                    b,
                    byte(offset + i as u64),
                    "offset {offset} len {len} byte {i}"
                );
            }
        }
        // Aligned whole blocks: a single request.
        dev.requests.clear();
        read_bytes_at(&mut dev, 1024, &mut [0u8; 2048]).unwrap();
        assert_eq!(dev.requests, [(2, 2048)]);
        assert_eq!(
            read_bytes_at(&mut dev, 8000, &mut [0u8; 200]),
            Err(BlockError::OutOfRange {
                lba: 15,
                count: 2,
                device_blocks: 16
            })
        );
        read_bytes_at(&mut dev, 8192, &mut []).unwrap();
        dev.fail_at = Some((3, BlockError::Io { lba: 3 }));
        assert_eq!(
            read_bytes_at(&mut dev, 1500, &mut [0u8; 100]),
            Err(BlockError::Io { lba: 3 })
        );
    }

    #[test]
    fn errors_display_one_line() {
        for e in [
            BlockError::OutOfRange {
                lba: 1,
                count: 2,
                device_blocks: 2,
            },
            BlockError::BufferNotMultiple {
                len: 3,
                block_size: 512,
            },
            BlockError::ReadOnly,
            BlockError::Io { lba: 9 },
            BlockError::Device {
                lba: 9,
                failure: DeviceFailure::Protocol,
            },
        ] {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s}");
        }
    }
}
