//! `MemSource`: a [`BlockSource`] over bytes in memory, for tests, tools and a kernel that has the image in RAM.

use crate::superblock::{BLOCK_SIZE, BLOCK_SIZE_U64};
use crate::verify::BlockSource;

/// An image held in memory. A trailing partial block is not part of the image.
#[derive(Clone, Copy, Debug)]
pub struct MemSource<'a>(pub &'a [u8]);

/// Why [`MemSource::read_blocks`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// The buffer's length is not a multiple of [`BLOCK_SIZE`].
    Unaligned,
    /// The blocks asked for are (partly) past the end of the image.
    OutOfRange,
}

impl BlockSource for MemSource<'_> {
    type Error = MemError;

    fn block_count(&self) -> u64 {
        self.0.len() as u64 / BLOCK_SIZE_U64
    }

    /// # Errors
    /// [`MemError::Unaligned`] when `buf.len()` is not a multiple of [`BLOCK_SIZE`];
    /// [`MemError::OutOfRange`] when a block asked for is at or past [`BlockSource::block_count`].
    fn read_blocks(&mut self, first_block: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if !buf.len().is_multiple_of(BLOCK_SIZE) {
            return Err(MemError::Unaligned);
        }
        let bytes = self
            .block_count()
            .checked_mul(BLOCK_SIZE_U64)
            .and_then(|whole| self.0.get(..usize::try_from(whole).ok()?))
            .unwrap_or_default();
        let start = first_block
            .checked_mul(BLOCK_SIZE_U64)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or(MemError::OutOfRange)?;
        let end = start.checked_add(buf.len()).ok_or(MemError::OutOfRange)?;
        buf.copy_from_slice(bytes.get(start..end).ok_or(MemError::OutOfRange)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_blocks_inside_the_image() {
        let mut image = vec![0u8; 3 * BLOCK_SIZE + 10];
        image[BLOCK_SIZE] = 7;
        let mut src = MemSource(&image);
        assert_eq!(src.block_count(), 3);
        let mut buf = vec![0u8; 2 * BLOCK_SIZE];
        assert_eq!(src.read_blocks(1, &mut buf), Ok(()));
        assert_eq!(buf[0], 7);
        assert_eq!(src.read_blocks(2, &mut buf), Err(MemError::OutOfRange));
        assert_eq!(
            src.read_blocks(u64::MAX, &mut buf),
            Err(MemError::OutOfRange)
        );
        assert_eq!(
            src.read_blocks(0, &mut buf[..100]),
            Err(MemError::Unaligned)
        );
        assert_eq!(src.read_blocks(3, &mut []), Ok(()));
    }
}
