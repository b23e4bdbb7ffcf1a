//! The copy-on-write B-tree: lookups, ordered scans, insert with splits, delete with pruning.
//!
//! A committed node is never modified: the first change in a transaction copies it to a
//! newly allocated block (and frees the old one), copying its parents up to the root.

use crate::device::BlockDevice;
use crate::error::{BlockKind, Error};
use crate::fs::{Cached, Fs};
use crate::layout::{self, Key};
use crate::node::{Node, MAX_VALUE};
use crate::BLOCK_SIZE;
use alloc::vec;
use alloc::vec::Vec;

/// Clean nodes kept in memory before the cache is emptied of them.
const CACHE_LIMIT: usize = 4096;

/// A node's height above the leaves.
fn level(n: &Node) -> u16 {
    match n {
        Node::Leaf(_) => 0,
        Node::Internal { level, .. } => *level,
    }
}

/// The child of an internal node whose subtree holds `key`.
fn route(children: &[(Key, u64)], key: &Key) -> usize {
    children
        .partition_point(|(k, _)| k <= key)
        .saturating_sub(1)
}

impl<D: BlockDevice> Fs<D> {
    /// The node at `block`, read and checked if not cached.
    pub(crate) fn node(&mut self, block: u64) -> Result<&mut Node, Error> {
        if !self.nodes.contains_key(&block) {
            let node = self.read_node(block)?;
            if self.nodes.len() >= CACHE_LIMIT {
                self.nodes.retain(|_, c| c.dirty);
            }
            self.nodes.insert(block, Cached { node, dirty: false });
        }
        let c = self.nodes.get_mut(&block).ok_or(Error::Damaged {
            block,
            kind: BlockKind::TreeNode,
        })?;
        Ok(&mut c.node)
    }

    fn read_node(&mut self, block: u64) -> Result<Node, Error> {
        let bad = Error::Damaged {
            block,
            kind: BlockKind::TreeNode,
        };
        if block < crate::FIRST_FREE || block >= self.cur.blocks {
            return Err(bad);
        }
        let mut b = [0u8; BLOCK_SIZE];
        self.dev.read(block, &mut b)?;
        let magic = layout::verify(&b, block).ok_or(bad.clone())?;
        Node::decode(&b, magic).ok_or(bad)
    }

    /// The value of `key` in the current tree.
    pub(crate) fn get(&mut self, key: Key) -> Result<Option<Vec<u8>>, Error> {
        self.get_in(self.cur.root, key)
    }

    /// The node at `block`, which must be at height `want` (`None`: any) — so a damaged
    /// pointer can never make a walk loop.
    pub(crate) fn node_at(&mut self, block: u64, want: Option<u16>) -> Result<&mut Node, Error> {
        let n = self.node(block)?;
        match want {
            Some(w) if level(n) != w => Err(Error::Damaged {
                block,
                kind: BlockKind::TreeNode,
            }),
            _ => self.node(block),
        }
    }

    /// The value of `key` in the tree rooted at `root`.
    pub(crate) fn get_in(&mut self, root: u64, key: Key) -> Result<Option<Vec<u8>>, Error> {
        let (mut b, mut want) = (root, None);
        loop {
            match self.node_at(b, want)? {
                Node::Leaf(items) => {
                    let i = items.binary_search_by(|(k, _)| k.cmp(&key));
                    return Ok(i.ok().map(|i| items[i].1.clone()));
                }
                Node::Internal { children, level } => {
                    (b, want) = (children[route(children, &key)].1, Some(*level - 1));
                }
            }
        }
    }

    /// The first item with a key `>= key`.
    pub(crate) fn first_ge(&mut self, key: Key) -> Result<Option<(Key, Vec<u8>)>, Error> {
        self.first_ge_in(self.cur.root, None, key)
    }

