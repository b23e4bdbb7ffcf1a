//! The key files: `PGKEYPUB` (public key with capability limits) and `PGKEYSEC` (seed).
//!
//! Both formats are documented byte by byte in `docs/security.md`. Parsing never panics:
//! every malformed file is reported as a [`KeyError`].

use core::fmt;

use ed25519_compact as ed;

use crate::bytes::{put_short, Reader, Sink, Writer};
use crate::ident::{CapKind, IdentError, KeyId};

/// The first 8 bytes of a public key file.
pub const PUBLIC_MAGIC: [u8; 8] = *b"PGKEYPUB";
/// The first 8 bytes of a secret key file.
pub const SECRET_MAGIC: [u8; 8] = *b"PGKEYSEC";
/// The only key file version this crate reads and writes.
pub const KEY_FILE_VERSION: u16 = 1;
/// The most capability limits one public key file may carry.
pub const MAX_KEY_CAPS: usize = 16;
/// The length of an Ed25519 public key or seed in bytes.
pub const KEY_LEN: usize = 32;
/// The longest possible `PGKEYPUB` file: a 32-byte id and 16 limits of 32 bytes.
pub const MAX_PUBLIC_FILE_LEN: usize = 8 + 2 + 1 + 32 + KEY_LEN + 1 + MAX_KEY_CAPS * (1 + 32);

/// Why a key file could not be parsed or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The file ended in the middle of the named field.
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// The file does not start with the expected magic.
    BadMagic {
        /// The magic that was expected.
        expected: &'static str,
    },
    /// A secret key file was given where a public one was expected, or the reverse.
    WrongKind {
        /// The magic that was expected.
        expected: &'static str,
    },
    /// The version field is not [`KEY_FILE_VERSION`].
    UnsupportedVersion(u16),
    /// The key id is empty, too long or has a byte outside `[a-z0-9_]`.
    BadKeyId(IdentError),
    /// The 32 key bytes are not the canonical encoding of a curve point.
    BadPublicKey,
    /// The key is a point of small order: it would accept forged signatures.
    WeakPublicKey,
    /// More than [`MAX_KEY_CAPS`] capability limits.
    TooManyCapabilities(usize),
    /// A capability limit is not a valid kind.
    BadCapability {
        /// Its position in the list, from 0.
        index: usize,
        /// What is wrong with it.
        error: IdentError,
    },
    /// Bytes follow the last field.
    TrailingBytes(usize),
    /// The seed is all zeros (not a real key).
    ZeroSeed,
    /// The output buffer is too small for the encoded file.
    BufferTooSmall {
        /// Bytes the encoding needs.
        needed: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { field } => write!(f, "key file ends inside its {field}; the file is cut short, copy it again"),
            Self::BadMagic { expected } => write!(f, "not a PandaGen key file (expected magic {expected}); check the path"),
            Self::WrongKind { expected } => write!(f, "wrong kind of key file (expected {expected}); pass the other file of the pair"),
            Self::UnsupportedVersion(v) => write!(f, "key file version {v} is not supported (only {KEY_FILE_VERSION}); regenerate the key with this tool"),
            Self::BadKeyId(e) => write!(f, "bad key id: {e}"),
            Self::BadPublicKey => f.write_str("public key bytes are not a valid Ed25519 point; the key file is corrupt"),
            Self::WeakPublicKey => f.write_str("public key is a small-order point that would accept forgeries; refuse this key"),
            Self::TooManyCapabilities(n) => write!(f, "key lists {n} capability limits (at most {MAX_KEY_CAPS}); use `*` or fewer kinds"),
            Self::BadCapability { index, error } => write!(f, "capability limit #{index} is invalid: {error}"),
            Self::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the end of the key file; the file is corrupt"),
            Self::ZeroSeed => f.write_str("secret key seed is all zeros; generate a real key"),
            Self::BufferTooSmall { needed, have } => write!(f, "key file needs {needed} bytes but the buffer has {have}; pass a larger buffer"),
        }
    }
}

fn truncated(field: &'static str) -> KeyError {
    KeyError::Truncated { field }
}

/// Reads magic and version; `other` is the magic of the other kind of key file.
fn read_header(r: &mut Reader<'_>, magic: &[u8; 8], other: &[u8; 8]) -> Result<(), KeyError> {
    let expected = if magic == &PUBLIC_MAGIC {
        "PGKEYPUB"
    } else {
        "PGKEYSEC"
    };
    let found = r.take(8).ok_or(truncated("magic"))?;
    if found == other {
        return Err(KeyError::WrongKind { expected });
    }
    if found != magic {
        return Err(KeyError::BadMagic { expected });
    }
    match r.u16_le().ok_or(truncated("version"))? {
        KEY_FILE_VERSION => Ok(()),
        v => Err(KeyError::UnsupportedVersion(v)),
    }
}

fn read_key_id(r: &mut Reader<'_>) -> Result<KeyId, KeyError> {
    let len = r.u8().ok_or(truncated("key id length"))?;
    let raw = r.take(usize::from(len)).ok_or(truncated("key id"))?;
    KeyId::from_bytes(raw).map_err(KeyError::BadKeyId)
}

fn read_caps(r: &mut Reader<'_>) -> Result<heapless::Vec<CapKind, MAX_KEY_CAPS>, KeyError> {
    let count = usize::from(r.u8().ok_or(truncated("capability count"))?);
    if count > MAX_KEY_CAPS {
        return Err(KeyError::TooManyCapabilities(count));
    }
    let mut caps = heapless::Vec::new();
    for index in 0..count {
        let len = r.u8().ok_or(truncated("capability length"))?;
        let raw = r.take(usize::from(len)).ok_or(truncated("capability"))?;
        let kind =
            CapKind::from_bytes(raw).map_err(|error| KeyError::BadCapability { index, error })?;
        caps.push(kind)
            .map_err(|_| KeyError::TooManyCapabilities(count))?;
    }
    Ok(caps)
}

