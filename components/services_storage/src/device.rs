//! The user-data region as a [`storage_format::Blocks`] device (USERDATA_INFO/READ/WRITE).

use storage_format::{Blocks, IoError};

/// The user-data region, through the kernel (needs `block_device` + `persistent_storage`).
pub struct UserData {
    blocks: u64,
}

impl UserData {
    /// A region of no blocks (when USERDATA_INFO failed): mounting it fails.
    pub fn none() -> UserData {
        UserData { blocks: 0 }
    }

    /// Asks the kernel for the region's size.
    pub fn open() -> Result<UserData, runtime::Error> {
        Ok(UserData {
            blocks: runtime::userdata_info()?,
        })
    }
}

impl Blocks for UserData {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        runtime::userdata_read(block, buf)
            .map(drop)
            .map_err(|_| IoError)
    }

    fn write(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        runtime::userdata_write(block, buf)
            .map(drop)
            .map_err(|_| IoError)
    }

    fn blocks(&self) -> u64 {
        self.blocks
    }
}
