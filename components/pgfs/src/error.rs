//! `Error`: every way a pgfs operation or mount fails, each naming the block or item at fault.

use core::fmt;

/// What a damaged block was expected to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A superblock (one of the two roots).
    Superblock,
    /// A B-tree node (directory entries, inodes, block maps).
    TreeNode,
    /// A free-space bitmap block.
    Bitmap,
    /// A file data block.
    Data,
}

impl fmt::Display for BlockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Superblock => "superblock",
            Self::TreeNode => "tree node",
            Self::Bitmap => "bitmap block",
            Self::Data => "data block",
        })
    }
}

/// Why a pgfs operation failed. `Display` prints one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The device failed to read, write or flush `block` (`u64::MAX`: a flush).
    Io {
        /// The block at fault.
        block: u64,
    },
    /// `block` failed its checksum or is not the block it should be.
    Damaged {
        /// The block at fault.
        block: u64,
        /// What it should hold.
        kind: BlockKind,
    },
    /// A data block of file `inode` failed its checksum.
    DataDamaged {
        /// The file's inode number.
        inode: u64,
        /// The damaged block.
        block: u64,
    },
    /// Neither block 32 nor 33 holds a pgfs superblock, and both are zero: no filesystem yet.
    NotFormatted,
    /// Block 32 holds a damaged superblock and block 33 is zero: the first commit (`format`)
    /// was cut; `format` may be run again.
    UnfinishedFormat,
    /// Block 32 holds the milestone-1 record store (`PGSTORE1`): convert it, do not format.
    OldStore,
    /// Blocks 32/33 hold something that is neither pgfs, the old store nor zeros.
    Unrecognized,
    /// A superblock has a newer format `version` than this code reads; nothing was written.
    NewerVersion {
        /// The version found.
        found: u32,
    },
    /// Both roots are damaged (the first error is the newer root's).
    NoValidRoot {
        /// Why the newer root was rejected.
        newest: BlockKind,
        /// Its block.
        block: u64,
    },
    /// The region is too small for pgfs (fewer than [`crate::MIN_BLOCKS`] blocks).
    TooSmall {
        /// Its size in blocks.
        blocks: u64,
    },
    /// A path is not absolute, has an empty, `.` or `..` component, or a NUL byte.
    InvalidPath,
    /// A name is longer than [`crate::MAX_NAME`] bytes.
    NameTooLong,
    /// No such file or directory.
    NotFound,
    /// An item of inode `oid` (0: the filesystem's own) is missing or malformed.
    BadItem {
        /// The inode whose item is bad.
        oid: u64,
    },
    /// The name already exists (for `format`: blocks 32/33 are not zero).
    Exists,
    /// A path component (or the target of a directory operation) is not a directory.
    NotDir,
    /// The operation needs a file and the path is a directory.
    IsDir,
    /// `rmdir` of a directory that still has entries.
    NotEmpty,
    /// An offset or size beyond the largest file pgfs addresses.
    TooLarge,
    /// No free block left (blocks freed since the last `sync` become free after it).
    NoSpace,
    /// Too many names of one directory share a 64-bit name hash.
    HashCollision,
    /// A commit failed after its superblock write began: remount before going on.
    NeedsRemount,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { block: u64::MAX } => write!(f, "I/O error flushing the device"),
            Self::Io { block } => write!(f, "I/O error on block {block}"),
            Self::Damaged { block, kind } => write!(
                f,
                "damaged {kind} at block {block} (checksum or identity mismatch)"
            ),
            Self::DataDamaged { inode, block } => write!(
                f,
                "file inode {inode}: data block {block} fails its checksum"
            ),
            Self::NotFormatted => write!(f, "no pgfs filesystem (blocks 32 and 33 are zero)"),
            Self::UnfinishedFormat => write!(
                f,
                "the first format was interrupted (block 32 torn, 33 zero); format again"
            ),
            Self::OldStore => write!(
                f,
                "block 32 holds the old record store (PGSTORE1); it must be converted"
            ),
            Self::Unrecognized => write!(
                f,
                "blocks 32/33 hold an unknown format; refusing to touch them"
            ),
            Self::NewerVersion { found } => write!(
                f,
                "pgfs format version {found} is newer than {}; refused, nothing written",
                crate::VERSION
            ),
            Self::NoValidRoot { newest, block } => write!(
                f,
                "no valid root: both superblocks damaged (newest: {newest} at block {block})"
            ),
            Self::TooSmall { blocks } => write!(
                f,
                "region of {blocks} blocks is too small (need {})",
                crate::MIN_BLOCKS
            ),
            Self::InvalidPath => write!(
                f,
                "invalid path (must be absolute, no empty, '.' or '..' components)"
            ),
            Self::NameTooLong => write!(f, "name longer than {} bytes", crate::MAX_NAME),
            Self::NotFound => write!(f, "no such file or directory"),
            Self::BadItem { oid } => write!(f, "metadata of inode {oid} is missing or malformed"),
            Self::Exists => write!(f, "already exists"),
            Self::NotDir => write!(f, "not a directory"),
            Self::IsDir => write!(f, "is a directory"),
            Self::NotEmpty => write!(f, "directory not empty"),
            Self::TooLarge => write!(f, "offset or size too large"),
            Self::NoSpace => write!(
                f,
                "no space left (blocks freed since the last sync are free after it)"
            ),
            Self::HashCollision => {
                write!(f, "too many names in this directory share one name hash")
            }
            Self::NeedsRemount => {
                write!(f, "a commit failed while writing its superblock; remount")
            }
        }
    }
}

impl From<crate::IoError> for Error {
    fn from(e: crate::IoError) -> Self {
        Error::Io { block: e.block }
    }
}
