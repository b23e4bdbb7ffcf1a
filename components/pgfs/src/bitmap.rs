//! The free-space bitmap: one bit per block, in checksummed bitmap blocks placed by the tree.
//!
//! Each cached bitmap block keeps three versions: `cur` (this transaction), `base` (the
//! committed root) and `prev` (the other, older root). A block may be allocated only if it is
//! free in all three, so neither committed root can be overwritten before the next commit.

use crate::device::BlockDevice;
use crate::error::{BlockKind, Error};
use crate::fs::Fs;
use crate::layout::{self, Key, HEADER, KIND_BITMAP, MAGIC_BITMAP, PAYLOAD};
use crate::BLOCK_SIZE;
use alloc::vec;
use alloc::vec::Vec;

/// Blocks one bitmap block covers.
pub const BITS: u64 = (PAYLOAD * 8) as u64;

/// One bitmap block in memory.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// Bits of this transaction.
    pub cur: Vec<u8>,
    /// Bits of the committed root.
    pub base: Vec<u8>,
    /// Bits of the previous root (zeros if there is none).
    pub prev: Vec<u8>,
    /// Where it lives (0: nowhere yet).
    pub loc: u64,
    /// Whether it got a new location in this transaction.
    pub moved: bool,
    /// Whether `cur` changed in this transaction.
    pub dirty: bool,
}

impl Leaf {
    /// A new leaf with blocks `0..reserved` of the region marked used.
    pub fn fresh(idx: u64, reserved: u64) -> Leaf {
        let mut cur = vec![0u8; PAYLOAD];
        for b in idx * BITS..reserved.min((idx + 1) * BITS) {
            let i = (b - idx * BITS) as usize;
            cur[i / 8] |= 1 << (i % 8);
        }
        let zeros = vec![0u8; PAYLOAD];
        Leaf {
            cur,
            base: zeros.clone(),
            prev: zeros,
            loc: 0,
            moved: false,
            dirty: true,
        }
    }

    fn taken(&self, byte: usize) -> u8 {
        self.cur[byte] | self.base[byte] | self.prev[byte]
    }

