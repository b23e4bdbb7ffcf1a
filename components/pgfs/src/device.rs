//! The block device pgfs lives on: region-relative [`BLOCK_SIZE`]-byte blocks.

use crate::BLOCK_SIZE;

/// A device I/O failure on one block (or on a flush: `block == u64::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoError {
    /// The block whose read or write failed; `u64::MAX` for a flush.
    pub block: u64,
}

/// One block's bytes.
pub type Block = [u8; BLOCK_SIZE];

/// A block device: the user-data region (service) or an image file (host tools).
///
/// Writes may be cached by the device in any order until [`BlockDevice::flush`] returns;
/// pgfs relies only on "everything written before a successful flush is durable".
pub trait BlockDevice {
    /// The region's size in blocks.
    fn block_count(&self) -> u64;
    /// Reads block `block` into `buf`.
    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError>;
    /// Writes `buf` to block `block` (durable only after the next successful flush).
    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError>;
    /// Makes every earlier write durable.
    fn flush(&mut self) -> Result<(), IoError>;
}

impl<D: BlockDevice + ?Sized> BlockDevice for &mut D {
    fn block_count(&self) -> u64 {
        (**self).block_count()
    }

    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
        (**self).read(block, buf)
    }

    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
        (**self).write(block, buf)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        (**self).flush()
    }
}
