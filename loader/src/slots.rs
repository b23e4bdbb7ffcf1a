//! Block 0's slot table: where slot B's image lies in a two-slot image (bytes 224..280).
//!
//! All zero: a one-slot image (the spec's layout, nothing more). Otherwise
//! (`docs/image-format.md`, "A/B slots"):
//!
//! | bytes    | field                                                        |
//! |----------|--------------------------------------------------------------|
//! | 224..232 | magic `PGSLOTB1`                                             |
//! | 232..240 | slot B's first block (u64): its own block 0                  |
//! | 240..248 | slot B's room in blocks (u64): its block 0 to its end, at least its last binary |
//! | 248..280 | SHA-256 of bytes 224..248                                    |
//!
//! Slot B is a whole image read through a window that starts at its first block: its block 0
//! is a superblock whose block numbers count from there, whose data region is the disk's
//! (so both slots share the user data) and which has no ESP. [`window_superblock`] derives it.

use core::fmt;

use sha2::{Digest, Sha256};

use crate::superblock::Superblock;

/// First byte of the slot table in block 0.
pub const RECORD_AT: usize = crate::signature::RECORD_END;
/// Bytes covered by the table's own checksum.
const SUMMED: usize = 24;
/// One past the table's last byte.
pub const RECORD_END: usize = RECORD_AT + SUMMED + 32;
/// The table's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"PGSLOTB1";

/// Where slot B lies, in blocks of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SlotTable {
    /// Slot B's block 0.
    pub b_start: u64,
    /// Slot B's room: blocks from its block 0 to its end (at least to its last binary;
    /// an update may grow the system up to it).
    pub b_blocks: u64,
}

/// Why bytes 224..280 are not a slot table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Neither zero nor a table: this byte is not.
    NotATable {
        /// Offset in block 0.
        offset: usize,
    },
    /// The magic is there but the checksum at 248..280 does not match.
    Checksum,
    /// Slot B does not lie between slot A's manifest and its ESP (or data region).
    Outside {
        /// Slot B's first block.
        start: u64,
        /// One past its last.
        end: u64,
        /// Slot A's manifest end.
        room_start: u64,
        /// Slot A's ESP start (or data start).
        room_end: u64,
    },
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotATable { offset } => write!(f, "byte {offset} is not zero and bytes 224..232 are not PGSLOTB1"),
            Self::Checksum => f.write_str("its SHA-256 at bytes 248..280 does not match bytes 224..248"),
            Self::Outside { start, end, room_start, room_end } => write!(
                f,
                "slot B (blocks {start}..{end}) does not lie in blocks {room_start}..{room_end}, between slot A's manifest and its boot partition"
            ),
        }
    }
}

impl SlotTable {
    /// Reads bytes 224..280 of `block0` (at least 280 bytes long); `None` when all zero.
    ///
    /// # Errors
    /// [`TableError::NotATable`], [`TableError::Checksum`].
    pub fn decode(block0: &[u8]) -> Result<Option<Self>, TableError> {
        let Some(b) = block0.get(RECORD_AT..RECORD_END) else {
            return Err(TableError::NotATable {
                offset: block0.len(),
            });
        };
        if b.iter().all(|&x| x == 0) {
            return Ok(None);
        }
        if b[..8] != MAGIC {
            let first = b.iter().position(|&x| x != 0).unwrap_or(0);
            return Err(TableError::NotATable {
                offset: RECORD_AT + first,
            });
        }
        let sum: [u8; 32] = Sha256::digest(&b[..SUMMED]).into();
        if b[SUMMED..] != sum {
            return Err(TableError::Checksum);
        }
        let u64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(x)
        };
        Ok(Some(Self {
            b_start: u64_at(8),
            b_blocks: u64_at(16),
        }))
    }

    /// Writes the table into bytes 224..280 of `block0`.
    pub fn write_to(&self, block0: &mut [u8]) {
        let b = &mut block0[RECORD_AT..RECORD_END];
        b[..8].copy_from_slice(&MAGIC);
        b[8..16].copy_from_slice(&self.b_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.b_blocks.to_le_bytes());
        let sum: [u8; 32] = Sha256::digest(&b[..SUMMED]).into();
        b[SUMMED..].copy_from_slice(&sum);
    }

    /// One past slot B's last block (saturating).
    pub fn b_end(&self) -> u64 {
        self.b_start.saturating_add(self.b_blocks)
    }

    /// Checks that slot B lies after slot A's manifest and before its ESP (or data region),
    /// and is at least two blocks (a block 0 and a kernel).
    ///
    /// # Errors
    /// [`TableError::Outside`].
    pub fn check_within(&self, a: &Superblock) -> Result<(), TableError> {
        let room_start = a.manifest_end().unwrap_or(u64::MAX);
        let room_end = a.binaries_end();
        if self.b_start < room_start || self.b_end() > room_end || self.b_blocks < 2 {
            return Err(TableError::Outside {
                start: self.b_start,
                end: self.b_end(),
                room_start,
                room_end,
            });
        }
        Ok(())
    }
}

