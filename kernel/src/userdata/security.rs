//! Verified boot's security record in the kernel's user-data blocks (format:
//! `bootslots::security`, two copies at [`abi::userdata::SECURITY_BLOCKS`]): the lowest
//! `security_epoch` this system still boots, the last key-ring update applied, and the key ids
//! revoked so far. The valid copy with the higher generation is the record; a write goes to
//! the other copy, so a power cut during a write leaves the previous record readable.

use loader::superblock::BLOCK_SIZE;

pub use bootslots::security::Record;

/// Region-relative blocks of the two copies.
pub const BLOCKS: [u64; 2] = abi::userdata::SECURITY_BLOCKS;

/// The record as read, and which copy a write replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub record: Record,
    /// The generation of the copy read (0 when none is valid).
    pub generation: u64,
    /// Index into [`BLOCKS`] of the copy a write replaces (the older or invalid one).
    pub write_to: usize,
    /// Whether a copy had the magic but did not decode (reported; the other was used).
    pub damaged: bool,
}

/// The record from the two copies; a fresh record (epoch 0, nothing revoked) when neither
/// is valid.
pub fn pick(copies: [&[u8; BLOCK_SIZE]; 2]) -> Stored {
    let damaged = copies
        .iter()
        .any(|c| c[..8] == bootslots::security::MAGIC && Record::decode(&c[..]).is_err());
    match bootslots::security::pick([&copies[0][..], &copies[1][..]]) {
        Some((record, generation, write_to)) => Stored {
            record,
            generation,
            write_to,
            damaged,
        },
        None => Stored {
            record: Record::default(),
            generation: 0,
            write_to: 0,
            damaged,
        },
    }
}

/// Encodes `record` with `generation` into a whole block.
pub fn encode(record: &Record, generation: u64, block: &mut [u8; BLOCK_SIZE]) {
    record.encode(generation, block);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_then_the_newer_copy_then_a_damaged_one() {
        let zero = [0u8; BLOCK_SIZE];
        let fresh = pick([&zero, &zero]);
        assert_eq!(
            (fresh.record.clone(), fresh.write_to, fresh.damaged),
            (Record::default(), 0, false)
        );
        let mut r = Record {
            min_epoch: 3,
            ..Record::default()
        };
        let mut a = [0u8; BLOCK_SIZE];
        encode(&r, 1, &mut a);
        r.min_epoch = 4;
        let mut b = [0u8; BLOCK_SIZE];
        encode(&r, 2, &mut b);
        let s = pick([&a, &b]);
        assert_eq!((s.record.min_epoch, s.generation, s.write_to), (4, 2, 0));
        b[100] ^= 1;
        let s = pick([&a, &b]);
        assert_eq!((s.record.min_epoch, s.write_to, s.damaged), (3, 1, true));
    }
}
