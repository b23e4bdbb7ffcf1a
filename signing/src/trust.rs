//! The trust block: the boot policy and key ring that the host tool writes into the kernel.
//!
//! The kernel carries a [`TRUST_LEN`]-byte static initialised to [`placeholder`] ("no key
//! ring enrolled"). At build time the host tool finds it in the kernel binary
//! ([`find_placeholder`], or [`find_enrolled`] to re-enroll) and overwrites it with an
//! encoded [`Trust`]. The layout is documented byte by byte in `docs/security.md`; decoding
//! never panics: every malformed block is a [`TrustError`].

use core::fmt;

use crate::bytes::{put_short, Counter, Reader, Sink, Writer};
use crate::ident::{IdentError, KeyId};
use crate::keyfile::{KeyError, PublicKey};
use crate::ring::{KeyRing, RingSetupError, MAX_REVOKED, MAX_RING_KEYS};

/// The size in bytes of a trust block (placeholder or enrolled).
pub const TRUST_LEN: usize = 8192;
/// The magic of the kernel's initial block: it is followed by zeros only.
pub const PLACEHOLDER_MAGIC: [u8; 8] = *b"PGTRUST0";
/// The magic of an enrolled block.
pub const MAGIC: [u8; 8] = *b"PGTRUST1";
/// Flags bit 0: the ring is the development key ring.
const FLAG_DEVELOPMENT: u8 = 1;

/// What the kernel does with an image that fails verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Refuse to run it (byte value 1).
    Enforce,
    /// Report the failure and run it anyway (byte value 2).
    Permissive,
}

impl Policy {
    /// Parses `enforce` or `permissive` (as written by [`fmt::Display`]).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "enforce" => Some(Self::Enforce),
            "permissive" => Some(Self::Permissive),
            _ => None,
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Self::Enforce => 1,
            Self::Permissive => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Enforce),
            2 => Some(Self::Permissive),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Enforce => "enforce",
            Self::Permissive => "permissive",
        })
    }
}

/// Why a trust block could not be decoded, encoded or found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustError {
    /// The block is shorter than [`TRUST_LEN`], or the output buffer is not that long.
    BadLength(usize),
    /// The block starts with neither [`MAGIC`] nor [`PLACEHOLDER_MAGIC`].
    BadMagic,
    /// A placeholder has a non-zero byte at this offset.
    PlaceholderNotZero {
        /// Offset of the first non-zero byte after the magic.
        offset: usize,
    },
    /// The policy byte is neither 1 (enforce) nor 2 (permissive).
    BadPolicy(u8),
    /// The flags byte has bits other than bit 0 set.
    BadFlags(u8),
    /// More than [`MAX_RING_KEYS`] keys.
    TooManyKeys(usize),
    /// More than [`MAX_REVOKED`] revoked ids.
    TooManyRevoked(usize),
    /// A reserved header byte (offsets 12 to 15) is not zero.
    ReservedNotZero {
        /// Offset of the non-zero byte.
        offset: usize,
    },
    /// The block ends inside the named field.
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// A key is not a valid `PGKEYPUB` file.
    BadKey {
        /// Its position in the block, from 0.
        index: usize,
        /// What is wrong with it.
        error: KeyError,
    },
    /// Two keys have the same id.
    DuplicateKeyId(KeyId),
    /// A revoked id is not a valid key id.
    BadRevokedId {
        /// Its position in the block, from 0.
        index: usize,
        /// What is wrong with it.
        error: IdentError,
    },
    /// A non-zero byte follows the last field.
    NonZeroPadding {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// (Encoding) the ring does not fit in [`TRUST_LEN`] bytes.
    TooLarge {
        /// Bytes the encoding needs.
        needed: usize,
    },
    /// The binary holds no placeholder block.
    NoPlaceholder,
    /// The binary holds more than one placeholder block.
    MultiplePlaceholders {
        /// Offset of the first.
        first: usize,
        /// Offset of the second.
        second: usize,
    },
    /// The binary holds more than one enrolled block.
    MultipleEnrolled {
        /// Offset of the first.
        first: usize,
        /// Offset of the second.
        second: usize,
    },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength(n) => write!(f, "trust block is {n} bytes, not {TRUST_LEN}; pass the whole block"),
            Self::BadMagic => f.write_str("not a trust block (magic is neither PGTRUST1 nor PGTRUST0); check the offset"),
            Self::PlaceholderNotZero { offset } => write!(f, "trust placeholder has a non-zero byte at offset {offset}; rebuild the kernel"),
            Self::BadPolicy(b) => write!(f, "trust block policy byte is {b} (1 = enforce, 2 = permissive); re-enroll the kernel"),
            Self::BadFlags(b) => write!(f, "trust block flags 0x{b:02x} has unknown bits (only bit 0 is defined); re-enroll the kernel"),
            Self::TooManyKeys(n) => write!(f, "trust block lists {n} keys (at most {MAX_RING_KEYS}); enroll fewer keys"),
            Self::TooManyRevoked(n) => write!(f, "trust block lists {n} revoked ids (at most {MAX_REVOKED}); retire old revoked ids"),
            Self::ReservedNotZero { offset } => write!(f, "trust block reserved byte at offset {offset} is not zero; re-enroll the kernel"),
            Self::Truncated { field } => write!(f, "trust block ends inside a {field}; re-enroll the kernel"),
            Self::BadKey { index, error } => write!(f, "trust block key #{index}: {error}"),
            Self::DuplicateKeyId(id) => write!(f, "trust block lists key id `{id}` twice; enroll each key once"),
            Self::BadRevokedId { index, error } => write!(f, "trust block revoked id #{index}: {error}"),
            Self::NonZeroPadding { offset } => write!(f, "trust block has a non-zero byte at offset {offset} after its last field; re-enroll the kernel"),
            Self::TooLarge { needed } => write!(f, "trust block needs {needed} bytes (at most {TRUST_LEN}); enroll fewer keys or limits"),
            Self::NoPlaceholder => f.write_str("no trust placeholder (PGTRUST0 and zeros) in the binary; build the kernel with one, or re-enroll"),
            Self::MultiplePlaceholders { first, second } => write!(f, "trust placeholders at offsets {first} and {second}; the kernel must define exactly one"),
            Self::MultipleEnrolled { first, second } => write!(f, "trust blocks at offsets {first} and {second}; the kernel must define exactly one"),
        }
    }
}

