//! `MemDevice`: a sparse in-memory [`BlockDevice`] for tests and host tools, with power cuts,
//! torn and lost writes, read errors and bit flips.
//!
//! Only written blocks are stored (unwritten ones read as zeros), so a 64 GiB region costs
//! only what is written. A power cut after write `n` keeps writes `1..n` (write `n` itself
//! torn if asked: its first half new, the rest old), optionally drops a chosen subset of
//! the writes since the last flush (a disk cache losing them), and fails everything after.

use crate::device::{Block, BlockDevice, IoError};
use crate::BLOCK_SIZE;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// How a power cut behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cut {
    /// The write (1-based, counted from when the cut was armed) during which power fails.
    pub at_write: u64,
    /// Whether that write lands only half.
    pub torn: bool,
    /// Bit `i % 64` set: the `i`-th write since the last flush is lost too.
    pub lose_unflushed: u64,
}

/// The sparse in-memory device.
#[derive(Debug, Clone, Default)]
pub struct MemDevice {
    blocks: u64,
    data: BTreeMap<u64, Box<Block>>,
    /// Old contents of the writes since the last flush (`None`: was unwritten).
    unflushed: Vec<(u64, Option<Box<Block>>)>,
    cut: Option<Cut>,
    dead: bool,
    bad_reads: BTreeSet<u64>,
    /// Blocks read so far.
    pub reads: u64,
    /// Blocks written so far.
    pub writes: u64,
    /// Flushes so far.
    pub flushes: u64,
}

impl MemDevice {
    /// A zeroed device of `blocks` blocks.
    pub fn new(blocks: u64) -> MemDevice {
        MemDevice {
            blocks,
            ..MemDevice::default()
        }
    }

    /// The device as it is after a power cycle: same contents, no cut armed, counters zero.
    pub fn reboot(&self) -> MemDevice {
        MemDevice {
            blocks: self.blocks,
            data: self.data.clone(),
            bad_reads: self.bad_reads.clone(),
            ..MemDevice::default()
        }
    }

    /// Arms a power cut, counting writes from now.
    pub fn arm(&mut self, cut: Cut) {
        self.writes = 0;
        self.cut = Some(cut);
    }

    /// Whether power has been cut.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Flips bit `bit` of byte `byte` of `block`.
    pub fn flip(&mut self, block: u64, byte: usize, bit: u8) {
        let b = self
            .data
            .entry(block)
            .or_insert_with(|| Box::new([0; BLOCK_SIZE]));
        b[byte] ^= 1 << bit;
    }

    /// Makes reads of `block` fail.
    pub fn fail_reads(&mut self, block: u64) {
        self.bad_reads.insert(block);
    }

    /// The blocks ever written (for damage tests).
    pub fn written(&self) -> impl Iterator<Item = u64> + '_ {
        self.data.keys().copied()
    }

    /// The bytes of `block` (zeros if never written).
    pub fn peek(&self, block: u64) -> Block {
        self.data.get(&block).map_or([0; BLOCK_SIZE], |b| **b)
    }

    fn power_fail(&mut self, cut: Cut) {
        self.dead = true;
        let lost = core::mem::take(&mut self.unflushed);
        for (i, (block, old)) in lost.into_iter().enumerate().rev() {
            if cut.lose_unflushed & (1 << (i % 64)) != 0 {
                match old {
                    Some(o) => self.data.insert(block, o),
                    None => self.data.remove(&block),
                };
            }
        }
    }

    fn store(&mut self, block: u64, buf: &Block, torn: bool) {
        let old = self.data.get(&block).cloned();
        let mut new = Box::new(*buf);
        if let (true, Some(o)) = (torn, &old) {
            new[BLOCK_SIZE / 2..].copy_from_slice(&o[BLOCK_SIZE / 2..]);
        } else if torn {
            new[BLOCK_SIZE / 2..].fill(0);
        }
        self.unflushed.push((block, old));
        self.data.insert(block, new);
    }
}

impl BlockDevice for MemDevice {
    fn block_count(&self) -> u64 {
        self.blocks
    }

    fn read(&mut self, block: u64, buf: &mut Block) -> Result<(), IoError> {
        if self.dead || block >= self.blocks || self.bad_reads.contains(&block) {
            return Err(IoError { block });
        }
        self.reads += 1;
        *buf = self.peek(block);
        Ok(())
    }

    fn write(&mut self, block: u64, buf: &Block) -> Result<(), IoError> {
        if self.dead || block >= self.blocks {
            return Err(IoError { block });
        }
        self.writes += 1;
        match self.cut {
            Some(cut) if self.writes == cut.at_write => {
                self.store(block, buf, cut.torn);
                self.power_fail(cut);
                Err(IoError { block })
            }
            _ => {
                self.store(block, buf, false);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.dead {
            return Err(IoError { block: u64::MAX });
        }
        self.flushes += 1;
        self.unflushed.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_loses_later_and_chosen_unflushed_writes() {
        let mut d = MemDevice::new(100);
        d.write(1, &[1; BLOCK_SIZE]).expect("write");
        d.flush().expect("flush");
        d.arm(Cut {
            at_write: 3,
            torn: true,
            lose_unflushed: 0b01,
        });
        d.write(2, &[2; BLOCK_SIZE]).expect("write");
        d.write(3, &[3; BLOCK_SIZE]).expect("write");
        assert!(d.write(1, &[9; BLOCK_SIZE]).is_err());
        assert!(d.write(4, &[4; BLOCK_SIZE]).is_err());
        let r = d.reboot();
        assert_eq!(r.peek(2), [0; BLOCK_SIZE], "unflushed write 0 lost");
        assert_eq!(r.peek(3), [3; BLOCK_SIZE], "unflushed write 1 kept");
        let b1 = r.peek(1);
        assert_eq!((b1[0], b1[BLOCK_SIZE - 1]), (9, 1), "torn");
        assert_eq!(r.peek(4), [0; BLOCK_SIZE]);
    }

    #[test]
    fn sparse_64_gib() {
        let mut d = MemDevice::new(16 << 20);
        d.write((16 << 20) - 1, &[7; BLOCK_SIZE]).expect("write");
        assert_eq!(d.written().count(), 1);
    }
}
