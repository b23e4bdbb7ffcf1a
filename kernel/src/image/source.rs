//! A disk seen as the image format's 4096-byte blocks: the loader's `BlockSource` over the
//! drivers' `Blocks4K` adapter, for any disk with 512- or 4096-byte sectors.

use drivers::block::{AdapterError, BlockDevice, BlockError, Blocks4K};
use loader::verify::BlockSource;

/// Why a disk cannot serve image blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceError {
    /// The device's sector size does not divide the image block size (only 512 and 4096 do
    /// on real disks); reported instead of mishandled.
    UnsupportedSectorSize(usize),
    /// The driver failed.
    Device(BlockError),
}

impl core::fmt::Display for SourceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnsupportedSectorSize(s) => write!(
                f,
                "sector size {s} bytes is not supported (512 and 4096 are)"
            ),
            Self::Device(e) => write!(f, "{e}"),
        }
    }
}

/// `BlockSource` over any block device whose sector size divides 4096.
pub struct DiskSource<'a>(Blocks4K<&'a mut dyn BlockDevice>);

impl<'a> DiskSource<'a> {
    /// Wraps `device`.
    ///
    /// # Errors
    /// [`SourceError::UnsupportedSectorSize`] when the sector size is 0 or does not divide 4096.
    pub fn new(device: &'a mut dyn BlockDevice) -> Result<Self, SourceError> {
        Blocks4K::new(device).map(Self).map_err(|e| match e {
            AdapterError::IncompatibleBlockSize(s) => SourceError::UnsupportedSectorSize(s),
        })
    }
}

impl BlockSource for DiskSource<'_> {
    type Error = SourceError;

    fn block_count(&self) -> u64 {
        self.0.num_blocks()
    }

    fn read_blocks(&mut self, first_block: u64, buf: &mut [u8]) -> Result<(), SourceError> {
        self.0
            .read_blocks(first_block, buf)
            .map_err(SourceError::Device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drivers::block::RamDisk;
    use loader::superblock::BLOCK_SIZE;

    fn disk(sector: usize) -> RamDisk<alloc::vec::Vec<u8>> {
        let mut bytes = alloc::vec![0u8; 4 * BLOCK_SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i / BLOCK_SIZE) as u8;
        }
        RamDisk::new(bytes, sector).unwrap()
    }

    #[test]
    fn reads_image_blocks_on_512_and_4096_byte_sectors() {
        for sector in [512, 4096] {
            let mut d = disk(sector);
            let mut src = DiskSource::new(&mut d).unwrap();
            assert_eq!(src.block_count(), 4);
            let mut buf = alloc::vec![0u8; 2 * BLOCK_SIZE];
            src.read_blocks(2, &mut buf).unwrap();
            assert!(buf[..BLOCK_SIZE].iter().all(|b| *b == 2));
            assert!(buf[BLOCK_SIZE..].iter().all(|b| *b == 3));
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut d = disk(512);
        let mut src = DiskSource::new(&mut d).unwrap();
        let mut buf = alloc::vec![0u8; BLOCK_SIZE];
        assert!(matches!(
            src.read_blocks(4, &mut buf),
            Err(SourceError::Device(_))
        ));
    }

    /// A device that only reports a sector size.
    struct Odd(usize);

    impl BlockDevice for Odd {
        fn block_size(&self) -> usize {
            self.0
        }
        fn num_blocks(&self) -> u64 {
            16
        }
        fn read_blocks(&mut self, _lba: u64, _buf: &mut [u8]) -> Result<(), BlockError> {
            Ok(())
        }
    }

    #[test]
    fn odd_sector_sizes_are_refused() {
        for sector in [0, 520, 8192] {
            let mut d = Odd(sector);
            assert_eq!(
                DiskSource::new(&mut d).err(),
                Some(SourceError::UnsupportedSectorSize(sector))
            );
        }
    }
}
