//! The user-data region (the spec's "User Data Blocks"): the only part of the image the kernel
//! writes. Every access is bounds-checked against the region the superblock gives, so nothing
//! can write over the kernel, the manifest or the services.

#[cfg(target_os = "none")]
pub mod boot;
pub mod bootcount;
pub mod crash;
pub mod journal;
pub mod persist;
pub mod security;

use drivers::block::{BlockDevice, BlockError};
use loader::superblock::BLOCK_SIZE;

/// Why a user-data access was refused or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// The access reaches outside the region: `first..first+count` (region-relative blocks)
    /// is not inside `0..region_blocks`.
    OutOfRegion {
        first: u64,
        count: u64,
        region_blocks: u64,
    },
    /// The buffer is not a whole number of 4096-byte blocks.
    NotWholeBlocks { len: usize },
    /// The device is not in 4096-byte blocks (wrap it in `drivers::block::Blocks4K`).
    WrongBlockSize { block_size: usize },
    /// The region lies (partly) past the end of the device.
    RegionPastDevice { end: u64, device_blocks: u64 },
    /// The driver failed.
    Device(BlockError),
    /// The region has no blocks after the kernel's own ([`abi::userdata::KERNEL_BLOCKS`]).
    NoneForComponents { region_blocks: u64 },
}

impl core::fmt::Display for RegionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::OutOfRegion {
                first,
                count,
                region_blocks,
            } => write!(
                f,
                "blocks {first}..{} are outside the user-data region (0..{region_blocks}): refused",
                first.saturating_add(*count)
            ),
            Self::NotWholeBlocks { len } => {
                write!(
                    f,
                    "a buffer of {len} bytes is not a whole number of 4096-byte blocks"
                )
            }
            Self::WrongBlockSize { block_size } => {
                write!(
                    f,
                    "the device has {block_size}-byte blocks, the region needs 4096"
                )
            }
            Self::RegionPastDevice { end, device_blocks } => write!(
                f,
                "the user-data region ends at block {end} but the disk has {device_blocks} blocks"
            ),
            Self::Device(e) => write!(f, "{e}"),
            Self::NoneForComponents { region_blocks } => write!(
                f,
                "the user-data region has {region_blocks} blocks, none after the kernel's first {}: rebuild the image with a larger --data-size",
                abi::userdata::KERNEL_BLOCKS
            ),
        }
    }
}

/// The part of the user-data region `data_start..total_blocks` (absolute blocks) that
/// components see: everything after the kernel's [`abi::userdata::KERNEL_BLOCKS`]; `None` when
/// the region is too small to have such a part.
pub fn components_part(data_start: u64, total_blocks: u64) -> Option<(u64, u64)> {
    let start = data_start.checked_add(abi::userdata::KERNEL_BLOCKS)?;
    (start < total_blocks).then_some((start, total_blocks))
}

/// Blocks `start..end` of a device in 4096-byte blocks; addresses are region-relative.
pub struct Region<D: BlockDevice> {
    device: D,
    start: u64,
    end: u64,
    /// Blocks just before `start` that [`Region::write_kernel_block`] may write (the
    /// kernel's records, before the components' part); 0 for a plain region.
    kernel_blocks: u64,
}

impl<D: BlockDevice> Region<D> {
    /// The region `start..end` (absolute image blocks, as the superblock gives them).
    ///
    /// # Errors
    /// [`RegionError::WrongBlockSize`] unless the device has 4096-byte blocks;
    /// [`RegionError::RegionPastDevice`] if `end` is beyond the device (or `start > end`).
    pub fn new(device: D, start: u64, end: u64) -> Result<Self, RegionError> {
        if device.block_size() != BLOCK_SIZE {
            return Err(RegionError::WrongBlockSize {
                block_size: device.block_size(),
            });
        }
        if end > device.num_blocks() || start > end {
            return Err(RegionError::RegionPastDevice {
                end,
                device_blocks: device.num_blocks(),
            });
        }
        Ok(Self {
            device,
            start,
            end,
            kernel_blocks: 0,
        })
    }

    /// The components' part of the user-data region `data_start..total_blocks` (see
    /// [`components_part`]), keeping the kernel's blocks before it for
    /// [`Region::write_kernel_block`] (which no syscall reaches).
    ///
    /// # Errors
    /// [`RegionError::NoneForComponents`], or as [`Region::new`].
    pub fn for_components(
        device: D,
        data_start: u64,
        total_blocks: u64,
    ) -> Result<Self, RegionError> {
        let (start, end) =
            components_part(data_start, total_blocks).ok_or(RegionError::NoneForComponents {
                region_blocks: total_blocks.saturating_sub(data_start),
            })?;
        let mut region = Self::new(device, start, end)?;
        region.kernel_blocks = abi::userdata::KERNEL_BLOCKS;
        Ok(region)
    }

