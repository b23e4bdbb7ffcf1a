//! The two-copy block frame shared by the slot metadata, the boot journal and the security record.
//!
//! Each record is kept in two 4096-byte blocks (copy 0 and copy 1) with the same frame:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic (`PGSLOTS1`, `PGBOOTJ1`) |
//! | 8 | 4 | version, u32 little-endian, [`VERSION`] |
//! | 12 | 4 | reserved, zero |
//! | 16 | 8 | generation, u64 little-endian |
//! | 24 | n | the record's payload (its length is fixed per magic) |
//! | 24 + n | 4 | CRC-32C (Castagnoli), u32 little-endian, over bytes `0 .. 24 + n` |
//! | 28 + n | rest | zero to the end of the block |
//!
//! A reader takes the valid copy with the highest generation (`pick`, e.g. [`crate::meta::pick`]); a writer overwrites
//! the *other* copy with the next generation. A power cut during a write can only damage the
//! copy being written, and the copy read last stays valid, so a valid record always survives.
use core::fmt;

/// The size of one copy, in bytes.
pub const BLOCK_SIZE: usize = 4096;
/// The frame's header length (magic, version, reserved, generation).
pub const HEADER_LEN: usize = 24;
/// The checksum's length.
pub const CHECKSUM_LEN: usize = 4;
/// The only frame version this build reads and writes.
pub const VERSION: u32 = 1;
/// The generation to write when no copy is valid (then write copy 0).
pub const FIRST_GENERATION: u64 = 1;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// The CRC-32C of `data` (`crc32c(b"123456789") == 0xE306_9283`).
pub fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// The generation to write after reading `generation`.
///
/// Saturates at `u64::MAX` (2^64 writes are out of reach; a saturated pair reads copy 0).
pub const fn next_generation(generation: u64) -> u64 {
    generation.saturating_add(1)
}

/// Why one copy is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    /// The buffer is not [`BLOCK_SIZE`] bytes long.
    WrongLength {
        /// Its length.
        len: usize,
    },
    /// The first 8 bytes are not the record's magic (never written, or another record).
    BadMagic,
    /// A version this build does not read.
    UnsupportedVersion {
        /// The stored version.
        version: u32,
    },
    /// The checksum does not match: a torn or corrupted write.
    BadChecksum {
        /// The stored checksum.
        stored: u32,
        /// The checksum of the stored bytes.
        computed: u32,
    },
    /// A reserved byte or a byte after the checksum is not zero.
    NonZero {
        /// Its offset in the block.
        offset: usize,
    },
    /// A field holds a value outside its range.
    BadField {
        /// The field's offset in the block.
        offset: usize,
        /// What the field is.
        what: &'static str,
    },
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::WrongLength { len } => {
                write!(f, "block is {len} bytes, read exactly {BLOCK_SIZE}")
            }
            Self::BadMagic => f.write_str("wrong magic (never written, or not this record)"),
            Self::UnsupportedVersion { version } => {
                write!(
                    f,
                    "version {version} is not supported (this build reads {VERSION})"
                )
            }
            Self::BadChecksum { stored, computed } => write!(
                f,
                "checksum {stored:#010x} != {computed:#010x} (torn or corrupted write)"
            ),
            Self::NonZero { offset } => write!(f, "byte {offset} must be zero"),
            Self::BadField { offset, what } => write!(f, "invalid {what} at byte {offset}"),
        }
    }
}

/// Checks the frame of one copy and returns its generation and payload.
pub fn open<'a>(
    block: &'a [u8],
    magic: &[u8; 8],
    payload_len: usize,
) -> Result<(u64, &'a [u8]), CopyError> {
    if block.len() != BLOCK_SIZE {
        return Err(CopyError::WrongLength { len: block.len() });
    }
    if block[..8] != magic[..] {
        return Err(CopyError::BadMagic);
    }
    let version = u32::from_le_bytes([block[8], block[9], block[10], block[11]]);
    if version != VERSION {
        return Err(CopyError::UnsupportedVersion { version });
    }
    let end = HEADER_LEN + payload_len;
    let mut stored = [0; CHECKSUM_LEN];
    stored.copy_from_slice(&block[end..end + CHECKSUM_LEN]);
    let stored = u32::from_le_bytes(stored);
    let computed = crc32c(&block[..end]);
    if stored != computed {
        return Err(CopyError::BadChecksum { stored, computed });
    }
    check_zero(block, 12, 16)?;
    check_zero(block, end + CHECKSUM_LEN, BLOCK_SIZE)?;
    let mut generation = [0; 8];
    generation.copy_from_slice(&block[16..24]);
    Ok((u64::from_le_bytes(generation), &block[HEADER_LEN..end]))
}