fn truncated(field: &'static str) -> TrustError {
    TrustError::Truncated { field }
}

/// The kernel's initial block: [`PLACEHOLDER_MAGIC`] then zeros ("no key ring enrolled").
pub const fn placeholder() -> [u8; TRUST_LEN] {
    let mut block = [0u8; TRUST_LEN];
    let mut i = 0;
    while i < PLACEHOLDER_MAGIC.len() {
        block[i] = PLACEHOLDER_MAGIC[i];
        i += 1;
    }
    block
}

/// The offset (within the block) of the first non-zero byte left in `r`, if any.
fn first_nonzero(r: &Reader<'_>) -> Option<usize> {
    let start = TRUST_LEN.saturating_sub(r.remaining());
    let index = r.rest().iter().position(|&b| b != 0)?;
    Some(start.saturating_add(index))
}

/// The boot policy and the trusted key ring, as enrolled in a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// What to do when verification fails.
    pub policy: Policy,
    /// Whether `ring` is the development key ring (flags bit 0).
    pub development: bool,
    /// The trusted keys and revoked ids.
    pub ring: KeyRing,
}

/// The header fields after the magic.
struct Header {
    policy: Policy,
    development: bool,
    keys: usize,
    revoked: usize,
}

impl Trust {
    /// Encodes the block into `out`, which must be [`TRUST_LEN`] bytes; the rest is zeroed.
    pub fn encode(&self, out: &mut [u8]) -> Result<(), TrustError> {
        if out.len() != TRUST_LEN {
            return Err(TrustError::BadLength(out.len()));
        }
        let mut counter = Counter(0);
        self.write(&mut counter);
        if counter.0 > TRUST_LEN {
            return Err(TrustError::TooLarge { needed: counter.0 });
        }
        out.fill(0);
        let mut w = Writer::new(out);
        self.write(&mut w);
        match w.overflowed() {
            true => Err(TrustError::TooLarge { needed: counter.0 }),
            false => Ok(()),
        }
    }

    fn write(&self, sink: &mut impl Sink) {
        let count = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        let flags = if self.development {
            FLAG_DEVELOPMENT
        } else {
            0
        };
        sink.put(&MAGIC);
        sink.put(&[self.policy.to_byte(), flags]);
        sink.put(&[
            count(self.ring.keys().len()),
            count(self.ring.revoked().len()),
        ]);
        sink.put(&[0; 4]);
        for key in self.ring.keys() {
            let len = u16::try_from(key.encoded_len()).unwrap_or(u16::MAX);
            sink.put(&len.to_le_bytes());
            key.write(sink);
        }
        for id in self.ring.revoked() {
            put_short(sink, id.as_bytes());
        }
    }

