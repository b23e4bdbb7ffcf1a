//! B-tree nodes in memory and on disk (leaves of items, internal nodes of child pointers).

use crate::device::Block;
use crate::layout::{
    self, get_u16, get_u64, Key, HEADER, KEY_LEN, MAGIC_LEAF, MAGIC_NODE, PAYLOAD,
};
use crate::BLOCK_SIZE;
use alloc::vec::Vec;

/// Largest item value: two always fit in one leaf, so a split always succeeds.
pub const MAX_VALUE: usize = PAYLOAD / 2 - ITEM_OVERHEAD - 8;
/// Bytes an item takes besides its value (key + length).
pub const ITEM_OVERHEAD: usize = KEY_LEN + 2;
/// Bytes one child pointer takes in an internal node.
pub const CHILD_LEN: usize = KEY_LEN + 8;
/// Most children of an internal node.
pub const MAX_CHILDREN: usize = PAYLOAD / CHILD_LEN;

/// A B-tree node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// Items in key order.
    Leaf(Vec<(Key, Vec<u8>)>),
    /// `(lowest key, child block)` in key order; the first child also takes every lower key.
    Internal {
        /// Height above the leaves (1: children are leaves).
        level: u16,
        /// The children.
        children: Vec<(Key, u64)>,
    },
}

impl Node {
    /// Payload bytes the node needs.
    pub fn size(&self) -> usize {
        match self {
            Node::Leaf(items) => items.iter().map(|(_, v)| ITEM_OVERHEAD + v.len()).sum(),
            Node::Internal { children, .. } => children.len() * CHILD_LEN,
        }
    }

    /// Whether it no longer fits one block.
    pub fn overflows(&self) -> bool {
        self.size() > PAYLOAD
    }

    /// Number of entries (items or children).
    pub fn len(&self) -> usize {
        match self {
            Node::Leaf(items) => items.len(),
            Node::Internal { children, .. } => children.len(),
        }
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encodes into a sealed block at `block`, generation `gen`.
    pub fn encode(&self, block: u64, gen: u64) -> Block {
        let mut b = [0u8; BLOCK_SIZE];
        let mut at = HEADER;
        let (magic, level) = match self {
            Node::Leaf(items) => {
                for (k, v) in items {
                    k.write(&mut b, at);
                    layout::put(&mut b, at + KEY_LEN, &(v.len() as u16).to_le_bytes());
                    layout::put(&mut b, at + ITEM_OVERHEAD, v);
                    at += ITEM_OVERHEAD + v.len();
                }
                (MAGIC_LEAF, 0)
            }
            Node::Internal { level, children } => {
                for (k, c) in children {
                    k.write(&mut b, at);
                    layout::put(&mut b, at + KEY_LEN, &c.to_le_bytes());
                    at += CHILD_LEN;
                }
                (MAGIC_NODE, *level)
            }
        };
        layout::seal(&mut b, magic, block, gen, self.len() as u16, level);
        b
    }

    /// Decodes a block already checked by [`layout::verify`] (`None`: malformed).
    pub fn decode(b: &Block, magic: [u8; 8]) -> Option<Node> {
        let count = usize::from(get_u16(b, 24));
        let level = get_u16(b, 26);
        if magic == MAGIC_LEAF && level == 0 {
            return decode_leaf(b, count).map(Node::Leaf);
        }
        if magic != MAGIC_NODE || level == 0 || count == 0 || count > MAX_CHILDREN {
            return None;
        }
        let children = (0..count)
            .map(|i| {
                let at = HEADER + i * CHILD_LEN;
                (Key::read(b, at), get_u64(b, at + KEY_LEN))
            })
            .collect();
        Some(Node::Internal { level, children })
    }
}

fn decode_leaf(b: &Block, count: usize) -> Option<Vec<(Key, Vec<u8>)>> {
    let mut items = Vec::with_capacity(count);
    let mut at = HEADER;
    for _ in 0..count {
        if at + ITEM_OVERHEAD > HEADER + PAYLOAD {
            return None;
        }
        let key = Key::read(b, at);
        let len = usize::from(get_u16(b, at + KEY_LEN));
        let start = at + ITEM_OVERHEAD;
        if start + len > HEADER + PAYLOAD {
            return None;
        }
        items.push((key, b[start..start + len].to_vec()));
        at = start + len;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::verify;
    use alloc::vec;

    #[test]
    fn leaf_round_trip() {
        let n = Node::Leaf(vec![
            (Key::new(1, 1, 0), vec![1, 2, 3]),
            (Key::new(2, 3, 9), vec![]),
        ]);
        let b = n.encode(77, 5);
        let magic = verify(&b, 77).expect("valid");
        assert_eq!(Node::decode(&b, magic), Some(n));
        assert!(verify(&b, 78).is_none(), "identity checked");
    }

    #[test]
    fn internal_round_trip_and_flip() {
        let children = (0..MAX_CHILDREN as u64)
            .map(|i| (Key::new(i, 1, 0), 100 + i))
            .collect();
        let n = Node::Internal { level: 2, children };
        assert!(!n.overflows());
        let mut b = n.encode(40, 1);
        let magic = verify(&b, 40).expect("valid");
        assert_eq!(Node::decode(&b, magic), Some(n));
        b[100] ^= 4;
        assert!(verify(&b, 40).is_none(), "bit flip detected");
    }

    #[test]
    fn two_max_items_fit() {
        let v = vec![0u8; MAX_VALUE];
        let n = Node::Leaf(vec![(Key::new(1, 1, 0), v.clone()), (Key::new(1, 1, 1), v)]);
        assert!(!n.overflows());
    }
}
