//! Verified boot's security record (`PGSECUR1`): the lowest `security_epoch` the system still
//! boots, the generation of the last key-ring update applied, and the key ids revoked so far.
//! Same two-copy frame as the other records ([`crate::block`]); the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 24 | 4 | minimum security epoch, u32 |
//! | 28 | 4 | generation of the last key-ring update applied, u32 (0: none) |
//! | 32 | 1 | revoked key ids: count, 0..=16 |
//! | 33 | 3 | reserved, zero |
//! | 36 | 16 × 32 | revoked key ids: 1..=32 bytes of `[a-z0-9_]`, zero-padded; unused slots zero |
//! | 548 | 4 | CRC-32C over bytes 0..548 |

use crate::block::{self, CopyError, BLOCK_SIZE};

/// The record's magic.
pub const MAGIC: [u8; 8] = *b"PGSECUR1";
/// The most revoked ids kept.
pub const MAX_REVOKED: usize = 16;
/// The longest key id.
pub const KEY_ID_LEN: usize = 32;
const IDS_AT: usize = 12;
const PAYLOAD_LEN: usize = IDS_AT + MAX_REVOKED * KEY_ID_LEN;

/// A key id as the record keeps it.
pub type KeyIdText = heapless::String<KEY_ID_LEN>;

/// What the system has committed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Images whose `security_epoch` is below this are refused.
    pub min_epoch: u32,
    /// The generation of the last key-ring update applied (0: none).
    pub ring_generation: u32,
    /// Key ids revoked by applied updates.
    pub revoked: heapless::Vec<KeyIdText, MAX_REVOKED>,
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

impl Record {
    /// Writes one copy with `generation` into `out` (the whole block).
    pub fn encode(&self, generation: u64, out: &mut [u8; BLOCK_SIZE]) {
        block::seal(out, &MAGIC, generation, PAYLOAD_LEN, |p| {
            p[0..4].copy_from_slice(&self.min_epoch.to_le_bytes());
            p[4..8].copy_from_slice(&self.ring_generation.to_le_bytes());
            p[8] = self.revoked.len() as u8;
            for (slot, id) in p[IDS_AT..].chunks_exact_mut(KEY_ID_LEN).zip(&self.revoked) {
                slot[..id.len()].copy_from_slice(id.as_bytes());
            }
        });
    }

    /// Reads one copy: the record and its generation; every field is checked.
    pub fn decode(copy: &[u8]) -> Result<(Self, u64), CopyError> {
        let (generation, p) = block::open(copy, &MAGIC, PAYLOAD_LEN)?;
        let at = |offset: usize| block::HEADER_LEN + offset;
        let count = usize::from(p[8]);
        if count > MAX_REVOKED {
            return Err(CopyError::BadField {
                offset: at(8),
                what: "revoked count",
            });
        }
        block::check_zero(p, 9, IDS_AT).map_err(|_| CopyError::NonZero { offset: at(9) })?;
        let mut record = Record {
            min_epoch: u32::from_le_bytes([p[0], p[1], p[2], p[3]]),
            ring_generation: u32::from_le_bytes([p[4], p[5], p[6], p[7]]),
            revoked: heapless::Vec::new(),
        };
        for (i, slot) in p[IDS_AT..].chunks_exact(KEY_ID_LEN).enumerate() {
            let len = slot.iter().position(|&b| b == 0).unwrap_or(KEY_ID_LEN);
            let bad = CopyError::BadField {
                offset: at(IDS_AT + i * KEY_ID_LEN),
                what: "revoked key id",
            };
            let used = i < count;
            if slot[len..].iter().any(|&b| b != 0) || used != (len > 0) {
                return Err(bad);
            }
            if used {
                if !slot[..len].iter().all(|&b| is_id_byte(b)) {
                    return Err(bad);
                }
                let text = core::str::from_utf8(&slot[..len]).map_err(|_| bad)?;
                let id = KeyIdText::try_from(text).map_err(|_| bad)?;
                let _ = record.revoked.push(id);
            }
        }
        Ok((record, generation))
    }
}

/// Reads both copies: the valid one with the highest generation, its generation, and the
/// index of the copy to overwrite next; `None` when neither is valid (a fresh region).
pub fn pick(copies: [&[u8]; 2]) -> Option<(Record, u64, usize)> {
    block::pick(copies, Record::decode).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: u32) -> Record {
        let mut r = Record {
            min_epoch: epoch,
            ring_generation: 2,
            revoked: heapless::Vec::new(),
        };
        r.revoked.push("system_key_v1".try_into().unwrap()).unwrap();
        r
    }

    fn copy(r: &Record, generation: u64) -> [u8; BLOCK_SIZE] {
        let mut b = [0u8; BLOCK_SIZE];
        r.encode(generation, &mut b);
        b
    }

    #[test]
    fn round_trip_and_the_newer_copy_wins() {
        let zero = [0u8; BLOCK_SIZE];
        assert_eq!(pick([&zero, &zero]), None);
        let a = copy(&record(3), 1);
        assert_eq!(pick([&a, &zero]), Some((record(3), 1, 1)));
        let b = copy(&record(4), 2);
        assert_eq!(pick([&a, &b]), Some((record(4), 2, 0)));
    }

    #[test]
    fn a_torn_or_damaged_copy_leaves_the_previous_record() {
        let a = copy(&record(3), 1);
        let mut b = copy(&record(4), 2);
        b[300..].fill(0);
        assert_eq!(pick([&a, &b]).map(|p| p.0.min_epoch), Some(3));
        for at in [0, 9, 17, 25, 33, 40, 548] {
            let mut c = copy(&record(5), 3);
            c[at] ^= 1;
            assert_eq!(pick([&a, &c]).map(|p| p.0.min_epoch), Some(3), "byte {at}");
        }
    }

    #[test]
    fn bad_fields_are_refused_even_with_a_good_checksum() {
        let reseal = |edit: &dyn Fn(&mut [u8])| {
            let mut b = copy(&record(1), 1);
            edit(&mut b[block::HEADER_LEN..block::HEADER_LEN + PAYLOAD_LEN]);
            let end = block::HEADER_LEN + PAYLOAD_LEN;
            let sum = block::crc32c(&b[..end]);
            b[end..end + 4].copy_from_slice(&sum.to_le_bytes());
            Record::decode(&b)
        };
        assert!(reseal(&|p| p[8] = 17).is_err());
        assert!(reseal(&|p| p[8] = 2).is_err());
        assert!(reseal(&|p| p[IDS_AT] = b'A').is_err());
        assert!(reseal(&|p| p[IDS_AT + 20] = b'x').is_err());
        assert!(reseal(&|p| p[10] = 1).is_err());
        assert!(reseal(&|_| {}).is_ok());
    }
}
