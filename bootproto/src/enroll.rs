//! Config enrollment, as Limine does it (`limine enroll-config`): the boot loader binary
//! carries the BLAKE2b-512 hash of its limine.conf, and refuses a config that hashes to
//! anything else.
//!
//! The hash lives in a marker compiled into the binary: the signature
//! `++CONFIG_B2SUM_SIGNATURE++` followed by a slot of 128 ASCII hex digits. A slot of 128 `'0'`
//! means "not enrolled" (the config is not checked); anything else is the enrolled digest.
//! Enrolling writes the hex digest of the config file's exact bytes into the slot of the built
//! binary, so Limine's host tool and [`enroll`] can each enroll the other's binary.

use core::fmt;

use crate::hash::{blake2b512, Hex};

/// What precedes the slot in the binary (Limine's `CONFIG_B2SUM_SIGNATURE`).
pub const SIGNATURE: &[u8; SIGNATURE_LEN] = b"++CONFIG_B2SUM_SIGNATURE++";
/// Length of [`SIGNATURE`].
pub const SIGNATURE_LEN: usize = 26;
/// Length of the slot: the digest as hex digits.
pub const SLOT_LEN: usize = 128;
/// Length of the whole marker: signature, then slot.
pub const MARKER_LEN: usize = SIGNATURE_LEN + SLOT_LEN;
/// The digit filling a slot that holds no hash (Limine's `CONFIG_B2SUM_EMPTY`).
pub const EMPTY_DIGIT: u8 = b'0';
/// The marker as a boot loader is built with it: the signature and an empty slot.
pub const EMPTY_MARKER: [u8; MARKER_LEN] = empty_marker();

const fn empty_marker() -> [u8; MARKER_LEN] {
    let mut marker = [EMPTY_DIGIT; MARKER_LEN];
    let mut i = 0;
    while i < SIGNATURE_LEN {
        marker[i] = SIGNATURE[i];
        i += 1;
    }
    marker
}

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// All `'0'`: no hash is enrolled, the config is not checked.
    NotEnrolled,
    /// The enrolled BLAKE2b-512 digest of the config file.
    Enrolled([u8; 64]),
}

/// A slot that is not 128 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// The slot is not [`SLOT_LEN`] bytes long.
    Length(usize),
    /// The byte at this offset of the slot is not a hex digit.
    NotHex {
        /// Offset in the slot.
        at: usize,
        /// The byte found there.
        byte: u8,
    },
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length(n) => write!(f, "the slot is {n} bytes, not {SLOT_LEN} hex digits"),
            Self::NotHex { at, byte } => {
                write!(f, "byte {at} of the slot is {byte:#04x}, not a hex digit")
            }
        }
    }
}

impl core::error::Error for SlotError {}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Reads a slot: all `'0'` is [`Slot::NotEnrolled`], other hex digits (either case, as Limine
/// accepts) are the enrolled digest.
pub fn parse_slot(slot: &[u8]) -> Result<Slot, SlotError> {
    if slot.len() != SLOT_LEN {
        return Err(SlotError::Length(slot.len()));
    }
    if slot.iter().all(|&c| c == EMPTY_DIGIT) {
        return Ok(Slot::NotEnrolled);
    }
    let digit = |at: usize| hex_value(slot[at]).ok_or(SlotError::NotHex { at, byte: slot[at] });
    let mut digest = [0u8; 64];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
    }
    Ok(Slot::Enrolled(digest))
}

/// The slot's text for `digest`: 128 lowercase hex digits (what `b2sum` prints).
pub fn slot_text(digest: &[u8; 64]) -> [u8; SLOT_LEN] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; SLOT_LEN];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = DIGITS[usize::from(b >> 4)];
        out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
    }
    out
}

/// Why a hash cannot be enrolled into a binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrollError {
    /// The binary has no marker: not a boot loader built for config enrollment.
    NoMarker,
    /// The marker's signature appears more than once, so which slot is checked is ambiguous.
    SeveralMarkers {
        /// How many times the signature appears.
        count: usize,
    },
    /// The signature is too close to the end of the binary for a whole slot to follow it.
    Truncated {
        /// Offset of the signature.
        at: usize,
    },
    /// What follows the signature is not a slot (neither empty nor a hex digest).
    BadSlot {
        /// Offset of the slot.
        at: usize,
        /// What is wrong with it.
        error: SlotError,
    },
}