    /// Decodes the block at the start of `bytes` (its first [`TRUST_LEN`] bytes; anything
    /// after them is not looked at): `Ok(None)` for the placeholder.
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, TrustError> {
        let block = bytes
            .get(..TRUST_LEN)
            .ok_or(TrustError::BadLength(bytes.len()))?;
        let mut r = Reader::new(block);
        let magic = r.take(MAGIC.len()).ok_or(truncated("magic"))?;
        if magic == PLACEHOLDER_MAGIC {
            return match first_nonzero(&r) {
                Some(offset) => Err(TrustError::PlaceholderNotZero { offset }),
                None => Ok(None),
            };
        }
        if magic != MAGIC {
            return Err(TrustError::BadMagic);
        }
        let header = read_header(&mut r)?;
        let mut ring = KeyRing::new();
        read_keys(&mut r, header.keys, &mut ring)?;
        read_revoked(&mut r, header.revoked, &mut ring)?;
        if let Some(offset) = first_nonzero(&r) {
            return Err(TrustError::NonZeroPadding { offset });
        }
        Ok(Some(Self {
            policy: header.policy,
            development: header.development,
            ring,
        }))
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<Header, TrustError> {
    let policy = r.u8().ok_or(truncated("header"))?;
    let policy = Policy::from_byte(policy).ok_or(TrustError::BadPolicy(policy))?;
    let flags = r.u8().ok_or(truncated("header"))?;
    if flags & !FLAG_DEVELOPMENT != 0 {
        return Err(TrustError::BadFlags(flags));
    }
    let keys = usize::from(r.u8().ok_or(truncated("header"))?);
    if keys > MAX_RING_KEYS {
        return Err(TrustError::TooManyKeys(keys));
    }
    let revoked = usize::from(r.u8().ok_or(truncated("header"))?);
    if revoked > MAX_REVOKED {
        return Err(TrustError::TooManyRevoked(revoked));
    }
    let reserved = r.take(4).ok_or(truncated("header"))?;
    if let Some(i) = reserved.iter().position(|&b| b != 0) {
        return Err(TrustError::ReservedNotZero { offset: 12 + i });
    }
    Ok(Header {
        policy,
        development: flags & FLAG_DEVELOPMENT != 0,
        keys,
        revoked,
    })
}

fn read_keys(r: &mut Reader<'_>, count: usize, ring: &mut KeyRing) -> Result<(), TrustError> {
    for index in 0..count {
        let len = r.u16_le().ok_or(truncated("key length"))?;
        let file = r.take(usize::from(len)).ok_or(truncated("key"))?;
        let key = PublicKey::parse(file).map_err(|error| TrustError::BadKey { index, error })?;
        ring.add(key).map_err(|e| match e {
            RingSetupError::DuplicateKeyId(id) => TrustError::DuplicateKeyId(id),
            _ => TrustError::TooManyKeys(count),
        })?;
    }
    Ok(())
}

fn read_revoked(r: &mut Reader<'_>, count: usize, ring: &mut KeyRing) -> Result<(), TrustError> {
    for index in 0..count {
        let len = r.u8().ok_or(truncated("revoked id length"))?;
        let raw = r.take(usize::from(len)).ok_or(truncated("revoked id"))?;
        let id =
            KeyId::from_bytes(raw).map_err(|error| TrustError::BadRevokedId { index, error })?;
        ring.revoke(id)
            .map_err(|_| TrustError::TooManyRevoked(count))?;
    }
    Ok(())
}

/// The offsets in `binary` where `magic` starts.
fn occurrences<'a>(binary: &'a [u8], magic: &'a [u8; 8]) -> impl Iterator<Item = usize> + 'a {
    binary
        .windows(magic.len())
        .enumerate()
        .filter(move |(_, window)| window == magic)
        .map(|(offset, _)| offset)
}

/// The [`TRUST_LEN`] bytes of `binary` from `offset`, if that many remain.
fn block_at(binary: &[u8], offset: usize) -> Option<&[u8]> {
    binary.get(offset..offset.checked_add(TRUST_LEN)?)
}

/// The only offset where `magic` starts a block accepted by `is_block`; `Err` holds the
/// first two offsets if there are several.
fn find_one(
    binary: &[u8],
    magic: &[u8; 8],
    is_block: impl Fn(&[u8]) -> bool,
) -> Result<Option<usize>, (usize, usize)> {
    let mut found = occurrences(binary, magic)
        .filter(|&offset| block_at(binary, offset).is_some_and(&is_block));
    let Some(first) = found.next() else {
        return Ok(None);
    };
    match found.next() {
        Some(second) => Err((first, second)),
        None => Ok(Some(first)),
    }
}

/// The offset of the only placeholder in `binary` ([`PLACEHOLDER_MAGIC`] then
/// `TRUST_LEN - 8` zero bytes). Other occurrences of the magic alone are ignored.
pub fn find_placeholder(binary: &[u8]) -> Result<usize, TrustError> {
    let is_placeholder = |block: &[u8]| block.get(8..).is_some_and(|b| b.iter().all(|&x| x == 0));
    match find_one(binary, &PLACEHOLDER_MAGIC, is_placeholder) {
        Ok(Some(offset)) => Ok(offset),
        Ok(None) => Err(TrustError::NoPlaceholder),
        Err((first, second)) => Err(TrustError::MultiplePlaceholders { first, second }),
    }
}

/// The offset of the only enrolled block in `binary` ([`MAGIC`] where [`Trust::decode`]
/// succeeds), or `None` if there is none. Other occurrences of the magic are ignored.
pub fn find_enrolled(binary: &[u8]) -> Result<Option<usize>, TrustError> {
    let is_enrolled = |block: &[u8]| matches!(Trust::decode(block), Ok(Some(_)));
    find_one(binary, &MAGIC, is_enrolled)
        .map_err(|(first, second)| TrustError::MultipleEnrolled { first, second })
}
