//! Where an image carries its signatures: each entry's `signature` text and the manifest
//! signature record in block 0. Only the bytes: checking them is the `signing` crate's job.
//!
//! Block 0 bytes 120..224 (`docs/image-format.md`): all zero (unsigned), or
//!
//! | bytes   | field                                                         |
//! |---------|---------------------------------------------------------------|
//! | 120..128 | magic `PGMANSIG`                                             |
//! | 128..160 | key id: 1..=32 bytes of `[a-z0-9_]`, zero-padded             |
//! | 160..224 | Ed25519 signature of the manifest statement                  |

use core::fmt;
use serde::{Serialize, Serializer};

/// The prefix of every entry signature string.
pub const PREFIX: &str = "ed25519:";
/// Length of an entry signature string: the prefix and 128 hex digits.
pub const TEXT_LEN: usize = PREFIX.len() + 128;
/// Longest key id (`public_key_id`, the record's key id), in bytes.
pub const MAX_KEY_ID: usize = 32;
/// First byte of the manifest signature record in block 0.
pub const RECORD_AT: usize = 120;
/// One past the record's last byte.
pub const RECORD_END: usize = RECORD_AT + 8 + MAX_KEY_ID + 64;
/// The record's first 8 bytes.
pub const RECORD_MAGIC: [u8; 8] = *b"PGMANSIG";

/// A key id as the manifest writes it (`public_key_id`).
pub type KeyIdText = heapless::String<MAX_KEY_ID>;

/// An Ed25519 signature (64 bytes), written `ed25519:<128 lowercase hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Default for Signature {
    fn default() -> Self {
        Self([0; 64])
    }
}

crate::hex::prefixed_hex!(Signature, PREFIX, TEXT_LEN);

/// Longest key-ring update a manifest carries, in bytes (`key_ring_update`, hex: twice this).
pub const MAX_RING_UPDATE: usize = 2048;

/// A signed key-ring update (`PGRINGUP`, docs/security.md), carried as lowercase hex in the
/// manifest's `key_ring_update`. The loader only decodes the hex; the kernel checks it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RingUpdateBytes(pub heapless::Vec<u8, MAX_RING_UPDATE>);

impl RingUpdateBytes {
    /// Decodes an even number (2..=2 × [`MAX_RING_UPDATE`]) of lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        let len = text.len() / 2;
        if text.is_empty() || len > MAX_RING_UPDATE {
            return None;
        }
        let mut out = heapless::Vec::new();
        out.resize(len, 0).ok()?;
        crate::hex::decode_into(text.as_bytes(), &mut out)?;
        Some(Self(out))
    }
}

impl fmt::Debug for RingUpdateBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingUpdateBytes({} bytes)", self.0.len())
    }
}

impl Serialize for RingUpdateBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut text = [0u8; 2 * MAX_RING_UPDATE];
        let text = text.get_mut(..2 * self.0.len()).unwrap_or_default();
        crate::hex::encode_into(&self.0, text);
        // Only ASCII digits were written.
        s.serialize_str(core::str::from_utf8(text).unwrap_or_default())
    }
}

/// The manifest signature record of block 0: which key signed, and the signature.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ManifestSignature {
    key_id: [u8; MAX_KEY_ID],
    key_id_len: u8,
    /// The Ed25519 signature of the manifest statement.
    pub signature: Signature,
}

/// Why the record in block 0 cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Bytes 120..224 are neither all zero nor a record (`offset` is the first non-zero byte).
    NotARecord {
        /// Byte offset in block 0.
        offset: usize,
    },
    /// The key id is empty, has a byte outside `[a-z0-9_]`, or a non-zero byte after its end.
    BadKeyId,
}

fn is_key_id_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

