//! A device seen from one of its blocks on: block `n` of the window is block `start + n` of
//! the device. Slot B of a two-slot image is a whole image that starts inside the disk.

use super::{check_request, BlockDevice, BlockError};

/// Blocks `start ..` of `inner`, renumbered from 0.
pub struct Window<D> {
    inner: D,
    start: u64,
}

impl<D: BlockDevice> Window<D> {
    /// The window of `inner` from its block `start` (in `inner`'s block size). A start past
    /// the end gives an empty window.
    pub fn new(inner: D, start: u64) -> Self {
        Self { inner, start }
    }

    /// Gives the device back.
    pub fn into_inner(self) -> D {
        self.inner
    }
}

impl<D: BlockDevice> BlockDevice for Window<D> {
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }

    fn num_blocks(&self) -> u64 {
        self.inner.num_blocks().saturating_sub(self.start)
    }

    fn is_read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_request(self.block_size(), self.num_blocks(), lba, buf.len())?;
        self.inner.read_blocks(self.start + lba, buf)
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), BlockError> {
        check_request(self.block_size(), self.num_blocks(), lba, buf.len())?;
        self.inner.write_blocks(self.start + lba, buf)
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::RamDisk;
    use alloc::vec;

    #[test]
    fn blocks_are_renumbered_and_bounded() {
        let mut bytes = vec![0u8; 8 * 512];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i / 512) as u8;
        }
        let disk = RamDisk::new(bytes, 512).unwrap();
        let mut w = Window::new(disk, 3);
        assert_eq!(w.num_blocks(), 5);
        let mut buf = [0u8; 1024];
        w.read_blocks(1, &mut buf).unwrap();
        assert_eq!((buf[0], buf[600]), (4, 5));
        assert!(matches!(
            w.read_blocks(4, &mut buf),
            Err(BlockError::OutOfRange { lba: 4, .. })
        ));
        w.write_blocks(0, &[9u8; 512]).unwrap();
        let disk = w.into_inner();
        assert_eq!(disk.into_inner()[3 * 512], 9);
        let empty = Window::new(RamDisk::new(vec![0u8; 512], 512).unwrap(), 7);
        assert_eq!(empty.num_blocks(), 0);
    }
}
