//! The user-data region as a [`storage_format::Blocks`] device (USERDATA_INFO/READ/WRITE).
//!
//! The store numbers blocks from the start of the whole region (its format puts the superblock
//! at [`storage_format::FIRST_BLOCK`]); the kernel shows components only the part after its own
//! blocks ([`runtime::abi::userdata`]). This adapter maps one onto the other, so the on-disk
//! format is unchanged and the kernel's blocks cannot even be named.

use runtime::abi::userdata::KERNEL_BLOCKS;
use storage_format::{Blocks, IoError, FIRST_BLOCK};

// The store begins exactly where the components' part of the region begins.
const _: () = assert!(FIRST_BLOCK == KERNEL_BLOCKS);

/// The user-data region, through the kernel (needs `block_device` + `persistent_storage`).
pub struct UserData {
    /// Blocks of the components' part.
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

/// The components' block for the store's `block`; the kernel's blocks have none.
fn visible(block: u64) -> Result<u64, IoError> {
    block.checked_sub(KERNEL_BLOCKS).ok_or(IoError)
}

impl Blocks for UserData {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        runtime::userdata_read(visible(block)?, buf)
            .map(drop)
            .map_err(|_| IoError)
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        runtime::userdata_write(visible(block)?, buf)
            .map(drop)
            .map_err(|_| IoError)
    }

    fn blocks(&self) -> u64 {
        if self.blocks == 0 {
            return 0;
        }
        self.blocks + KERNEL_BLOCKS
    }
}
