//! `check` (the free-space bitmap matches exactly what the tree references) and `scrub`
//! (every checksum, going on past damage).

use crate::device::BlockDevice;
use crate::error::Error;
use crate::fs::Fs;
use crate::layout::{decode_data, Key, KIND_BITMAP, KIND_DATA};
use crate::node::Node;
use crate::{BLOCK_SIZE, FIRST_FREE};
use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

/// What [`Fs::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckReport {
    /// Blocks the tree references (nodes, data, bitmap blocks), each once.
    pub reachable: u64,
    /// The used count the superblock/transaction carries.
    pub used: u64,
    /// Blocks marked used in the bitmap (the reserved ones excluded).
    pub marked: u64,
    /// Referenced blocks the bitmap calls free (must be 0).
    pub unmarked_reachable: u64,
    /// Referenced more than once (must be 0).
    pub shared: u64,
}

impl CheckReport {
    /// Whether the accounting is exact: no leak, no double use, counts agree.
    pub fn is_exact(&self) -> bool {
        self.unmarked_reachable == 0
            && self.shared == 0
            && self.reachable == self.used
            && self.marked == self.used
    }
}

impl<D: BlockDevice> Fs<D> {
    /// Walks the whole tree (reads every node and the bitmap; no data blocks) and compares it
    /// with the bitmap. Meant for tests and the host `check` tool, not for mount.
    pub fn check(&mut self) -> Result<CheckReport, Error> {
        let mut seen = BTreeSet::new();
        let mut shared = 0;
        self.walk_blocks(&mut |b| {
            if !seen.insert(b) {
                shared += 1;
            }
        })?;
        let mut unmarked = 0;
        for &b in &seen {
            if b < FIRST_FREE || b >= self.cur.blocks || !self.is_used(b)? {
                unmarked += 1;
            }
        }
        let mut marked = 0;
        for idx in 0..self.leaf_count() {
            marked += self.leaf_ones(idx)?;
        }
        let marked = marked.saturating_sub(FIRST_FREE);
        let (reachable, used) = (seen.len() as u64, self.cur.used);
        Ok(CheckReport {
            reachable,
            used,
            marked,
            unmarked_reachable: unmarked,
            shared,
        })
    }
}

/// What [`Fs::scrub`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrubReport {
    /// Tree nodes read and found good.
    pub nodes: u64,
    /// Data blocks read and found good.
    pub data_blocks: u64,
    /// Every damaged or unreadable block met (a damaged node hides its subtree).
    pub damage: Vec<Error>,
}

impl<D: BlockDevice> Fs<D> {
    /// Reads every tree node, bitmap block and data block and checks each checksum, going on
    /// past damage; changes nothing. For the host `check` tool.
    pub fn scrub(&mut self) -> ScrubReport {
        let mut r = ScrubReport::default();
        let mut stack = vec![(self.cur.root, None)];
        while let Some((b, want)) = stack.pop() {
            match self.node_at(b, want).map(|n| n.clone()) {
                Ok(Node::Internal { children, level }) => {
                    stack.extend(children.iter().map(|c| (c.1, Some(level - 1))));
                    r.nodes += 1;
                }
                Ok(Node::Leaf(items)) => {
                    r.nodes += 1;
                    items
                        .iter()
                        .for_each(|(k, v)| self.scrub_item(k, v, &mut r));
                }
                Err(e) => r.damage.push(e),
            }
        }
        r
    }

    fn scrub_item(&mut self, k: &Key, v: &[u8], r: &mut ScrubReport) {
        let mut buf = [0u8; BLOCK_SIZE];
        let result = match (k.kind, decode_data(v)) {
            (KIND_DATA, Some((block, crc))) => self.read_data(k.oid, block, crc, &mut buf),
            (KIND_DATA, None) => Err(Error::BadItem { oid: k.oid }),
            (KIND_BITMAP, _) => self.read_bitmap_block(k.off).map(|_| ()),
            _ => return,
        };
        match result {
            Ok(()) if k.kind == KIND_DATA => r.data_blocks += 1,
            Ok(()) => {}
            Err(e) => r.damage.push(e),
        }
    }
}
