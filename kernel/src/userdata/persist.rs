//! The persistence test record (`test=persist`): a generation number and a pattern derived
//! from it, written and flushed at one boot and checked at the next.

use loader::superblock::BLOCK_SIZE;

/// Record magic (bytes 0..8).
pub const MAGIC: [u8; 8] = *b"PGPERSIS";
/// Region-relative block of the record ([`abi::userdata`]).
pub const BLOCK: u64 = abi::userdata::PERSIST_FIRST_BLOCK;
/// Blocks of pattern after the record block, so the test covers a multi-block write.
pub const PATTERN_BLOCKS: u64 = abi::userdata::PERSIST_BLOCKS - 1;

/// What the record blocks held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// No record: nothing was written before.
    Nothing,
    /// Generation `n`, every pattern byte intact.
    Intact(u64),
    /// Generation `n`, but the pattern differs at byte `offset` of the record.
    Corrupt { generation: u64, offset: usize },
}

fn pattern_byte(generation: u64, offset: usize) -> u8 {
    let x = (offset as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ generation.wrapping_mul(0xff51_afd7_ed55_8ccd);
    (x >> 56) as u8
}

/// Fills `buf` (the record block followed by the pattern blocks) for `generation`.
pub fn encode(generation: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(generation, i);
    }
    buf[..8].copy_from_slice(&MAGIC);
    buf[8..16].copy_from_slice(&generation.to_le_bytes());
}

/// Checks `buf` (as [`encode`] fills it).
pub fn check(buf: &[u8]) -> Found {
    if buf.len() < 16 || buf[..8] != MAGIC {
        return Found::Nothing;
    }
    let mut g = [0u8; 8];
    g.copy_from_slice(&buf[8..16]);
    let generation = u64::from_le_bytes(g);
    match buf
        .iter()
        .enumerate()
        .skip(16)
        .find(|(i, b)| **b != pattern_byte(generation, *i))
    {
        Some((offset, _)) => Found::Corrupt { generation, offset },
        None => Found::Intact(generation),
    }
}

/// Size of the record plus pattern, in bytes.
pub const BYTES: usize = (1 + PATTERN_BLOCKS as usize) * BLOCK_SIZE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut buf = alloc::vec![0u8; BYTES];
        assert_eq!(check(&buf), Found::Nothing);
        encode(3, &mut buf);
        assert_eq!(check(&buf), Found::Intact(3));
        buf[BYTES - 1] ^= 0x40;
        assert_eq!(
            check(&buf),
            Found::Corrupt {
                generation: 3,
                offset: BYTES - 1
            }
        );
    }

    #[test]
    fn generations_have_different_patterns() {
        let mut a = alloc::vec![0u8; BYTES];
        let mut b = alloc::vec![0u8; BYTES];
        encode(1, &mut a);
        encode(2, &mut b);
        assert_ne!(a[16..], b[16..]);
    }
}
