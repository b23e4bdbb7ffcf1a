//! The boot counter: a small checksummed record in the first block of the user-data region,
//! incremented at every boot so a user sees persistence in the banner.

use loader::sha256::Sha256Digest;
use loader::superblock::BLOCK_SIZE;

/// Record magic (bytes 0..8 of the block).
pub const MAGIC: [u8; 8] = *b"PGBOOTC1";
/// Region-relative block that holds the counter.
pub const BLOCK: u64 = abi::userdata::BOOT_COUNTER_BLOCK;

/// What the counter block held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// No record yet (a fresh region): the first boot.
    Fresh,
    /// A valid record.
    Count(u64),
    /// A record whose checksum does not match: damaged (reported, then restarted from 0).
    Damaged,
}

fn checksum(block: &[u8]) -> [u8; 32] {
    Sha256Digest::of(&block[..16]).0
}

/// Decodes the counter block.
pub fn decode(block: &[u8; BLOCK_SIZE]) -> Stored {
    if block[..8] != MAGIC {
        return Stored::Fresh;
    }
    if block[16..48] != checksum(block) {
        return Stored::Damaged;
    }
    let mut count = [0u8; 8];
    count.copy_from_slice(&block[8..16]);
    Stored::Count(u64::from_le_bytes(count))
}

/// Encodes `count` into a whole block.
pub fn encode(count: u64, block: &mut [u8; BLOCK_SIZE]) {
    block.fill(0);
    block[..8].copy_from_slice(&MAGIC);
    block[8..16].copy_from_slice(&count.to_le_bytes());
    let sum = checksum(block);
    block[16..48].copy_from_slice(&sum);
}

/// The count for this boot, given what was stored.
pub fn next(stored: Stored) -> u64 {
    match stored {
        Stored::Count(n) => n.saturating_add(1),
        Stored::Fresh | Stored::Damaged => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_increment() {
        let mut block = [0u8; BLOCK_SIZE];
        assert_eq!(decode(&block), Stored::Fresh);
        assert_eq!(next(decode(&block)), 1);
        encode(41, &mut block);
        assert_eq!(decode(&block), Stored::Count(41));
        assert_eq!(next(decode(&block)), 42);
    }

    #[test]
    fn a_flipped_byte_is_damage_not_a_count() {
        let mut block = [0u8; BLOCK_SIZE];
        encode(7, &mut block);
        block[9] ^= 1;
        assert_eq!(decode(&block), Stored::Damaged);
        assert_eq!(next(Stored::Damaged), 1);
    }
}