    /// Writes and flushes one of the kernel's own blocks (`block` counts from the start of
    /// the whole user-data region, below [`abi::userdata::KERNEL_BLOCKS`]).
    ///
    /// # Errors
    /// [`RegionError::OutOfRegion`] outside the kernel's blocks, or the driver's error.
    pub fn write_kernel_block(
        &mut self,
        block: u64,
        buf: &[u8; BLOCK_SIZE],
    ) -> Result<(), RegionError> {
        let at = self.kernel_block_at(block)?;
        self.device
            .write_blocks(at, buf)
            .map_err(RegionError::Device)?;
        self.flush()
    }

    /// Reads one of the kernel's own blocks (addressed as [`Region::write_kernel_block`]
    /// addresses them) into `buf`.
    ///
    /// # Errors
    /// [`RegionError::OutOfRegion`] outside the kernel's blocks, or the driver's error.
    pub fn read_kernel_block(
        &mut self,
        block: u64,
        buf: &mut [u8; BLOCK_SIZE],
    ) -> Result<(), RegionError> {
        let at = self.kernel_block_at(block)?;
        self.device
            .read_blocks(at, buf)
            .map_err(RegionError::Device)
    }

    /// The device block of kernel block `block`, if it is one of the kernel's.
    fn kernel_block_at(&self, block: u64) -> Result<u64, RegionError> {
        if block >= self.kernel_blocks {
            return Err(RegionError::OutOfRegion {
                first: block,
                count: 1,
                region_blocks: self.kernel_blocks,
            });
        }
        Ok(self.start - self.kernel_blocks + block)
    }

    /// Number of blocks in the region.
    pub fn blocks(&self) -> u64 {
        self.end - self.start
    }

    /// The whole device (for the slot calls, which check their own bounds).
    pub fn device(&mut self) -> &mut D {
        &mut self.device
    }

    /// First block of the region on the device (for logs).
    pub fn start(&self) -> u64 {
        self.start
    }

    fn absolute(&self, first: u64, len: usize) -> Result<u64, RegionError> {
        if !len.is_multiple_of(BLOCK_SIZE) {
            return Err(RegionError::NotWholeBlocks { len });
        }
        let count = (len / BLOCK_SIZE) as u64;
        let region_blocks = self.blocks();
        match first.checked_add(count) {
            Some(end) if end <= region_blocks => Ok(self.start + first),
            _ => Err(RegionError::OutOfRegion {
                first,
                count,
                region_blocks,
            }),
        }
    }

    /// Reads region blocks `first..` into `buf`.
    ///
    /// # Errors
    /// [`RegionError::NotWholeBlocks`], [`RegionError::OutOfRegion`], or the driver's error.
    pub fn read(&mut self, first: u64, buf: &mut [u8]) -> Result<(), RegionError> {
        let at = self.absolute(first, buf.len())?;
        self.device
            .read_blocks(at, buf)
            .map_err(RegionError::Device)
    }

    /// Writes `buf` to region blocks `first..`.
    ///
    /// # Errors
    /// [`RegionError::NotWholeBlocks`], [`RegionError::OutOfRegion`], or the driver's error
    /// (e.g. `ReadOnly`).
    pub fn write(&mut self, first: u64, buf: &[u8]) -> Result<(), RegionError> {
        let at = self.absolute(first, buf.len())?;
        self.device
            .write_blocks(at, buf)
            .map_err(RegionError::Device)
    }