impl fmt::Display for EnrollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sig = core::str::from_utf8(SIGNATURE).unwrap_or_default();
        match self {
            Self::NoMarker => write!(
                f,
                "no config-hash slot (`{sig}` followed by {SLOT_LEN} hex digits): not a boot \
                 loader built for config enrollment"
            ),
            Self::SeveralMarkers { count } => write!(
                f,
                "`{sig}` appears {count} times; exactly one config-hash slot is needed"
            ),
            Self::Truncated { at } => write!(
                f,
                "`{sig}` at offset {at:#x} is not followed by a whole {SLOT_LEN}-digit slot"
            ),
            Self::BadSlot { at, error } => write!(
                f,
                "the config-hash slot at offset {at:#x} is not a slot: {error}"
            ),
        }
    }
}

impl core::error::Error for EnrollError {}

/// Offsets of every occurrence of [`SIGNATURE`] in `binary` (overlapping ones included).
pub fn signature_offsets(binary: &[u8]) -> impl Iterator<Item = usize> + '_ {
    binary
        .windows(SIGNATURE_LEN)
        .enumerate()
        .filter(|(_, w)| *w == SIGNATURE)
        .map(|(i, _)| i)
}

/// The offset of the binary's one slot (just after its one signature), checked to hold 128 hex
/// digits.
pub fn find_slot(binary: &[u8]) -> Result<usize, EnrollError> {
    let mut found = signature_offsets(binary);
    let first = found.next().ok_or(EnrollError::NoMarker)?;
    let more = found.count();
    if more > 0 {
        return Err(EnrollError::SeveralMarkers { count: 1 + more });
    }
    let at = first + SIGNATURE_LEN;
    let slot = binary
        .get(at..at + SLOT_LEN)
        .ok_or(EnrollError::Truncated { at: first })?;
    parse_slot(slot).map_err(|error| EnrollError::BadSlot { at, error })?;
    Ok(at)
}

/// What the binary's one slot holds.
pub fn enrolled(binary: &[u8]) -> Result<Slot, EnrollError> {
    let at = find_slot(binary)?;
    parse_slot(&binary[at..at + SLOT_LEN]).map_err(|error| EnrollError::BadSlot { at, error })
}

/// Writes `digest` into the binary's one slot (replacing whatever was enrolled before).
pub fn enroll_digest(binary: &mut [u8], digest: &[u8; 64]) -> Result<(), EnrollError> {
    let at = find_slot(binary)?;
    binary[at..at + SLOT_LEN].copy_from_slice(&slot_text(digest));
    Ok(())
}

/// Enrolls the BLAKE2b-512 hash of `conf` (the config file's exact bytes) into the binary's one
/// slot: the boot loader then boots only with exactly this config.
pub fn enroll(binary: &mut [u8], conf: &[u8]) -> Result<(), EnrollError> {
    enroll_digest(binary, &blake2b512(conf))
}

/// Empties the binary's one slot (`limine enroll-config --reset`): the config is not checked.
pub fn reset(binary: &mut [u8]) -> Result<(), EnrollError> {
    let at = find_slot(binary)?;
    binary[at..at + SLOT_LEN].fill(EMPTY_DIGIT);
    Ok(())
}