    /// The first bit in `from..to` free in all three versions.
    pub fn find_free(&self, from: usize, to: usize) -> Option<usize> {
        let mut i = from;
        while i < to {
            let t = self.taken(i / 8);
            if t == 0xFF {
                i = (i / 8 + 1) * 8;
                continue;
            }
            if t & (1 << (i % 8)) == 0 {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Encodes the `cur` bits as a sealed block.
    pub fn encode(&self, gen: u64) -> [u8; BLOCK_SIZE] {
        let mut b = [0u8; BLOCK_SIZE];
        b[HEADER..HEADER + PAYLOAD].copy_from_slice(&self.cur);
        layout::seal(&mut b, MAGIC_BITMAP, self.loc, gen, 0, 0);
        b
    }
}

fn bit(v: &[u8], i: usize) -> bool {
    v[i / 8] & (1 << (i % 8)) != 0
}

impl<D: BlockDevice> Fs<D> {
    /// Number of bitmap blocks of the region.
    pub(crate) fn leaf_count(&self) -> u64 {
        self.cur.blocks.div_ceil(BITS)
    }

    /// Reads the bits of bitmap block `idx` as the tree rooted at `root` has them.
    fn read_bits(&mut self, root: u64, idx: u64) -> Result<(u64, Vec<u8>), Error> {
        let item = self.get_in(root, Key::new(0, KIND_BITMAP, idx))?;
        let loc = item
            .as_deref()
            .and_then(|v| v.try_into().ok())
            .map(u64::from_le_bytes);
        let loc = loc.ok_or(Error::BadItem { oid: 0 })?;
        let mut b = [0u8; BLOCK_SIZE];
        self.dev.read(loc, &mut b)?;
        if layout::verify(&b, loc) != Some(MAGIC_BITMAP) {
            return Err(Error::Damaged {
                block: loc,
                kind: BlockKind::Bitmap,
            });
        }
        Ok((loc, b[HEADER..HEADER + PAYLOAD].to_vec()))
    }

    /// Reads and checks bitmap block `idx` of the current tree (bypassing the cache).
    pub(crate) fn read_bitmap_block(&mut self, idx: u64) -> Result<Vec<u8>, Error> {
        self.read_bits(self.cur.root, idx).map(|(_, bits)| bits)
    }

    /// Loads bitmap block `idx` into the cache.
    fn load_leaf(&mut self, idx: u64) -> Result<(), Error> {
        if self.leaves.contains_key(&idx) {
            return Ok(());
        }
        let (loc, bits) = self.read_bits(self.cur.root, idx)?;
        let prev = match self.prev_root {
            Some(r) => self
                .read_bits(r, idx)
                .map(|(_, p)| p)
                .unwrap_or_else(|_| vec![0u8; PAYLOAD]),
            None => vec![0u8; PAYLOAD],
        };
        let leaf = Leaf {
            cur: bits.clone(),
            base: bits,
            prev,
            loc,
            moved: false,
            dirty: false,
        };
        self.leaves.insert(idx, leaf);
        Ok(())
    }

    fn leaf_mut(&mut self, block: u64) -> Result<(&mut Leaf, usize), Error> {
        let idx = block / BITS;
        self.load_leaf(idx)?;
        let leaf = self.leaves.get_mut(&idx).ok_or(Error::BadItem { oid: 0 })?;
        Ok((leaf, (block % BITS) as usize))
    }

    /// Whether `block` was allocated in this transaction (so it may be rewritten in place).
    pub(crate) fn is_fresh(&mut self, block: u64) -> Result<bool, Error> {
        let (leaf, i) = self.leaf_mut(block)?;
        Ok(bit(&leaf.cur, i) && !bit(&leaf.base, i))
    }

    /// Whether `block` is allocated in this transaction.
    pub(crate) fn is_used(&mut self, block: u64) -> Result<bool, Error> {
        let (leaf, i) = self.leaf_mut(block)?;
        Ok(bit(&leaf.cur, i))
    }

    /// Set bits of bitmap block `idx` in this transaction.
    pub(crate) fn leaf_ones(&mut self, idx: u64) -> Result<u64, Error> {
        let (leaf, _) = self.leaf_mut(idx * BITS)?;
        Ok(leaf.cur.iter().map(|b| u64::from(b.count_ones())).sum())
    }

    /// Allocates a block free in this transaction and in both committed roots.
    pub(crate) fn alloc(&mut self) -> Result<u64, Error> {
        let (start, end) = (self.hint.max(crate::FIRST_FREE), self.cur.blocks);
        let found = match self.search(start, end)? {
            Some(b) => Some(b),
            None => self.search(crate::FIRST_FREE, start)?,
        };
        let b = found.ok_or(Error::NoSpace)?;
        let (leaf, i) = self.leaf_mut(b)?;
        leaf.cur[i / 8] |= 1 << (i % 8);
        leaf.dirty = true;
        self.cur.used += 1;
        self.hint = b + 1;
        self.nodes.remove(&b);
        self.mutations += 1;
        Ok(b)
    }

    fn search(&mut self, from: u64, to: u64) -> Result<Option<u64>, Error> {
        let mut b = from;
        while b < to {
            if self.reserved.contains(&b) {
                b = self.reserved.end;
                continue;
            }
            let idx = b / BITS;
            let mut leaf_end = ((idx + 1) * BITS).min(to);
            if (b..leaf_end).contains(&self.reserved.start) {
                leaf_end = self.reserved.start;
            }
            let (leaf, i) = self.leaf_mut(b)?;
            if let Some(f) = leaf.find_free(i, (leaf_end - idx * BITS) as usize) {
                return Ok(Some(idx * BITS + f as u64));
            }
            b = leaf_end;
        }
        Ok(None)
    }

    /// Frees `block` in this transaction (reusable once a later commit is durable, or at once
    /// if it was allocated in this transaction).
    pub(crate) fn free(&mut self, block: u64) -> Result<(), Error> {
        let (leaf, i) = self.leaf_mut(block)?;
        if bit(&leaf.cur, i) {
            leaf.cur[i / 8] &= !(1 << (i % 8));
            leaf.dirty = true;
            self.cur.used = self.cur.used.saturating_sub(1);
        }
        self.mutations += 1;
        Ok(())
    }

    /// Gives every dirty bitmap block a new location, recording it in the tree, until no
    /// allocation dirties another one.
    pub(crate) fn place_bitmaps(&mut self) -> Result<(), Error> {
        loop {
            let pending: Vec<u64> = self
                .leaves
                .iter()
                .filter(|(_, l)| l.dirty && !l.moved)
                .map(|(i, _)| *i)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            for idx in pending {
                self.place_one(idx)?;
            }
        }
    }

    fn place_one(&mut self, idx: u64) -> Result<(), Error> {
        let nb = self.alloc()?;
        let leaf = self.leaves.get_mut(&idx).ok_or(Error::BadItem { oid: 0 })?;
        let old = core::mem::replace(&mut leaf.loc, nb);
        leaf.moved = true;
        if old != 0 {
            self.free(old)?;
        }
        self.put(Key::new(0, KIND_BITMAP, idx), &nb.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemDevice;
    use crate::Time;

    #[test]
    fn alloc_crosses_bitmap_blocks() {
        let mut fs = Fs::format(MemDevice::new(3 * BITS), Time::default(), &[]).expect("format");
        let leaf = fs.leaves.get_mut(&0).expect("leaf 0");
        leaf.cur.fill(0xFF);
        let b = fs.alloc().expect("alloc");
        assert!((BITS..2 * BITS).contains(&b), "{b}");
        fs.leaves.get_mut(&1).expect("leaf 1").cur.fill(0xFF);
        fs.leaves.get_mut(&2).expect("leaf 2").cur.fill(0xFF);
        assert_eq!(fs.alloc(), Err(Error::NoSpace));
    }

    #[test]
    fn format_with_reserved_writes_nothing_there() {
        let mut dev = MemDevice::new(512);
        let mut old = [0u8; BLOCK_SIZE];
        old[..8].copy_from_slice(b"PGSTORE1");
        dev.write(crate::SUPER_A, &old).expect("write");
        dev.write(crate::SUPER_B, &[7; BLOCK_SIZE]).expect("write");
        let opts = crate::FormatOptions {
            reserved: 33..300,
            replace_old_store: true,
        };
        let data = [5u8; 3 * BLOCK_SIZE];
        let files: &[(&str, &[u8])] = &[("/a/b", &data), ("/c", b"c")];
        assert_eq!(
            Fs::format(dev.reboot(), Time::default(), files).err(),
            Some(Error::Exists)
        );
        let fs = Fs::format_with(dev.reboot(), Time::default(), files, &opts).expect("format");
        let dev = fs.into_device();
        assert!(dev.written().all(|b| b == 32 || b == 33 || b >= 300));
        assert_eq!(
            dev.peek(crate::SUPER_B),
            [7; BLOCK_SIZE],
            "slot B untouched"
        );
        let (mut fs, r) = Fs::mount(dev.reboot()).expect("mount");
        assert_eq!((r.slot, r.damaged_root), (crate::SUPER_A, None));
        assert!(fs.check().expect("check").is_exact());
        let again = Fs::format_with(fs.into_device().reboot(), Time::default(), &[], &opts);
        assert_eq!(
            again.err(),
            Some(Error::Exists),
            "a valid pgfs is never replaced"
        );
    }

    #[test]
    fn fresh_marks_reserved() {
        let l = Leaf::fresh(0, 34);
        assert_eq!(l.find_free(0, BITS as usize), Some(34));
        let l1 = Leaf::fresh(1, 34);
        assert_eq!(l1.find_free(0, BITS as usize), Some(0));
    }

    #[test]
    fn all_three_versions_hold_a_block() {
        let mut l = Leaf::fresh(0, 0);
        l.base[0] = 0b0000_0001;
        l.prev[0] = 0b0000_0010;
        l.cur[0] = 0b0000_0100;
        assert_eq!(l.find_free(0, 64), Some(3));
        l.cur[0] = 0xFF;
        assert_eq!(l.find_free(0, 64), Some(8));
        assert_eq!(l.find_free(0, 8), None);
    }
}
