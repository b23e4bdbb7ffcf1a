//! The system image as the boot loader loaded it (a Limine module), seen as a disk: the
//! module's blocks are read-only; the user-data region, which the module does not carry, lives
//! in RAM (so nothing written there survives a reboot).

use alloc::vec;
use alloc::vec::Vec;

use drivers::block::{check_request, BlockDevice, BlockError};
use loader::superblock::{Superblock, BLOCK_SIZE};

/// Why a module cannot be used as a disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleError {
    /// The module is not a whole number of blocks, or not all of blocks `0..data_start`.
    BadLength { bytes: u64, expected: u64 },
    /// The superblock asks for a RAM user-data region larger than the kernel gives one.
    DataTooLarge { blocks: u64 },
}

/// The largest RAM user-data region a module may ask for (16 MiB); the packer asks for 1 MiB.
pub const MAX_RAM_DATA_BLOCKS: u64 = 4096;

impl core::fmt::Display for ModuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadLength { bytes, expected } => write!(
                f,
                "the boot module is {bytes} bytes; its superblock says it holds {expected} (blocks before the user-data region)"
            ),
            Self::DataTooLarge { blocks } => write!(
                f,
                "the boot module asks for a {blocks}-block user-data region in RAM (at most {MAX_RAM_DATA_BLOCKS})"
            ),
        }
    }
}

/// Blocks `0..data_start` from the module (read-only), `data_start..total_blocks` in RAM.
pub struct ModuleDisk {
    module: &'static [u8],
    data_start: u64,
    data: Vec<u8>,
}

impl ModuleDisk {
    /// A disk over `module`, whose superblock is `sb` (decoded from the module's block 0).
    ///
    /// # Errors
    /// [`ModuleError::BadLength`] unless the module is exactly blocks `0..data_start`.
    pub fn new(module: &'static [u8], sb: &Superblock) -> Result<Self, ModuleError> {
        let expected = sb.data_start.saturating_mul(BLOCK_SIZE as u64);
        if module.len() as u64 != expected {
            return Err(ModuleError::BadLength {
                bytes: module.len() as u64,
                expected,
            });
        }
        let data_blocks = sb.total_blocks.saturating_sub(sb.data_start);
        if data_blocks > MAX_RAM_DATA_BLOCKS {
            return Err(ModuleError::DataTooLarge {
                blocks: data_blocks,
            });
        }
        let data_blocks = data_blocks as usize;
        Ok(Self {
            module,
            data_start: sb.data_start,
            data: vec![0u8; data_blocks * BLOCK_SIZE],
        })
    }

    fn total_blocks(&self) -> u64 {
        self.data_start + (self.data.len() / BLOCK_SIZE) as u64
    }
}

impl BlockDevice for ModuleDisk {
    fn block_size(&self) -> usize {
        BLOCK_SIZE
    }

    fn num_blocks(&self) -> u64 {
        self.total_blocks()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(BLOCK_SIZE, self.total_blocks(), lba, buf.len())?;
        for (i, chunk) in buf.chunks_mut(BLOCK_SIZE).enumerate() {
            let block = lba + i as u64;
            let (src, at) = if block < self.data_start {
                (self.module, block as usize * BLOCK_SIZE)
            } else {
                (
                    &self.data[..],
                    (block - self.data_start) as usize * BLOCK_SIZE,
                )
            };
            chunk.copy_from_slice(&src[at..at + BLOCK_SIZE]);
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(BLOCK_SIZE, self.total_blocks(), lba, buf.len())?;
        // The module itself is what the boot loader verified: never written.
        if lba < self.data_start {
            return Err(BlockError::ReadOnly);
        }
        let at = (lba - self.data_start) as usize * BLOCK_SIZE;
        self.data[at..at + buf.len()].copy_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(data_start: u64, total: u64) -> Superblock {
        Superblock {
            data_start,
            total_blocks: total,
            ..Superblock::default()
        }
    }

    fn module(blocks: usize) -> &'static [u8] {
        let mut bytes = vec![0u8; blocks * BLOCK_SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i / BLOCK_SIZE) as u8 + 1;
        }
        bytes.leak()
    }

    #[test]
    fn module_blocks_read_back_and_the_data_region_is_ram() {
        let mut d = ModuleDisk::new(module(3), &sb(3, 5)).unwrap();
        assert_eq!(d.num_blocks(), 5);
        let mut buf = vec![0u8; 2 * BLOCK_SIZE];
        d.read_blocks(1, &mut buf).unwrap();
        assert!(buf[..BLOCK_SIZE].iter().all(|b| *b == 2));
        assert!(buf[BLOCK_SIZE..].iter().all(|b| *b == 3));
        d.read_blocks(3, &mut buf).unwrap();
        assert!(buf.iter().all(|b| *b == 0));
        d.write_blocks(4, &[7u8; BLOCK_SIZE]).unwrap();
        d.read_blocks(3, &mut buf).unwrap();
        assert!(buf[BLOCK_SIZE..].iter().all(|b| *b == 7));
    }

    #[test]
    fn the_module_is_read_only_and_bounds_hold() {
        let mut d = ModuleDisk::new(module(3), &sb(3, 5)).unwrap();
        assert_eq!(
            d.write_blocks(2, &[0u8; BLOCK_SIZE]),
            Err(BlockError::ReadOnly)
        );
        let mut buf = vec![0u8; BLOCK_SIZE];
        assert!(matches!(
            d.read_blocks(5, &mut buf),
            Err(BlockError::OutOfRange { .. })
        ));
        assert!(matches!(
            d.write_blocks(4, &[0u8; 2 * BLOCK_SIZE]),
            Err(BlockError::OutOfRange { .. })
        ));
    }

    #[test]
    fn a_huge_ram_region_is_refused_not_allocated() {
        assert_eq!(
            ModuleDisk::new(module(3), &sb(3, u64::MAX)).err(),
            Some(ModuleError::DataTooLarge {
                blocks: u64::MAX - 3
            })
        );
    }

    #[test]
    fn a_module_of_the_wrong_length_is_refused() {
        assert_eq!(
            ModuleDisk::new(module(2), &sb(3, 5)).err(),
            Some(ModuleError::BadLength {
                bytes: 2 * BLOCK_SIZE as u64,
                expected: 3 * BLOCK_SIZE as u64
            })
        );
    }
}
