//! The user-data region as a [`pgfs::BlockDevice`] (USERDATA_INFO/READ/WRITE/FLUSH).
//!
//! pgfs numbers blocks from the start of the whole region (its superblocks are blocks 32 and
//! 33); the kernel shows components only the part after its own blocks
//! ([`runtime::abi::userdata`]). This adapter maps one onto the other, so the kernel's blocks
//! cannot even be named.

use pgfs::{Block, BlockDevice, IoError, BLOCK_SIZE};
use runtime::abi::userdata::KERNEL_BLOCKS;

// pgfs's first block is exactly where the components' part of the region begins.
const _: () = assert!(pgfs::SUPER_A == KERNEL_BLOCKS);
const _: () = assert!(BLOCK_SIZE == runtime::abi::USERDATA_BLOCK_SIZE);

/// The user-data region, through the kernel (needs `block_device` + `persistent_storage`).
#[derive(Clone, Copy)]
pub struct UserData {
    /// Blocks of the components' part (0: none, every access fails).
    blocks: u64,
}

impl UserData {
    /// A region of no blocks (when USERDATA_INFO failed): mounting it fails.
    pub fn none() -> UserData {
        UserData { blocks: 0 }
    }

    /// Asks the kernel for the size of the components' part of the region.
    pub fn open() -> Result<UserData, runtime::Error> {
        Ok(UserData {
            blocks: runtime::userdata_info()?,
        })
    }
}

/// The components' block for pgfs's `block`; the kernel's blocks have none.
fn visible(block: u64) -> Result<u64, IoError> {
    block.checked_sub(KERNEL_BLOCKS).ok_or(IoError { block })
}

impl BlockDevice for UserData {
    fn block_count(&self) -> u64 {
        if self.blocks == 0 {
            return 0;
        }
        self.blocks + KERNEL_BLOCKS
    }

    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
        runtime::userdata_read(visible(block)?, buf)
            .map(drop)
            .map_err(|_| IoError { block })
    }

    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
        runtime::userdata_write(visible(block)?, buf)
            .map(drop)
            .map_err(|_| IoError { block })
    }

    fn flush(&mut self) -> Result<(), IoError> {
        runtime::userdata_flush().map_err(|_| IoError { block: u64::MAX })
    }

    fn read_run(&mut self, first: u64, buf: &mut [u8]) -> Result<(), IoError> {
        for (i, chunk) in buf.chunks_mut(MAX_CALL).enumerate() {
            let block = first + (i * MAX_CALL / BLOCK_SIZE) as u64;
            runtime::userdata_read(visible(block)?, chunk).map_err(|_| IoError { block })?;
        }
        Ok(())
    }

    fn write_run(&mut self, first: u64, data: &[u8]) -> Result<(), IoError> {
        for (i, chunk) in data.chunks(MAX_CALL).enumerate() {
            let block = first + (i * MAX_CALL / BLOCK_SIZE) as u64;
            runtime::userdata_write(visible(block)?, chunk).map_err(|_| IoError { block })?;
        }
        Ok(())
    }
}

/// The most one USERDATA_READ or USERDATA_WRITE moves.
const MAX_CALL: usize = runtime::abi::USERDATA_MAX_LEN;
const _: () = assert!(MAX_CALL.is_multiple_of(BLOCK_SIZE));
