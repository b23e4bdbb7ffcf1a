//! Byte layouts: the metadata block envelope, the superblock, B-tree keys and item values.

use crate::crc::crc32c;
use crate::device::Block;
use crate::{BLOCK_SIZE, VERSION};

/// Bytes of a metadata block before its payload.
pub const HEADER: usize = 32;
/// Offset of the CRC-32C (over bytes `0..CRC_AT`) in every metadata block.
pub const CRC_AT: usize = BLOCK_SIZE - 4;
/// Payload bytes of a metadata block.
pub const PAYLOAD: usize = CRC_AT - HEADER;

/// Magic of a superblock.
pub const MAGIC_SUPER: [u8; 8] = *b"PGFSROOT";
/// Magic of a B-tree leaf.
pub const MAGIC_LEAF: [u8; 8] = *b"PGFSLEAF";
/// Magic of a B-tree internal node.
pub const MAGIC_NODE: [u8; 8] = *b"PGFSNODE";
/// Magic of a bitmap block.
pub const MAGIC_BITMAP: [u8; 8] = *b"PGFSBMAP";

pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_le_bytes(a)
}

pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

pub(crate) fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// Writes the envelope (magic, own block, generation, count, level) and the CRC.
pub fn seal(buf: &mut Block, magic: [u8; 8], block: u64, gen: u64, count: u16, level: u16) {
    put(buf, 0, &magic);
    put(buf, 8, &block.to_le_bytes());
    put(buf, 16, &gen.to_le_bytes());
    put(buf, 24, &count.to_le_bytes());
    put(buf, 26, &level.to_le_bytes());
    buf[28..32].fill(0);
    let crc = crc32c(&buf[..CRC_AT]);
    put(buf, CRC_AT, &crc.to_le_bytes());
}

/// Checks the CRC and that the block says it is `block`; returns its magic.
pub fn verify(buf: &Block, block: u64) -> Option<[u8; 8]> {
    if crc32c(&buf[..CRC_AT]) != get_u32(buf, CRC_AT) || get_u64(buf, 8) != block {
        return None;
    }
    let mut m = [0u8; 8];
    m.copy_from_slice(&buf[..8]);
    Some(m)
}

/// A B-tree key: object (inode number), item type, offset. Ordered as that tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    /// The inode the item belongs to (0: the filesystem itself).
    pub oid: u64,
    /// The item type ([`KIND_INODE`], [`KIND_DIRENT`], [`KIND_DATA`], [`KIND_BITMAP`]).
    pub kind: u8,
    /// Type-specific: 0, name hash, file block index, bitmap index.
    pub off: u64,
}

/// Encoded size of a key.
pub const KEY_LEN: usize = 17;
/// Item type: an inode (`off` = 0).
pub const KIND_INODE: u8 = 1;
/// Item type: directory entries whose name hashes to `off`.
pub const KIND_DIRENT: u8 = 2;
/// Item type: where block `off` of a file lives.
pub const KIND_DATA: u8 = 3;
/// Item type (object 0): where bitmap block `off` lives.
pub const KIND_BITMAP: u8 = 4;

impl Key {
    /// A key.
    pub const fn new(oid: u64, kind: u8, off: u64) -> Key {
        Key { oid, kind, off }
    }

    /// Encodes into `b[at..at + KEY_LEN]`.
    pub fn write(&self, b: &mut [u8], at: usize) {
        put(b, at, &self.oid.to_le_bytes());
        b[at + 8] = self.kind;
        put(b, at + 9, &self.off.to_le_bytes());
    }

    /// Decodes from `b[at..at + KEY_LEN]`.
    pub fn read(b: &[u8], at: usize) -> Key {
        Key::new(get_u64(b, at), b[at + 8], get_u64(b, at + 9))
    }
}

/// The committed state a superblock names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Super {
    /// Commit number; the valid superblock with the highest wins.
    pub gen: u64,
    /// Region size in blocks when written.
    pub blocks: u64,
    /// Block of the B-tree root.
    pub root: u64,
    /// Next inode number to hand out (never reused).
    pub next_oid: u64,
    /// Blocks allocated (metadata + data), not counting the reserved ones.
    pub used: u64,
    /// Files and directories, the root excluded.
    pub files: u64,
}

