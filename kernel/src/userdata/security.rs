//! Verified boot's security record in the kernel's user-data blocks: the lowest
//! `security_epoch` this system still boots, the last key-ring update applied, and the key ids
//! revoked so far. Two copies ([`abi::userdata::SECURITY_BLOCKS`]), each with a generation and
//! a SHA-256: the valid copy with the higher generation is the record; a write goes to the
//! other copy, so a power cut during a write leaves the previous record readable.
//!
//! | bytes    | field                                                |
//! |----------|------------------------------------------------------|
//! | 0..8     | magic `PGSECUR1`                                     |
//! | 8..16    | generation (u64)                                     |
//! | 16..20   | minimum security epoch (u32)                         |
//! | 20..24   | generation of the last key-ring update applied (u32) |
//! | 24       | revoked key ids, count (0..=16)                      |
//! | 25..537  | 16 × 32 bytes: revoked key ids, zero-padded          |
//! | 537..569 | SHA-256 of bytes 0..537                              |
//! | 569..4096 | zero                                                |

use alloc::vec::Vec;

use loader::sha256::Sha256Digest;
use loader::superblock::BLOCK_SIZE;
use signing::ring::MAX_REVOKED;
use signing::KeyId;

/// Record magic.
pub const MAGIC: [u8; 8] = *b"PGSECUR1";
/// Region-relative blocks of the two copies.
pub const BLOCKS: [u64; 2] = abi::userdata::SECURITY_BLOCKS;
const ID_LEN: usize = 32;
const IDS_AT: usize = 25;
const SUM_AT: usize = IDS_AT + MAX_REVOKED * ID_LEN;
const _: () = assert!(SUM_AT + 32 <= BLOCK_SIZE);

/// What the system has committed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Images whose `security_epoch` is below this are refused (`ROLLBACK`).
    pub min_epoch: u32,
    /// The generation of the last key-ring update applied (0: none).
    pub ring_generation: u32,
    /// Key ids revoked by applied updates (they stay revoked whatever an image carries); at
    /// most [`MAX_REVOKED`] are stored.
    pub revoked: Vec<KeyId>,
}

/// The record as read: which copy to overwrite next, and whether both copies were damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub record: Record,
    /// The generation of the copy read (0 when none is valid).
    pub generation: u64,
    /// Index into [`BLOCKS`] of the copy a write replaces (the older or invalid one).
    pub write_to: usize,
    /// Whether a copy had the magic but not a valid checksum (reported; the other was used).
    pub damaged: bool,
}

fn decode(block: &[u8; BLOCK_SIZE]) -> Option<(u64, Record)> {
    if block[..8] != MAGIC || block[SUM_AT..SUM_AT + 32] != Sha256Digest::of(&block[..SUM_AT]).0 {
        return None;
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
    let mut generation = [0u8; 8];
    generation.copy_from_slice(&block[8..16]);
    let mut record = Record {
        min_epoch: u32_at(16),
        ring_generation: u32_at(20),
        revoked: Vec::new(),
    };
    let count = usize::from(block[24]).min(MAX_REVOKED);
    for raw in block[IDS_AT..SUM_AT].chunks_exact(ID_LEN).take(count) {
        let len = raw.iter().position(|&b| b == 0).unwrap_or(ID_LEN);
        let id = KeyId::from_bytes(&raw[..len]).ok()?;
        record.revoked.push(id);
    }
    Some((u64::from_le_bytes(generation), record))
}

/// Encodes `record` with `generation` into a whole block.
pub fn encode(record: &Record, generation: u64, block: &mut [u8; BLOCK_SIZE]) {
    block.fill(0);
    block[..8].copy_from_slice(&MAGIC);
    block[8..16].copy_from_slice(&generation.to_le_bytes());
    block[16..20].copy_from_slice(&record.min_epoch.to_le_bytes());
    block[20..24].copy_from_slice(&record.ring_generation.to_le_bytes());
    let kept = record.revoked.len().min(MAX_REVOKED);
    block[24] = kept as u8;
    for (slot, id) in block[IDS_AT..SUM_AT]
        .chunks_exact_mut(ID_LEN)
        .zip(&record.revoked[..kept])
    {
        slot[..id.as_bytes().len()].copy_from_slice(id.as_bytes());
    }
    let sum = Sha256Digest::of(&block[..SUM_AT]).0;
    block[SUM_AT..SUM_AT + 32].copy_from_slice(&sum);
}

/// The record from the two copies (blocks [`BLOCKS`]`[0]` and `[1]`).
pub fn pick(copies: [&[u8; BLOCK_SIZE]; 2]) -> Stored {
    let decoded = copies.map(decode);
    let damaged = copies
        .iter()
        .zip(&decoded)
        .any(|(c, d)| c[..8] == MAGIC && d.is_none());
    let newest = match (&decoded[0], &decoded[1]) {
        (Some(a), Some(b)) if b.0 > a.0 => 1,
        (Some(_), _) => 0,
        (None, Some(_)) => 1,
        (None, None) => {
            return Stored {
                record: Record::default(),
                generation: 0,
                write_to: 0,
                damaged,
            }
        }
    };
    let (generation, record) = decoded[newest].clone().unwrap_or_default();
    Stored {
        record,
        generation,
        write_to: 1 - newest,
        damaged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(record: &Record, generation: u64) -> [u8; BLOCK_SIZE] {
        let mut b = [0u8; BLOCK_SIZE];
        encode(record, generation, &mut b);
        b
    }

    fn record(epoch: u32) -> Record {
        let mut r = Record {
            min_epoch: epoch,
            ring_generation: 2,
            revoked: Vec::new(),
        };
        r.revoked.push(KeyId::new("system_key_v1").unwrap());
        r
    }

    #[test]
    fn fresh_then_round_trip_then_newer_copy_wins() {
        let zero = [0u8; BLOCK_SIZE];
        let fresh = pick([&zero, &zero]);
        assert_eq!(
            (fresh.record.clone(), fresh.write_to, fresh.damaged),
            (Record::default(), 0, false)
        );
        let a = block(&record(3), 1);
        let s = pick([&a, &zero]);
        assert_eq!(
            (s.record.clone(), s.generation, s.write_to),
            (record(3), 1, 1)
        );
        let b = block(&record(4), 2);
        let s = pick([&a, &b]);
        assert_eq!((s.record.min_epoch, s.generation, s.write_to), (4, 2, 0));
        assert_eq!(s.record.revoked[0].as_str(), "system_key_v1");
    }

    #[test]
    fn a_torn_write_leaves_the_previous_record() {
        let a = block(&record(3), 1);
        let mut b = block(&record(4), 2);
        // The write of copy 1 was cut half-way: its second half is still the old bytes.
        b[300..].fill(0);
        let s = pick([&a, &b]);
        assert_eq!((s.record.min_epoch, s.write_to, s.damaged), (3, 1, true));
        // Any flipped byte of a copy makes it invalid.
        for at in [0, 9, 17, 30, SUM_AT] {
            let mut c = block(&record(5), 3);
            c[at] ^= 1;
            assert_eq!(pick([&a, &c]).record.min_epoch, 3, "byte {at}");
        }
    }
}
