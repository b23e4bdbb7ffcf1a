//! Offset reads and writes: the delta file, the old slot and the target slot, on disk or in RAM.

use alloc::vec::Vec;
use core::cell::RefCell;

/// A read or write failed; the device's own error is its driver's to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoError;

/// Something read at byte offsets: a file, a disk slot, a buffer.
pub trait ReadAt {
    /// Its length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from byte `offset`; reading past [`ReadAt::size`] is an error.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
}

/// Something written at byte offsets: the target slot.
pub trait WriteAt {
    /// How many bytes it holds.
    fn capacity(&self) -> u64;
    /// Writes `data` at byte `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError>;
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let start = usize::try_from(offset).map_err(|_| IoError)?;
        let end = start.checked_add(buf.len()).ok_or(IoError)?;
        buf.copy_from_slice(self.get(start..end).ok_or(IoError)?);
        Ok(())
    }
}

impl<R: ReadAt + ?Sized> ReadAt for &mut R {
    fn size(&self) -> u64 {
        (**self).size()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read_at(offset, buf)
    }
}

/// A target slot in RAM that records every write (the tests' fake target).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemTarget {
    /// The slot's bytes.
    pub bytes: Vec<u8>,
    /// Every write, in order: offset and length.
    pub writes: Vec<(u64, usize)>,
}

impl MemTarget {
    /// A slot of `capacity` bytes filled with `fill`.
    pub fn new(capacity: usize, fill: u8) -> Self {
        Self {
            bytes: alloc::vec![fill; capacity],
            writes: Vec::new(),
        }
    }
}

impl WriteAt for MemTarget {
    fn capacity(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), IoError> {
        let start = usize::try_from(offset).map_err(|_| IoError)?;
        let end = start.checked_add(data.len()).ok_or(IoError)?;
        self.bytes
            .get_mut(start..end)
            .ok_or(IoError)?
            .copy_from_slice(data);
        self.writes.push((offset, data.len()));
        Ok(())
    }
}

/// One range of a shared source, read sequentially: the compressed stream of one payload.
pub(crate) struct Range<'s, R> {
    src: &'s RefCell<R>,
    pos: u64,
    end: u64,
}

impl<'s, R: ReadAt> Range<'s, R> {
    pub(crate) fn new(src: &'s RefCell<R>, start: u64, len: u64) -> Self {
        Self {
            src,
            pos: start,
            end: start.saturating_add(len),
        }
    }

    /// Whether every byte of the range was read.
    pub(crate) fn is_done(&self) -> bool {
        self.pos == self.end
    }
}

impl<R: ReadAt> ruzstd::io::Read for Range<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ruzstd::io::Error> {
        let n = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let other = || ruzstd::io::Error::from(ruzstd::io::ErrorKind::Other);
        let out = buf.get_mut(..n).ok_or_else(other)?;
        self.src
            .borrow_mut()
            .read_at(self.pos, out)
            .map_err(|_| other())?;
        self.pos += n as u64;
        Ok(n)
    }
}
