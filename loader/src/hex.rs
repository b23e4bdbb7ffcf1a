//! Lowercase hexadecimal, as the manifest spells digests, signatures and key-ring updates: one
//! spelling per value (uppercase is refused), no allocation.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A lowercase hex digit's value.
fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes `hex` (exactly `2 * out.len()` lowercase digits) into `out`; `None` otherwise.
pub fn decode_into(hex: &[u8], out: &mut [u8]) -> Option<()> {
    if hex.len() != 2 * out.len() {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(*pair.first()?)? << 4 | nibble(*pair.get(1)?)?;
    }
    Some(())
}

/// Writes `bytes` as lowercase hex into the first `2 * bytes.len()` bytes of `out` (as much
/// as fits).
pub fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&[
            DIGITS[usize::from(byte >> 4)],
            DIGITS[usize::from(byte & 15)],
        ]);
    }
}

/// The text form of a fixed-size binary value written `<prefix><lowercase hex>`
/// (`sha256:…`, `ed25519:…`): `parse`, `write_text`, `Display`, `Debug` (the text) and
/// `Serialize` (a JSON string), for `$ty(pub [u8; N])` with `$prefix: &str` and `$text_len`
/// = prefix length + 2 × N.
macro_rules! prefixed_hex {
    ($ty:ident, $prefix:expr, $text_len:expr) => {
        impl $ty {
            /// Parses the prefix followed by exactly twice the value's length in lowercase hex
            /// digits; anything else (uppercase too: one spelling per value) is `None`.
            pub fn parse(text: &str) -> Option<Self> {
                let mut out = Self::default().0;
                $crate::hex::decode_into(text.strip_prefix($prefix)?.as_bytes(), &mut out)?;
                Some(Self(out))
            }

            /// Writes the canonical text into `out` and returns it.
            pub fn write_text<'a>(&self, out: &'a mut [u8; $text_len]) -> &'a str {
                let (prefix, hex) = out.split_at_mut($prefix.len());
                prefix.copy_from_slice($prefix.as_bytes());
                $crate::hex::encode_into(&self.0, hex);
                // Only ASCII was written; the fallback keeps the function panic-free.
                core::str::from_utf8(out).unwrap_or($prefix)
            }
        }

        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.write_text(&mut [0; $text_len]))
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(self, f)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.write_text(&mut [0; $text_len]))
            }
        }
    };
}
pub(crate) use prefixed_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let mut text = [0u8; 6];
        encode_into(&[0x00, 0xab, 0xff], &mut text);
        assert_eq!(&text, b"00abff");
        let mut back = [0u8; 3];
        assert_eq!(decode_into(&text, &mut back), Some(()));
        assert_eq!(back, [0x00, 0xab, 0xff]);
        assert_eq!(decode_into(b"00ABff", &mut back), None);
        assert_eq!(decode_into(b"00abf", &mut back), None);
        assert_eq!(decode_into(b"00abfg", &mut back), None);
    }
}