fn expect_end(r: &Reader<'_>) -> Result<(), KeyError> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(KeyError::TrailingBytes(n)),
    }
}

fn validate_key(key: &ed::PublicKey) -> Result<(), KeyError> {
    key.validate().map_err(|e| match e {
        ed::Error::WeakPublicKey => KeyError::WeakPublicKey,
        _ => KeyError::BadPublicKey,
    })
}

fn finish(w: &Writer<'_>, needed: usize, have: usize) -> Result<usize, KeyError> {
    if w.overflowed() {
        return Err(KeyError::BufferTooSmall { needed, have });
    }
    Ok(w.position())
}

/// A trusted public key: its id, the Ed25519 key and the capability kinds it may grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    id: KeyId,
    key: ed::PublicKey,
    caps: heapless::Vec<CapKind, MAX_KEY_CAPS>,
}

impl PublicKey {
    /// Builds a public key, refusing invalid or small-order keys and too many limits.
    pub fn new(id: KeyId, key: [u8; KEY_LEN], caps: &[CapKind]) -> Result<Self, KeyError> {
        let key = ed::PublicKey::new(key);
        validate_key(&key)?;
        let caps = heapless::Vec::from_slice(caps)
            .map_err(|_| KeyError::TooManyCapabilities(caps.len()))?;
        Ok(Self { id, key, caps })
    }

    /// Parses a `PGKEYPUB` file. The key is validated (canonical, not of small order).
    pub fn parse(file: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(file);
        read_header(&mut r, &PUBLIC_MAGIC, &SECRET_MAGIC)?;
        let id = read_key_id(&mut r)?;
        let key = ed::PublicKey::new(r.array32().ok_or(truncated("public key"))?);
        validate_key(&key)?;
        let caps = read_caps(&mut r)?;
        expect_end(&r)?;
        Ok(Self { id, key, caps })
    }

    /// The length of the encoded `PGKEYPUB` file.
    pub fn encoded_len(&self) -> usize {
        let caps: usize = self.caps.iter().map(|c| 1 + c.as_bytes().len()).sum();
        8 + 2 + 1 + self.id.as_bytes().len() + KEY_LEN + 1 + caps
    }

    /// Encodes the `PGKEYPUB` file into `out`; returns the number of bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, KeyError> {
        let (needed, have) = (self.encoded_len(), out.len());
        let mut w = Writer::new(out);
        self.write(&mut w);
        finish(&w, needed, have)
    }

    /// Streams the `PGKEYPUB` file into `sink` ([`Self::encoded_len`] bytes).
    pub(crate) fn write(&self, sink: &mut impl Sink) {
        sink.put(&PUBLIC_MAGIC);
        sink.put(&KEY_FILE_VERSION.to_le_bytes());
        put_short(sink, self.id.as_bytes());
        sink.put(&self.key[..]);
        sink.put(&[u8::try_from(self.caps.len()).unwrap_or(u8::MAX)]);
        for cap in &self.caps {
            put_short(sink, cap.as_bytes());
        }
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn key_bytes(&self) -> [u8; KEY_LEN] {
        *self.key
    }

    /// The capability kinds this key may grant, in file order.
    pub fn capability_limits(&self) -> &[CapKind] {
        &self.caps
    }

    /// Whether this key may grant `capability` (matched by kind, `*` allows all).
    pub fn allows(&self, capability: &str) -> bool {
        self.caps.iter().any(|limit| limit.allows(capability))
    }

    pub(crate) fn ed(&self) -> &ed::PublicKey {
        &self.key
    }
}

/// A signing key: its id and the Ed25519 key pair derived from a 32-byte seed.
#[derive(Clone)]
pub struct SecretKey {
    id: KeyId,
    pair: ed::KeyPair,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretKey {
    /// Derives the key pair from `seed` (RFC 8032 secret key). An all-zero seed is refused.
    pub fn from_seed(id: KeyId, seed: [u8; KEY_LEN]) -> Result<Self, KeyError> {
        let pair =
            ed::KeyPair::try_from_seed(ed::Seed::new(seed)).map_err(|_| KeyError::ZeroSeed)?;
        Ok(Self { id, pair })
    }

    /// Parses a `PGKEYSEC` file.
    pub fn parse(file: &[u8]) -> Result<Self, KeyError> {
        let mut r = Reader::new(file);
        read_header(&mut r, &SECRET_MAGIC, &PUBLIC_MAGIC)?;
        let id = read_key_id(&mut r)?;
        let seed = r.array32().ok_or(truncated("seed"))?;
        expect_end(&r)?;
        Self::from_seed(id, seed)
    }

    /// The length of the encoded `PGKEYSEC` file.
    pub fn encoded_len(&self) -> usize {
        8 + 2 + 1 + self.id.as_bytes().len() + KEY_LEN
    }

    /// Encodes the `PGKEYSEC` file into `out`; returns the number of bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, KeyError> {
        let (needed, have) = (self.encoded_len(), out.len());
        let mut w = Writer::new(out);
        w.put(&SECRET_MAGIC);
        w.put(&KEY_FILE_VERSION.to_le_bytes());
        put_short(&mut w, self.id.as_bytes());
        w.put(&self.pair.sk.seed()[..]);
        finish(&w, needed, have)
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The matching public key, with the given capability limits.
    pub fn public_key(&self, caps: &[CapKind]) -> Result<PublicKey, KeyError> {
        PublicKey::new(self.id, *self.pair.pk, caps)
    }

    pub(crate) fn ed(&self) -> &ed::SecretKey {
        &self.pair.sk
    }
}