    /// Makes earlier writes durable (the device's cache flush).
    ///
    /// # Errors
    /// The driver's error.
    pub fn flush(&mut self) -> Result<(), RegionError> {
        self.device.flush().map_err(RegionError::Device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drivers::block::RamDisk;

    #[test]
    fn components_see_the_region_after_the_kernel_blocks() {
        use abi::userdata::{
            BOOT_COUNTER_BLOCK, KERNEL_BLOCKS, PERSIST_BLOCKS, PERSIST_FIRST_BLOCK,
        };
        assert_eq!(
            components_part(1000, 2000),
            Some((1000 + KERNEL_BLOCKS, 2000))
        );
        // The kernel's records lie before it, whatever the region's start.
        for start in [0, 1000, u64::MAX - 100] {
            if let Some((first, _)) = components_part(start, u64::MAX) {
                assert!(start + BOOT_COUNTER_BLOCK < first);
                assert!(start + PERSIST_FIRST_BLOCK + PERSIST_BLOCKS <= first);
            }
        }
        // A region with no room after the kernel's blocks gives components nothing.
        assert_eq!(components_part(1000, 1000 + KERNEL_BLOCKS), None);
        assert_eq!(components_part(u64::MAX - 3, u64::MAX), None);
        // A component region built on it cannot address block KERNEL_BLOCKS - 1 of the whole
        // region: its block 0 is the region's block KERNEL_BLOCKS.
        let (first, end) = components_part(0, DEVICE_BLOCKS as u64 + KERNEL_BLOCKS).unwrap();
        let disk = RamDisk::new(
            alloc::vec![0u8; (DEVICE_BLOCKS + KERNEL_BLOCKS as usize) * BLOCK_SIZE],
            BLOCK_SIZE,
        )
        .unwrap();
        let mut region = Region::new(disk, first, end).unwrap();
        assert_eq!(region.blocks(), DEVICE_BLOCKS as u64);
        region.write(0, &[0xAB; 4096]).unwrap();
        assert!(region.write(DEVICE_BLOCKS as u64, &[0; 4096]).is_err());
    }

    #[test]
    fn kernel_blocks_read_back_what_was_written_and_nothing_else() {
        use abi::userdata::{KERNEL_BLOCKS, SLOT_META_BLOCKS};
        let total = KERNEL_BLOCKS + 4;
        let disk = RamDisk::new(alloc::vec![0u8; total as usize * BLOCK_SIZE], BLOCK_SIZE).unwrap();
        let mut kernel = Region::for_components(disk, 0, total).unwrap();
        let block = [0x5au8; BLOCK_SIZE];
        kernel
            .write_kernel_block(SLOT_META_BLOCKS[1], &block)
            .unwrap();
        let mut back = [0u8; BLOCK_SIZE];
        kernel
            .read_kernel_block(SLOT_META_BLOCKS[1], &mut back)
            .unwrap();
        assert_eq!(back, block);
        kernel
            .read_kernel_block(SLOT_META_BLOCKS[0], &mut back)
            .unwrap();
        assert!(back.iter().all(|b| *b == 0));
        // The components' part is not a kernel block, and a plain region has none.
        assert!(matches!(
            kernel.read_kernel_block(KERNEL_BLOCKS, &mut back),
            Err(RegionError::OutOfRegion { .. })
        ));
        let mut plain = region(6, 10);
        assert!(matches!(
            plain.read_kernel_block(0, &mut back),
            Err(RegionError::OutOfRegion { .. })
        ));
    }

    const DEVICE_BLOCKS: usize = 10;

    fn region(start: u64, end: u64) -> Region<RamDisk<alloc::vec::Vec<u8>>> {
        let disk = RamDisk::new(alloc::vec![0u8; DEVICE_BLOCKS * BLOCK_SIZE], BLOCK_SIZE).unwrap();
        Region::new(disk, start, end).unwrap()
    }

    #[test]
    fn reads_and_writes_inside_the_region_land_at_the_right_blocks() {
        let mut r = region(6, 10);
        let data = alloc::vec![0xabu8; 2 * BLOCK_SIZE];
        r.write(2, &data).unwrap();
        let mut back = alloc::vec![0u8; 2 * BLOCK_SIZE];
        r.read(2, &mut back).unwrap();
        assert_eq!(back, data);
        let disk = r.device;
        let mut raw = alloc::vec![0u8; BLOCK_SIZE];
        let mut d = disk;
        d.read_blocks(8, &mut raw).unwrap();
        assert!(raw.iter().all(|b| *b == 0xab));
        d.read_blocks(7, &mut raw).unwrap();
        assert!(raw.iter().all(|b| *b == 0));
    }

    #[test]
    fn writes_outside_the_region_are_refused_and_touch_nothing() {
        let mut r = region(6, 10);
        let block = alloc::vec![0xffu8; BLOCK_SIZE];
        assert_eq!(
            r.write(4, &block),
            Err(RegionError::OutOfRegion {
                first: 4,
                count: 1,
                region_blocks: 4
            })
        );
        assert_eq!(
            r.write(3, &alloc::vec![0u8; 2 * BLOCK_SIZE]),
            Err(RegionError::OutOfRegion {
                first: 3,
                count: 2,
                region_blocks: 4
            })
        );
        assert!(matches!(
            r.write(u64::MAX, &block),
            Err(RegionError::OutOfRegion { .. })
        ));
        let mut d = r.device;
        let mut raw = alloc::vec![0u8; DEVICE_BLOCKS * BLOCK_SIZE];
        d.read_blocks(0, &mut raw).unwrap();
        assert!(
            raw.iter().all(|b| *b == 0),
            "a refused write changed the disk"
        );
    }

    #[test]
    fn partial_blocks_and_bad_regions_are_refused() {
        let mut r = region(6, 10);
        assert_eq!(
            r.write(0, &[1, 2, 3]),
            Err(RegionError::NotWholeBlocks { len: 3 })
        );
        let disk = RamDisk::new(alloc::vec![0u8; 4 * BLOCK_SIZE], BLOCK_SIZE).unwrap();
        assert!(matches!(
            Region::new(disk, 2, 5),
            Err(RegionError::RegionPastDevice { .. })
        ));
        let small = RamDisk::new(alloc::vec![0u8; 4 * 512], 512).unwrap();
        assert_eq!(
            Region::new(small, 0, 1).err(),
            Some(RegionError::WrongBlockSize { block_size: 512 })
        );
    }
}