    fn first_ge_in(
        &mut self,
        block: u64,
        want: Option<u16>,
        key: Key,
    ) -> Result<Option<(Key, Vec<u8>)>, Error> {
        let (children, level) = match self.node_at(block, want)? {
            Node::Leaf(items) => {
                let i = items.partition_point(|(k, _)| *k < key);
                return Ok(items.get(i).cloned());
            }
            Node::Internal { children, level } => (children.clone(), *level),
        };
        for &(_, child) in &children[route(&children, &key)..] {
            if let Some(found) = self.first_ge_in(child, Some(level - 1), key)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Makes the node at `block` writable: copies a committed node to a new block.
    fn cow(&mut self, block: u64) -> Result<u64, Error> {
        let node = self.node(block)?.clone();
        if self.nodes.get(&block).is_some_and(|c| c.dirty) {
            return Ok(block);
        }
        let nb = self.alloc()?;
        self.nodes.remove(&block);
        self.nodes.insert(nb, Cached { node, dirty: true });
        self.free(block)?;
        Ok(nb)
    }

    /// Copies the path from the root to the leaf for `key`; returns `(block, child index)`
    /// per level, root first (the leaf's index is 0).
    fn cow_path(&mut self, key: &Key) -> Result<Vec<(u64, usize)>, Error> {
        self.cur.root = self.cow(self.cur.root)?;
        let mut path = Vec::new();
        let (mut b, mut want) = (self.cur.root, None);
        loop {
            let (i, child, level) = match self.node_at(b, want)? {
                Node::Leaf(_) => break,
                Node::Internal { children, level } => {
                    let i = route(children, key);
                    (i, children[i].1, *level)
                }
            };
            want = Some(level - 1);
            self.node_at(child, want)?;
            let nc = self.cow(child)?;
            if let Node::Internal { children, .. } = self.node(b)? {
                children[i].1 = nc;
            }
            path.push((b, i));
            b = nc;
        }
        path.push((b, 0));
        Ok(path)
    }

    /// Inserts or replaces `key`.
    pub(crate) fn put(&mut self, key: Key, value: &[u8]) -> Result<(), Error> {
        if value.len() > MAX_VALUE {
            return Err(Error::HashCollision);
        }
        self.mutations += 1;
        let path = self.cow_path(&key)?;
        let leaf = path[path.len() - 1].0;
        if let Node::Leaf(items) = self.node(leaf)? {
            match items.binary_search_by(|(k, _)| k.cmp(&key)) {
                Ok(i) => items[i].1 = value.to_vec(),
                Err(i) => items.insert(i, (key, value.to_vec())),
            }
        }
        self.split_up(&path)
    }

    /// Splits overflowing nodes from the leaf up, growing a new root if needed.
    fn split_up(&mut self, path: &[(u64, usize)]) -> Result<(), Error> {
        for l in (0..path.len()).rev() {
            let b = path[l].0;
            if !self.node(b)?.overflows() {
                return Ok(());
            }
            let (right, level) = split(self.node(b)?);
            let right_key = first_key(&right);
            let rb = self.alloc()?;
            self.nodes.insert(
                rb,
                Cached {
                    node: right,
                    dirty: true,
                },
            );
            if l == 0 {
                let children = vec![(Key::new(0, 0, 0), b), (right_key, rb)];
                let root = self.alloc()?;
                let node = Node::Internal {
                    level: level + 1,
                    children,
                };
                self.nodes.insert(root, Cached { node, dirty: true });
                self.cur.root = root;
            } else if let Node::Internal { children, .. } = self.node(path[l - 1].0)? {
                children.insert(path[l - 1].1 + 1, (right_key, rb));
            }
        }
        Ok(())
    }

    /// Deletes `key`; returns whether it was there.
    pub(crate) fn del(&mut self, key: Key) -> Result<bool, Error> {
        if self.get(key)?.is_none() {
            return Ok(false);
        }
        self.mutations += 1;
        let path = self.cow_path(&key)?;
        if let Node::Leaf(items) = self.node(path[path.len() - 1].0)? {
            if let Ok(i) = items.binary_search_by(|(k, _)| k.cmp(&key)) {
                items.remove(i);
            }
        }
        self.prune(&path)?;
        self.collapse_root()?;
        Ok(true)
    }

    /// Removes empty nodes from the leaf up (the root stays, possibly an empty leaf).
    fn prune(&mut self, path: &[(u64, usize)]) -> Result<(), Error> {
        for l in (1..path.len()).rev() {
            let b = path[l].0;
            if !self.node(b)?.is_empty() {
                return Ok(());
            }
            self.nodes.remove(&b);
            self.free(b)?;
            if let Node::Internal { children, .. } = self.node(path[l - 1].0)? {
                children.remove(path[l - 1].1);
            }
        }
        Ok(())
    }

    /// Replaces a root that has one child by that child (the root is already copied).
    fn collapse_root(&mut self) -> Result<(), Error> {
        loop {
            let root = self.cur.root;
            let child = match self.node(root)? {
                Node::Internal { children, .. } if children.len() == 1 => children[0].1,
                Node::Internal { children, .. } if children.is_empty() => {
                    *self.node(root)? = Node::Leaf(Vec::new());
                    return Ok(());
                }
                _ => return Ok(()),
            };
            self.nodes.remove(&root);
            self.free(root)?;
            self.cur.root = child;
        }
    }

    /// Calls `f` for every block the tree rooted at `root` references (its nodes, the data
    /// and bitmap blocks its items name), each once. For checks and tests: reads every node.
    pub fn walk_blocks(&mut self, f: &mut dyn FnMut(u64)) -> Result<(), Error> {
        let mut stack = vec![(self.cur.root, None)];
        while let Some((b, want)) = stack.pop() {
            f(b);
            match self.node_at(b, want)?.clone() {
                Node::Internal { children, level } => {
                    stack.extend(children.iter().map(|c| (c.1, Some(level - 1))))
                }
                Node::Leaf(items) => items
                    .iter()
                    .for_each(|(k, v)| item_block(k, v).into_iter().for_each(&mut *f)),
            }
        }
        Ok(())
    }
}

/// The block a data or bitmap item names.
fn item_block(k: &Key, v: &[u8]) -> Option<u64> {
    match k.kind {
        layout::KIND_DATA => layout::decode_data(v).map(|(b, _)| b),
        layout::KIND_BITMAP => v.try_into().ok().map(u64::from_le_bytes),
        _ => None,
    }
}

fn first_key(n: &Node) -> Key {
    match n {
        Node::Leaf(items) => items.first().map(|i| i.0),
        Node::Internal { children, .. } => children.first().map(|c| c.0),
    }
    .unwrap_or(Key::new(0, 0, 0))
}

/// Splits an overflowing node in two halves (by bytes); returns the right half and the level.
fn split(n: &mut Node) -> (Node, u16) {
    match n {
        Node::Leaf(items) => {
            let half = n_size(items) / 2;
            let mut acc = 0;
            let at = items.iter().position(|(_, v)| {
                acc += crate::node::ITEM_OVERHEAD + v.len();
                acc > half
            });
            let at = at.unwrap_or(items.len() / 2).clamp(1, items.len() - 1);
            (Node::Leaf(items.split_off(at)), 0)
        }
        Node::Internal { level, children } => {
            let right = children.split_off(children.len() / 2);
            (
                Node::Internal {
                    level: *level,
                    children: right,
                },
                *level,
            )
        }
    }
}

fn n_size(items: &[(Key, Vec<u8>)]) -> usize {
    items
        .iter()
        .map(|(_, v)| crate::node::ITEM_OVERHEAD + v.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemDevice;
    use crate::Time;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn scan(fs: &mut Fs<MemDevice>) -> BTreeMap<Key, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut key = Key::new(7, 0, 0);
        while let Some((k, v)) = fs.first_ge(key).expect("scan") {
            if k.oid != 7 {
                break;
            }
            out.insert(k, v);
            key = Key::new(k.oid, k.kind, k.off + 1);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
        /// Inserts, replaces and deletes against a `BTreeMap`, with commits in between.
        #[test]
        fn tree_matches_a_btreemap(ops in proptest::collection::vec((0u64..3000, 0usize..400, 0u8..4), 1..1500)) {
            let mut fs = Fs::format(MemDevice::new(4096), Time::default(), &[]).expect("format");
            let mut model = BTreeMap::new();
            for (i, (off, len, what)) in ops.into_iter().enumerate() {
                let key = Key::new(7, 9, off);
                if what == 0 {
                    prop_assert_eq!(fs.del(key).expect("del"), model.remove(&key).is_some());
                } else {
                    let v = vec![what; len];
                    fs.put(key, &v).expect("put");
                    model.insert(key, v);
                }
                if i % 97 == 0 {
                    fs.sync().expect("sync");
                    prop_assert!(fs.check().expect("check").is_exact());
                }
            }
            prop_assert_eq!(&scan(&mut fs), &model);
            fs.sync().expect("sync");
            let mut fs = Fs::mount(fs.into_device().reboot()).expect("mount").0;
            prop_assert!(fs.check().expect("check").is_exact());
            prop_assert_eq!(&scan(&mut fs), &model);
        }
    }
}
