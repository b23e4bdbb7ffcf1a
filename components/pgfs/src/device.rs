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

    /// Reads the blocks `first..first + buf.len() / BLOCK_SIZE` into `buf` (its length a
    /// multiple of [`BLOCK_SIZE`]; otherwise `Err` for `first`, nothing read). The default
    /// reads one block at a time; a device with multi-block transfers overrides it.
    fn read_run(&mut self, first: u64, buf: &mut [u8]) -> Result<(), IoError> {
        if !buf.len().is_multiple_of(BLOCK_SIZE) {
            return Err(IoError { block: first });
        }
        let mut b = [0u8; BLOCK_SIZE];
        for (block, chunk) in (first..).zip(buf.chunks_exact_mut(BLOCK_SIZE)) {
            self.read(block, &mut b)?;
            chunk.copy_from_slice(&b);
        }
        Ok(())
    }

    /// Writes `data` to the blocks `first..first + data.len() / BLOCK_SIZE` (its length a
    /// multiple of [`BLOCK_SIZE`]; otherwise `Err` for `first`, nothing written), durable
    /// only after the next flush. The default writes one block at a time (so a power cut
    /// may land between any two blocks of a run); a device may override it.
    fn write_run(&mut self, first: u64, data: &[u8]) -> Result<(), IoError> {
        if !data.len().is_multiple_of(BLOCK_SIZE) {
            return Err(IoError { block: first });
        }
        let mut b = [0u8; BLOCK_SIZE];
        for (block, chunk) in (first..).zip(data.chunks_exact(BLOCK_SIZE)) {
            b.copy_from_slice(chunk);
            self.write(block, &b)?;
        }
        Ok(())
    }
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

    fn read_run(&mut self, first: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read_run(first, buf)
    }

    fn write_run(&mut self, first: u64, data: &[u8]) -> Result<(), IoError> {
        (**self).write_run(first, data)
    }
}