/// The superblock fields slot B's block 0 must carry, given its own image (`b`: kernel,
/// manifest and binaries counted from its block 0) and the disk's block 0 (`disk`): the disk's
/// data region seen from B's window, and no ESP. `None` when B would start past the data.
pub fn window_superblock(
    b: &Superblock,
    disk: &Superblock,
    table: &SlotTable,
) -> Option<Superblock> {
    Some(Superblock {
        data_start: disk.data_start.checked_sub(table.b_start)?,
        total_blocks: disk.total_blocks.checked_sub(table.b_start)?,
        esp_start: 0,
        esp_blocks: 0,
        slots: None,
        ..*b
    })
}

/// The user-data region of a module image (the system image as a boot module): 256 blocks
/// (1 MiB). It is not in the module file: the kernel (and `verify`) add it as zero blocks.
pub const MODULE_DATA_BLOCKS: u64 = 256;

/// The block 0 of the module image made from a slot whose block 0 is `sb` and whose bytes
/// (block 0 to the end of its last binary) are `used` blocks: the same slot fields, no ESP, no
/// slot table, a [`MODULE_DATA_BLOCKS`] data region right after the last binary.
pub fn module_superblock(sb: &Superblock, used: u64) -> Superblock {
    Superblock {
        esp_start: 0,
        esp_blocks: 0,
        data_start: used,
        total_blocks: used.saturating_add(MODULE_DATA_BLOCKS),
        slots: None,
        ..*sb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_with(t: &SlotTable) -> [u8; 4096] {
        let mut b = [0u8; 4096];
        t.write_to(&mut b);
        b
    }

    #[test]
    fn round_trip_and_zero() {
        let t = SlotTable {
            b_start: 300,
            b_blocks: 120,
        };
        assert_eq!(SlotTable::decode(&block_with(&t)), Ok(Some(t)));
        assert_eq!(SlotTable::decode(&[0u8; 4096]), Ok(None));
    }

    #[test]
    fn damage_is_named() {
        let t = SlotTable {
            b_start: 300,
            b_blocks: 120,
        };
        let mut b = block_with(&t);
        b[235] ^= 1;
        assert_eq!(SlotTable::decode(&b), Err(TableError::Checksum));
        let mut b = [0u8; 4096];
        b[250] = 7;
        assert_eq!(
            SlotTable::decode(&b),
            Err(TableError::NotATable { offset: 250 })
        );
    }

    #[test]
    fn slot_b_must_lie_between_manifest_and_esp() {
        let a = Superblock {
            kernel_start: 1,
            kernel_blocks: 10,
            manifest_start: 11,
            manifest_bytes: 100,
            esp_start: 512,
            esp_blocks: 256,
            data_start: 768,
            total_blocks: 1024,
            ..Superblock::default()
        };
        assert!(SlotTable {
            b_start: 100,
            b_blocks: 412
        }
        .check_within(&a)
        .is_ok());
        assert!(SlotTable {
            b_start: 100,
            b_blocks: 413
        }
        .check_within(&a)
        .is_err());
        assert!(SlotTable {
            b_start: 11,
            b_blocks: 5
        }
        .check_within(&a)
        .is_err());
        assert!(SlotTable {
            b_start: 100,
            b_blocks: 1
        }
        .check_within(&a)
        .is_err());
        let b = window_superblock(
            &a,
            &a,
            &SlotTable {
                b_start: 100,
                b_blocks: 50,
            },
        )
        .unwrap();
        assert_eq!(
            (b.data_start, b.total_blocks, b.esp_start, b.esp_blocks),
            (668, 924, 0, 0)
        );
    }
}
