//! BLAKE2b-512 pinning of files named in limine.conf (`path#<128 hex digits>`).

use blake2::{Blake2b512, Digest};
use core::fmt;

/// Returns the BLAKE2b-512 digest of `data` (the hash Limine uses for `#` pins).
pub fn blake2b512(data: &[u8]) -> [u8; 64] {
    Blake2b512::digest(data).into()
}

/// BLAKE2b-512 over data given in pieces (a file streamed from a disk): the same digest as
/// [`blake2b512`] of the pieces joined.
#[derive(Clone, Debug, Default)]
pub struct Hasher(Blake2b512);

impl Hasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes the next piece.
    pub fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    /// The digest of every piece given, in order.
    pub fn finish(self) -> [u8; 64] {
        self.0.finalize().into()
    }
}

/// A file's digest differs from the one pinned in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashMismatch {
    /// The digest written in the configuration.
    pub expected: [u8; 64],
    /// The digest of the bytes actually read.
    pub actual: [u8; 64],
}

impl fmt::Display for HashMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BLAKE2b-512 mismatch: expected {}, got {}",
            Hex(&self.expected),
            Hex(&self.actual)
        )
    }
}

/// Checks that `data` hashes to `expected`.
#[allow(
    clippy::result_large_err,
    reason = "both digests are the useful part of the error; a mismatch is fatal, so the copy is never hot"
)]
pub fn verify(data: &[u8], expected: &[u8; 64]) -> Result<(), HashMismatch> {
    let actual = blake2b512(data);
    if actual == *expected {
        Ok(())
    } else {
        Err(HashMismatch {
            expected: *expected,
            actual,
        })
    }
}

/// Displays bytes as lowercase hex without allocating (usable before the heap exists).
#[derive(Clone, Copy, Debug)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with python3 `hashlib.blake2b(...).hexdigest()`.
    const EMPTY: &str = "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce";
    const ABC: &str = "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923";

    #[test]
    fn known_vectors() {
        assert_eq!(Hex(&blake2b512(b"")).to_string(), EMPTY);
        assert_eq!(Hex(&blake2b512(b"abc")).to_string(), ABC);
    }

    #[test]
    fn verify_accepts_and_rejects() {
        let good = blake2b512(b"abc");
        assert_eq!(verify(b"abc", &good), Ok(()));
        let err = verify(b"abd", &good).unwrap_err();
        assert_eq!(err.expected, good);
        let text = err.to_string();
        assert!(text.contains(ABC));
        assert!(text.contains(&Hex(&err.actual).to_string()));
    }

    #[test]
    fn hasher_streams_the_same_digest() {
        let mut h = Hasher::new();
        h.update(b"a");
        h.update(b"");
        h.update(b"bc");
        assert_eq!(Hex(&h.finish()).to_string(), ABC);
        assert_eq!(Hex(&Hasher::new().finish()).to_string(), EMPTY);
    }

    #[test]
    fn hex_formats_lowercase() {
        assert_eq!(Hex(&[0x00, 0xab, 0xFF]).to_string(), "00abff");
        assert_eq!(Hex(&[]).to_string(), "");
    }
}