impl ManifestSignature {
    /// A record for `key_id` (1..=32 bytes of `[a-z0-9_]`, else `None`).
    pub fn new(key_id: &str, signature: Signature) -> Option<Self> {
        let raw = key_id.as_bytes();
        if raw.is_empty() || raw.len() > MAX_KEY_ID || !raw.iter().all(|&b| is_key_id_byte(b)) {
            return None;
        }
        let mut id = [0u8; MAX_KEY_ID];
        id.get_mut(..raw.len())?.copy_from_slice(raw);
        Some(Self {
            key_id: id,
            key_id_len: raw.len() as u8,
            signature,
        })
    }

    /// The signing key's id.
    pub fn key_id(&self) -> &str {
        let raw = self.key_id.get(..usize::from(self.key_id_len));
        core::str::from_utf8(raw.unwrap_or_default()).unwrap_or_default()
    }

    /// Reads bytes [`RECORD_AT`]..[`RECORD_END`] of block 0: `Ok(None)` when all zero.
    pub fn decode(block0: &[u8]) -> Result<Option<Self>, RecordError> {
        let Some(b) = block0.get(RECORD_AT..RECORD_END) else {
            return Ok(None);
        };
        let (magic, rest) = b.split_at(8);
        if magic != RECORD_MAGIC {
            return match b.iter().position(|&x| x != 0) {
                None => Ok(None),
                Some(at) => Err(RecordError::NotARecord {
                    offset: RECORD_AT + at,
                }),
            };
        }
        let (id, sig) = rest.split_at(MAX_KEY_ID);
        let len = id.iter().position(|&x| x == 0).unwrap_or(MAX_KEY_ID);
        let (name, pad) = id.split_at(len);
        if pad.iter().any(|&x| x != 0) {
            return Err(RecordError::BadKeyId);
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(sig);
        let name = core::str::from_utf8(name).map_err(|_| RecordError::BadKeyId)?;
        Self::new(name, Signature(signature))
            .map(Some)
            .ok_or(RecordError::BadKeyId)
    }

    /// Writes the record into bytes [`RECORD_AT`]..[`RECORD_END`] of `block0`.
    pub fn write_to(&self, block0: &mut [u8]) {
        if let Some(b) = block0.get_mut(RECORD_AT..RECORD_END) {
            let (magic, rest) = b.split_at_mut(8);
            magic.copy_from_slice(&RECORD_MAGIC);
            let (id, sig) = rest.split_at_mut(MAX_KEY_ID);
            id.copy_from_slice(&self.key_id);
            sig.copy_from_slice(&self.signature.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_refusals() {
        let s = Signature([0xab; 64]);
        let text = s.to_string();
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(Signature::parse(&text), Some(s));
        assert_eq!(Signature::parse(&text.to_uppercase()), None);
        assert_eq!(Signature::parse(&text[..TEXT_LEN - 1]), None);
        assert_eq!(Signature::parse(&text.replace("ed25519:", "ed448:")), None);
    }

    #[test]
    fn record_round_trip() {
        let mut block = [0u8; 4096];
        assert_eq!(ManifestSignature::decode(&block), Ok(None));
        let r = ManifestSignature::new("system_key_v1", Signature([7; 64])).unwrap();
        r.write_to(&mut block);
        let back = ManifestSignature::decode(&block).unwrap().unwrap();
        assert_eq!(back, r);
        assert_eq!(back.key_id(), "system_key_v1");
        assert!(block[RECORD_END..].iter().all(|&b| b == 0));
    }

    #[test]
    fn record_refusals() {
        assert!(ManifestSignature::new("", Signature([0; 64])).is_none());
        assert!(ManifestSignature::new("Bad", Signature([0; 64])).is_none());
        assert!(ManifestSignature::new(&"a".repeat(33), Signature([0; 64])).is_none());
        let mut block = [0u8; 4096];
        block[130] = 1;
        assert_eq!(
            ManifestSignature::decode(&block),
            Err(RecordError::NotARecord { offset: 130 })
        );
        let r = ManifestSignature::new("k", Signature([7; 64])).unwrap();
        r.write_to(&mut block);
        block[RECORD_AT + 8 + 5] = b'x';
        assert_eq!(
            ManifestSignature::decode(&block),
            Err(RecordError::BadKeyId)
        );
    }
}