/// `Slot` as a short text for logs: `not enrolled`, or the digest in hex.
impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::NotEnrolled => f.write_str("not enrolled"),
            Slot::Enrolled(d) => write!(f, "{}", Hex(d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake binary: some bytes, the empty marker, some more bytes.
    fn binary() -> Vec<u8> {
        let mut b = b"MZ\0\0 code before +".to_vec();
        b.extend_from_slice(&EMPTY_MARKER);
        b.extend_from_slice(b"\0code after");
        b
    }

    #[test]
    fn the_marker_is_limines() {
        // Limine's common/lib/config.c: CONFIG_B2SUM_SIGNATURE CONFIG_B2SUM_EMPTY.
        let limine = format!("++CONFIG_B2SUM_SIGNATURE++{}", "0".repeat(128));
        assert_eq!(&EMPTY_MARKER[..], limine.as_bytes());
        assert_eq!(SIGNATURE.len(), SIGNATURE_LEN);
    }

    #[test]
    fn enroll_writes_the_lowercase_hex_digest_and_nothing_else() {
        let before = binary();
        let mut b = before.clone();
        assert_eq!(enrolled(&b), Ok(Slot::NotEnrolled));
        enroll(&mut b, b"abc").unwrap();
        let at = find_slot(&b).unwrap();
        assert_eq!(at, b"MZ\0\0 code before +".len() + SIGNATURE_LEN);
        // RFC 7693 appendix A, as `b2sum` prints it.
        assert_eq!(
            &b[at..at + SLOT_LEN],
            b"ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1\
              7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        );
        assert_eq!(enrolled(&b), Ok(Slot::Enrolled(blake2b512(b"abc"))));
        assert_eq!(&b[..at], &before[..at]);
        assert_eq!(&b[at + SLOT_LEN..], &before[at + SLOT_LEN..]);

        // Enrolling again replaces the hash; reset empties the slot.
        enroll(&mut b, b"abd").unwrap();
        assert_eq!(enrolled(&b), Ok(Slot::Enrolled(blake2b512(b"abd"))));
        reset(&mut b).unwrap();
        assert_eq!(b, before);
    }

    #[test]
    fn exactly_one_whole_marker_is_required() {
        let mut none = b"MZ just code".to_vec();
        assert_eq!(enroll(&mut none, b"c"), Err(EnrollError::NoMarker));

        let mut two = binary();
        two.extend_from_slice(&EMPTY_MARKER);
        let copy = two.clone();
        assert_eq!(
            enroll(&mut two, b"c"),
            Err(EnrollError::SeveralMarkers { count: 2 })
        );
        assert_eq!(two, copy, "nothing is written on an error");

        // The signature alone (e.g. a string naming it), with no slot after it.
        let mut bare = b"MZ ".to_vec();
        bare.extend_from_slice(SIGNATURE);
        bare.extend_from_slice(b" is the marker");
        assert!(matches!(
            enroll(&mut bare, b"c"),
            Err(EnrollError::Truncated { at: 3 })
        ));
        bare.extend_from_slice(&[b' '; SLOT_LEN]);
        assert!(matches!(
            enroll(&mut bare, b"c"),
            Err(EnrollError::BadSlot {
                at: 29,
                error: SlotError::NotHex { at: 0, byte: b' ' }
            })
        ));
        let text = EnrollError::NoMarker.to_string();
        assert!(text.contains("++CONFIG_B2SUM_SIGNATURE++"), "{text}");
    }

    #[test]
    fn overlapping_signatures_count_twice() {
        // "++" ends and starts the signature, so two can share it.
        let mut b = b"++CONFIG_B2SUM_SIGNATURE".to_vec();
        b.extend_from_slice(&EMPTY_MARKER);
        assert_eq!(signature_offsets(&b).count(), 2);
        assert_eq!(find_slot(&b), Err(EnrollError::SeveralMarkers { count: 2 }));
    }

    #[test]
    fn parse_slot_cases() {
        let upper = "AB".repeat(64);
        assert_eq!(parse_slot(upper.as_bytes()), Ok(Slot::Enrolled([0xab; 64])));
        let mut mixed = [b'0'; SLOT_LEN];
        mixed[127] = b'f';
        let mut d = [0u8; 64];
        d[63] = 0x0f;
        assert_eq!(parse_slot(&mixed), Ok(Slot::Enrolled(d)));
        mixed[40] = b'g';
        assert_eq!(
            parse_slot(&mixed),
            Err(SlotError::NotHex { at: 40, byte: b'g' })
        );
        assert_eq!(parse_slot(&[b'0'; 127]), Err(SlotError::Length(127)));
        assert_eq!(parse_slot(&[b'0'; SLOT_LEN]), Ok(Slot::NotEnrolled));
    }

    #[test]
    fn slot_text_round_trips() {
        let d = blake2b512(b"limine.conf");
        assert_eq!(parse_slot(&slot_text(&d)), Ok(Slot::Enrolled(d)));
        assert_eq!(
            core::str::from_utf8(&slot_text(&d)).unwrap(),
            Hex(&d).to_string()
        );
        assert_eq!(Slot::NotEnrolled.to_string(), "not enrolled");
    }
}