/// Fails with the first non-zero byte of `block[start..end]`.
pub fn check_zero(block: &[u8], start: usize, end: usize) -> Result<(), CopyError> {
    match block[start..end].iter().position(|&b| b != 0) {
        Some(i) => Err(CopyError::NonZero { offset: start + i }),
        None => Ok(()),
    }
}

/// Writes a whole copy: the frame around a payload that `fill` writes (into zeroed bytes).
pub fn seal(
    out: &mut [u8; BLOCK_SIZE],
    magic: &[u8; 8],
    generation: u64,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]),
) {
    out.fill(0);
    out[..8].copy_from_slice(magic);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&generation.to_le_bytes());
    let end = HEADER_LEN + payload_len;
    fill(&mut out[HEADER_LEN..end]);
    let checksum = crc32c(&out[..end]);
    out[end..end + CHECKSUM_LEN].copy_from_slice(&checksum.to_le_bytes());
}

/// Picks the valid copy with the highest generation (copy 0 on a tie).
///
/// Returns the decoded record, its generation and the index of the copy to overwrite next
/// (always the other one), or why each copy is invalid.
pub fn pick<T>(
    copies: [&[u8]; 2],
    decode: impl Fn(&[u8]) -> Result<(T, u64), CopyError>,
) -> Result<(T, u64, usize), [CopyError; 2]> {
    match (decode(copies[0]), decode(copies[1])) {
        (Ok((a, ga)), Ok((b, gb))) => Ok(if gb > ga { (b, gb, 0) } else { (a, ga, 1) }),
        (Ok((a, ga)), Err(_)) => Ok((a, ga, 1)),
        (Err(_), Ok((b, gb))) => Ok((b, gb, 0)),
        (Err(e0), Err(e1)) => Err([e0, e1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAGIC: [u8; 8] = *b"PGTESTS1";

    fn sealed(generation: u64, byte: u8) -> [u8; BLOCK_SIZE] {
        let mut out = [0xAA; BLOCK_SIZE];
        seal(&mut out, &MAGIC, generation, 3, |p| p.fill(byte));
        out
    }

    fn decode(block: &[u8]) -> Result<(u8, u64), CopyError> {
        open(block, &MAGIC, 3).map(|(g, p)| (p[0], g))
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn frame_round_trips_and_checks_every_byte() {
        let block = sealed(7, 9);
        assert_eq!(decode(&block), Ok((9, 7)));
        for i in 0..BLOCK_SIZE {
            let mut bad = block;
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_err(), "flip at {i} accepted");
        }
        assert_eq!(
            decode(&block[..100]),
            Err(CopyError::WrongLength { len: 100 })
        );
    }

    #[test]
    fn pick_takes_highest_valid_generation_and_writes_the_other() {
        let (old, new) = (sealed(4, 1), sealed(5, 2));
        assert_eq!(pick([&old, &new], decode), Ok((2, 5, 0)));
        assert_eq!(pick([&new, &old], decode), Ok((2, 5, 1)));
        assert_eq!(pick([&old, &old], decode), Ok((1, 4, 1)));
        let torn = [0u8; BLOCK_SIZE];
        assert_eq!(pick([&torn, &old], decode), Ok((1, 4, 0)));
        assert_eq!(pick([&old, &torn], decode), Ok((1, 4, 1)));
        assert!(pick([&torn, &torn], decode).is_err());
    }

    #[test]
    fn a_cut_at_any_byte_of_a_write_leaves_a_valid_copy() {
        let (read, overwritten) = (sealed(8, 1), sealed(7, 0));
        let next = sealed(9, 2);
        for cut in 0..=BLOCK_SIZE {
            let mut torn = overwritten;
            torn[..cut].copy_from_slice(&next[..cut]);
            let (value, generation, _) = pick([&read, &torn], decode).expect("a copy survives");
            assert!((value, generation) == (1, 8) || (value, generation) == (2, 9));
        }
    }

    #[test]
    fn next_generation_saturates() {
        assert_eq!(next_generation(1), 2);
        assert_eq!(next_generation(u64::MAX), u64::MAX);
    }
}