/// What a superblock slot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuperRead {
    /// A valid superblock.
    Valid(Super),
    /// All zeros.
    Empty,
    /// The old record store's superblock.
    OldStore,
    /// pgfs magic but a bad checksum, identity or field: damage (or a torn write).
    Damaged,
    /// A valid pgfs superblock of a newer version.
    Newer(u32),
    /// Something else.
    Foreign,
}

/// Encodes a superblock for slot `block`.
pub fn encode_super(s: &Super, block: u64) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    put(&mut b, 0, &MAGIC_SUPER);
    put(&mut b, 8, &block.to_le_bytes());
    put(&mut b, 16, &s.gen.to_le_bytes());
    put(&mut b, 24, &VERSION.to_le_bytes());
    let fields = [s.blocks, s.root, s.next_oid, s.used, s.files];
    for (i, v) in fields.iter().enumerate() {
        put(&mut b, 32 + 8 * i, &v.to_le_bytes());
    }
    let crc = crc32c(&b[..CRC_AT]);
    put(&mut b, CRC_AT, &crc.to_le_bytes());
    b
}

/// Decodes the superblock slot `block`.
pub fn decode_super(b: &Block, block: u64) -> SuperRead {
    if b.iter().all(|&x| x == 0) {
        return SuperRead::Empty;
    }
    if &b[..8] == b"PGSTORE1" {
        return SuperRead::OldStore;
    }
    if b[..8] != MAGIC_SUPER {
        return SuperRead::Foreign;
    }
    if verify(b, block).is_none() {
        return SuperRead::Damaged;
    }
    let version = get_u32(b, 24);
    if version > VERSION {
        return SuperRead::Newer(version);
    }
    let s = Super {
        gen: get_u64(b, 16),
        blocks: get_u64(b, 32),
        root: get_u64(b, 40),
        next_oid: get_u64(b, 48),
        used: get_u64(b, 56),
        files: get_u64(b, 64),
    };
    if version != VERSION
        || s.blocks < crate::MIN_BLOCKS
        || s.root >= s.blocks
        || s.root < crate::FIRST_FREE
    {
        return SuperRead::Damaged;
    }
    SuperRead::Valid(s)
}

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

impl FileKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            FileKind::File => 1,
            FileKind::Dir => 2,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<FileKind> {
        match c {
            1 => Some(FileKind::File),
            2 => Some(FileKind::Dir),
            _ => None,
        }
    }
}

/// An inode item's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inode {
    /// File or directory.
    pub kind: FileKind,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Modification time, seconds (caller's clock).
    pub mtime_s: u64,
    /// Modification time, nanoseconds.
    pub mtime_ns: u32,
}

/// Encoded size of an inode item.
pub const INODE_LEN: usize = 32;

impl Inode {
    /// Encodes the item value.
    pub fn encode(&self) -> [u8; INODE_LEN] {
        let mut b = [0u8; INODE_LEN];
        b[0] = self.kind.code();
        put(&mut b, 8, &self.size.to_le_bytes());
        put(&mut b, 16, &self.mtime_s.to_le_bytes());
        put(&mut b, 24, &self.mtime_ns.to_le_bytes());
        b
    }

    /// Decodes an item value (`None`: malformed).
    pub fn decode(b: &[u8]) -> Option<Inode> {
        if b.len() != INODE_LEN {
            return None;
        }
        Some(Inode {
            kind: FileKind::from_code(b[0])?,
            size: get_u64(b, 8),
            mtime_s: get_u64(b, 16),
            mtime_ns: get_u32(b, 24),
        })
    }
}

/// A data item's value: the block and the CRC-32C of its 4096 bytes.
pub fn encode_data(block: u64, crc: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    put(&mut b, 0, &block.to_le_bytes());
    put(&mut b, 8, &crc.to_le_bytes());
    b
}

/// Decodes a data item's value.
pub fn decode_data(b: &[u8]) -> Option<(u64, u32)> {
    (b.len() == 12).then(|| (get_u64(b, 0), get_u32(b, 8)))
}

/// FNV-1a 64 of a name: the `off` of its directory entry item.
pub fn name_hash(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in name {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
