//! SHA-256 digests as the manifest writes them (`sha256:<64 lowercase hex>`), and the image id derived from one.

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
}

// `parse` (exactly 64 lowercase hex digits after `sha256:`; uppercase is refused so that one
// digest has one spelling — the packer's output is canonical), `write_text`, `Display`, `Debug`
// and `Serialize`.
crate::hex::prefixed_hex!(Sha256Digest, PREFIX, TEXT_LEN);

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
