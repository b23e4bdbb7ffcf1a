//! SHA-256 digests as the manifest writes them (`sha256:<64 lowercase hex>`), and the image id derived from one.

use core::fmt;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The prefix of every checksum string.
pub const PREFIX: &str = "sha256:";
/// Length of a checksum string: the prefix and 64 hex digits.
pub const TEXT_LEN: usize = PREFIX.len() + 64;

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Sha256Digest(pub [u8; 32]);

impl Sha256Digest {
    /// Hashes `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }

    /// Parses `sha256:` followed by exactly 64 lowercase hex digits; anything else is `None`.
    ///
    /// Uppercase is refused so that one digest has exactly one spelling (the packer's output is canonical).
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(PREFIX)?.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let hi = nibble(*pair.first()?)?;
            let lo = nibble(*pair.get(1)?)?;
            *byte = hi << 4 | lo;
        }
        Some(Self(out))
    }

    /// Writes the canonical `sha256:<hex>` text into `out` and returns it.
    pub fn write_text<'a>(&self, out: &'a mut [u8; TEXT_LEN]) -> &'a str {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let (prefix, hex) = out.split_at_mut(PREFIX.len());
        prefix.copy_from_slice(PREFIX.as_bytes());
        for (pair, byte) in hex.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
        // Only ASCII was written, so this cannot fail; the fallback keeps the function panic-free.
        core::str::from_utf8(out).unwrap_or(PREFIX)
    }
}

/// A lowercase hex digit's value.
pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write_text(&mut [0; TEXT_LEN]))
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.write_text(&mut [0; TEXT_LEN]))
    }
}

/// The image id for a manifest: the first 16 bytes of its SHA-256, marked as an RFC 4122 UUID of version 8
/// (custom) and variant `10`, so tools that show UUIDs show it as one.
pub fn image_id(manifest: &[u8]) -> [u8; 16] {
    image_id_of(&Sha256Digest::of(manifest))
}

/// [`image_id`] from the manifest's SHA-256, already computed.
pub fn image_id_of(manifest_sha256: &Sha256Digest) -> [u8; 16] {
    let digest = manifest_sha256.0;
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id[6] = (id[6] & 0x0f) | 0x80;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_round_trip() {
        let d = Sha256Digest::of(b"abc");
        let text = d.to_string();
        assert_eq!(
            text,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Digest::parse(&text), Some(d));
    }

    #[test]
    fn parse_refuses_uppercase_wrong_length_and_prefix() {
        let good = Sha256Digest::of(b"abc").to_string();
        assert_eq!(Sha256Digest::parse(&good.to_uppercase()), None);
        assert_eq!(Sha256Digest::parse(&good.replace('a', "A")), None);
        assert_eq!(Sha256Digest::parse(&good[..good.len() - 1]), None);
        assert_eq!(Sha256Digest::parse(&format!("{good}0")), None);
        assert_eq!(
            Sha256Digest::parse(&good.replace("sha256:", "sha512:")),
            None
        );
        assert_eq!(Sha256Digest::parse(&good.replace("sha256:", "")), None);
        assert_eq!(Sha256Digest::parse(&good.replacen('b', "g", 1)), None);
        // A multi-byte character must not be split into "hex pairs".
        assert_eq!(
            Sha256Digest::parse(&format!("sha256:é{}", &good[9..])),
            None
        );
    }

    #[test]
    fn image_id_sets_version_8_and_variant_10() {
        let id = image_id(b"{}");
        assert_eq!(id[6] >> 4, 8);
        assert_eq!(id[8] >> 6, 0b10);
        let digest = Sha256Digest::of(b"{}").0;
        assert_eq!(id[..6], digest[..6]);
        assert_eq!(id[9..], digest[9..16]);
    }
}
