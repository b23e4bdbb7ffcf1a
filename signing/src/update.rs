//! Signed key-ring updates (`PGRINGUP`): change the trusted keys without rebuilding the kernel.
//!
//! Rules of [`apply`], in order: the update parses (no trailing byte, no key both added and
//! revoked, no id listed twice); its signer is not revoked in the base ring, is in it, and
//! has the limit `*`; the signature verifies strictly over `"PANDAGEN-KEYRING-v1\0"` and
//! every byte before it; its generation is above the last applied one. The new ring holds the
//! base ring's revocations plus the update's, the base keys not revoked, and the added keys.
//! The format is documented byte by byte in `docs/security.md`.

use core::fmt;

use crate::bytes::{put_short, Counter, Reader, Sink, Writer};
use crate::ident::{CapKind, IdentError, KeyId};
use crate::keyfile::{KeyError, PublicKey, SecretKey};
use crate::ring::{KeyRing, RingSetupError, MAX_REVOKED, MAX_RING_KEYS};
use crate::statement::KEYRING_DOMAIN;
use crate::verify::{self, VerifyError};
use crate::SIGNATURE_LEN;

/// The first 8 bytes of a key-ring update.
pub const UPDATE_MAGIC: [u8; 8] = *b"PGRINGUP";
/// The only update version this crate reads and writes.
pub const UPDATE_VERSION: u16 = 1;

/// Why a key-ring update was refused, or could not be signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// The update ends inside the named field.
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// The update does not start with `PGRINGUP`.
    BadMagic,
    /// The version is not [`UPDATE_VERSION`].
    UnsupportedVersion(u16),
    /// More than [`MAX_RING_KEYS`] added keys.
    TooManyKeys(usize),
    /// More than [`MAX_REVOKED`] revoked ids.
    TooManyRevoked(usize),
    /// An added key is not a valid `PGKEYPUB` file.
    BadKey {
        /// Its position in the update, from 0.
        index: usize,
        /// What is wrong with it.
        error: KeyError,
    },
    /// A revoked id is not a valid key id.
    BadRevokedId {
        /// Its position in the update, from 0.
        index: usize,
        /// What is wrong with it.
        error: IdentError,
    },
    /// The signer key id is not a valid key id.
    BadSignerId(IdentError),
    /// Bytes follow the signature.
    TrailingBytes(usize),
    /// The update adds the same key id twice.
    DuplicateKeyId(KeyId),
    /// The update adds a key whose id is revoked (by this update or earlier).
    AddedKeyRevoked(KeyId),
    /// The signer is not in the base ring.
    UnknownSigner(KeyId),
    /// The signer is revoked in the base ring.
    RevokedSigner(KeyId),
    /// The signer's limits do not include `*`.
    SignerNotFullAuthority(KeyId),
    /// The signature does not verify.
    BadSignature(VerifyError),
    /// The generation is not above the last applied one.
    Stale {
        /// The generation last applied.
        have: u32,
        /// The generation of this update.
        got: u32,
    },
    /// An added key has the id of a trusted key but a different public key.
    ConflictingKey(KeyId),
    /// The resulting ring would exceed its capacity.
    Ring(RingSetupError),
    /// (Signing) the output buffer is too small.
    BufferTooSmall {
        /// Bytes the update needs.
        needed: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { field } => write!(f, "key-ring update ends inside its {field}; the file is cut short, copy it again"),
            Self::BadMagic => f.write_str("not a key-ring update (expected magic PGRINGUP); check the path"),
            Self::UnsupportedVersion(v) => write!(f, "key-ring update version {v} is not supported (only {UPDATE_VERSION}); sign it with this tool"),
            Self::TooManyKeys(n) => write!(f, "key-ring update adds {n} keys (at most {MAX_RING_KEYS}); add fewer keys"),
            Self::TooManyRevoked(n) => write!(f, "key-ring update revokes {n} ids (at most {MAX_REVOKED}); revoke fewer ids"),
            Self::BadKey { index, error } => write!(f, "key-ring update key #{index}: {error}"),
            Self::BadRevokedId { index, error } => write!(f, "key-ring update revoked id #{index}: {error}"),
            Self::BadSignerId(e) => write!(f, "key-ring update signer id: {e}"),
            Self::TrailingBytes(n) => write!(f, "{n} unexpected bytes after the key-ring update's signature; the file is corrupt"),
            Self::DuplicateKeyId(id) => write!(f, "key-ring update adds key id `{id}` twice; list each key once"),
            Self::AddedKeyRevoked(id) => write!(f, "key-ring update adds key `{id}` whose id is revoked; give the new key a new id"),
            Self::UnknownSigner(id) => write!(f, "key-ring update signer `{id}` is not in the key ring; sign with a trusted key"),
            Self::RevokedSigner(id) => write!(f, "key-ring update signer `{id}` is revoked; sign with a current key"),
            Self::SignerNotFullAuthority(id) => write!(f, "key-ring update signer `{id}` lacks the `*` limit; sign with a full-authority key"),
            Self::BadSignature(e) => write!(f, "key-ring update signature: {e}"),
            Self::Stale { have, got } => write!(f, "key-ring update generation {got} is not above the applied generation {have}; sign a newer update"),
            Self::ConflictingKey(id) => write!(f, "key-ring update adds key `{id}` with a different public key than the trusted one; use a new id"),
            Self::Ring(e) => write!(f, "key-ring update: {e}"),
            Self::BufferTooSmall { needed, have } => write!(f, "key-ring update needs {needed} bytes but the buffer has {have}; pass a larger buffer"),
        }
    }
}

fn truncated(field: &'static str) -> UpdateError {
    UpdateError::Truncated { field }
}

/// A parsed update. Nothing in it is authenticated until [`apply`] checked the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingUpdate {
    /// The update's generation.
    pub generation: u32,
    /// The keys it adds, in order.
    pub add: heapless::Vec<PublicKey, MAX_RING_KEYS>,
    /// The key ids it revokes, in order.
    pub revoke: heapless::Vec<KeyId, MAX_REVOKED>,
    /// The id of the key that signed it.
    pub signer: KeyId,
    /// The Ed25519 signature (the last 64 bytes of the update).
    pub signature: [u8; SIGNATURE_LEN],
}

impl RingUpdate {
    /// Parses a `PGRINGUP` file and checks it is self-consistent; does not verify it.
    pub fn parse(bytes: &[u8]) -> Result<Self, UpdateError> {
        let mut r = Reader::new(bytes);
        read_header(&mut r)?;
        let generation = r.u32_le().ok_or(truncated("generation"))?;
        let add = read_keys(&mut r)?;
        let revoke = read_revoked(&mut r)?;
        let len = r.u8().ok_or(truncated("signer id length"))?;
        let raw = r.take(usize::from(len)).ok_or(truncated("signer id"))?;
        let signer = KeyId::from_bytes(raw).map_err(UpdateError::BadSignerId)?;
        let signature = r.array().ok_or(truncated("signature"))?;
        match r.remaining() {
            0 => {}
            n => return Err(UpdateError::TrailingBytes(n)),
        }
        check_consistent(&add, &revoke)?;
        Ok(Self {
            generation,
            add,
            revoke,
            signer,
            signature,
        })
    }
}

fn read_header(r: &mut Reader<'_>) -> Result<(), UpdateError> {
    if r.take(UPDATE_MAGIC.len()).ok_or(truncated("magic"))? != UPDATE_MAGIC {
        return Err(UpdateError::BadMagic);
    }
    match r.u16_le().ok_or(truncated("version"))? {
        UPDATE_VERSION => Ok(()),
        v => Err(UpdateError::UnsupportedVersion(v)),
    }
}

fn read_keys(r: &mut Reader<'_>) -> Result<heapless::Vec<PublicKey, MAX_RING_KEYS>, UpdateError> {
    let count = usize::from(r.u8().ok_or(truncated("key count"))?);
    if count > MAX_RING_KEYS {
        return Err(UpdateError::TooManyKeys(count));
    }
    let mut keys = heapless::Vec::new();
    for index in 0..count {
        let len = r.u16_le().ok_or(truncated("key length"))?;
        let file = r.take(usize::from(len)).ok_or(truncated("key"))?;
        let key = PublicKey::parse(file).map_err(|error| UpdateError::BadKey { index, error })?;
        keys.push(key)
            .map_err(|_| UpdateError::TooManyKeys(count))?;
    }
    Ok(keys)
}

fn read_revoked(r: &mut Reader<'_>) -> Result<heapless::Vec<KeyId, MAX_REVOKED>, UpdateError> {
    let count = usize::from(r.u8().ok_or(truncated("revoked count"))?);
    if count > MAX_REVOKED {
        return Err(UpdateError::TooManyRevoked(count));
    }
    let mut ids = heapless::Vec::new();
    for index in 0..count {
        let len = r.u8().ok_or(truncated("revoked id length"))?;
        let raw = r.take(usize::from(len)).ok_or(truncated("revoked id"))?;
        let id =
            KeyId::from_bytes(raw).map_err(|error| UpdateError::BadRevokedId { index, error })?;
        ids.push(id)
            .map_err(|_| UpdateError::TooManyRevoked(count))?;
    }
    Ok(ids)
}

/// No id added twice, and no added id also revoked by the same update.
fn check_consistent(add: &[PublicKey], revoke: &[KeyId]) -> Result<(), UpdateError> {
    for (index, key) in add.iter().enumerate() {
        if revoke.contains(key.id()) {
            return Err(UpdateError::AddedKeyRevoked(*key.id()));
        }
        let earlier = add.get(..index).unwrap_or_default();
        if earlier.iter().any(|k| k.id() == key.id()) {
            return Err(UpdateError::DuplicateKeyId(*key.id()));
        }
    }
    Ok(())
}

/// A verified update's result: the new key ring and the generation to persist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The key ring after the update.
    pub ring: KeyRing,
    /// The update's generation; the caller persists it as the new last generation.
    pub generation: u32,
}

/// Verifies `update_bytes` against `base` and returns the new ring: see the module rules.
pub fn apply(
    base: &KeyRing,
    update_bytes: &[u8],
    last_generation: u32,
) -> Result<Applied, UpdateError> {
    let update = RingUpdate::parse(update_bytes)?;
    let signer = authorised_signer(base, &update.signer)?;
    // `parse` checked that the signature is exactly the last SIGNATURE_LEN bytes.
    let signed_len = update_bytes.len().saturating_sub(SIGNATURE_LEN);
    let signed = update_bytes.get(..signed_len).unwrap_or_default();
    verify::verify_ring_update(signer, signed, &update.signature)
        .map_err(UpdateError::BadSignature)?;
    if update.generation <= last_generation {
        return Err(UpdateError::Stale {
            have: last_generation,
            got: update.generation,
        });
    }
    Ok(Applied {
        ring: merge(base, &update)?,
        generation: update.generation,
    })
}

/// The signer's key, if it may change the ring (not revoked, present, limit `*`).
fn authorised_signer<'a>(base: &'a KeyRing, id: &KeyId) -> Result<&'a PublicKey, UpdateError> {
    if base.is_revoked(id.as_str()) {
        return Err(UpdateError::RevokedSigner(*id));
    }
    let key = base
        .get(id.as_str())
        .ok_or(UpdateError::UnknownSigner(*id))?;
    let full = key
        .capability_limits()
        .iter()
        .any(|limit| limit.as_str() == CapKind::WILDCARD);
    match full {
        true => Ok(key),
        false => Err(UpdateError::SignerNotFullAuthority(*id)),
    }
}

/// The ring after `update`: all revocations, base keys not revoked, then added keys.
/// An added key already trusted under the same public key replaces it (its limits win).
fn merge(base: &KeyRing, update: &RingUpdate) -> Result<KeyRing, UpdateError> {
    let mut ring = KeyRing::new();
    for id in base.revoked().iter().chain(&update.revoke) {
        ring.revoke(*id).map_err(UpdateError::Ring)?;
    }
    for old in base.keys() {
        if ring.is_revoked(old.id().as_str()) {
            continue;
        }
        let key = match update.add.iter().find(|k| k.id() == old.id()) {
            Some(new) if new.key_bytes() != old.key_bytes() => {
                return Err(UpdateError::ConflictingKey(*new.id()))
            }
            Some(new) => new,
            None => old,
        };
        ring.add(key.clone()).map_err(UpdateError::Ring)?;
    }
    for key in &update.add {
        if ring.is_revoked(key.id().as_str()) {
            return Err(UpdateError::AddedKeyRevoked(*key.id()));
        }
        if ring.get(key.id().as_str()).is_none() {
            ring.add(key.clone()).map_err(UpdateError::Ring)?;
        }
    }
    Ok(ring)
}

/// Streams everything before the signature into `sink`.
fn write_body(
    sink: &mut impl Sink,
    generation: u32,
    add: &[PublicKey],
    revoke: &[KeyId],
    signer: &KeyId,
) {
    let count = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    sink.put(&UPDATE_MAGIC);
    sink.put(&UPDATE_VERSION.to_le_bytes());
    sink.put(&generation.to_le_bytes());
    sink.put(&[count(add.len())]);
    for key in add {
        let len = u16::try_from(key.encoded_len()).unwrap_or(u16::MAX);
        sink.put(&len.to_le_bytes());
        key.write(sink);
    }
    sink.put(&[count(revoke.len())]);
    for id in revoke {
        put_short(sink, id.as_bytes());
    }
    put_short(sink, signer.as_bytes());
}

/// Writes a signed update into `out` (host side); returns its length. The update is
/// refused here if [`apply`] would refuse it for its contents alone.
pub fn sign_update(
    secret: &SecretKey,
    generation: u32,
    add: &[PublicKey],
    revoke: &[KeyId],
    out: &mut [u8],
) -> Result<usize, UpdateError> {
    if add.len() > MAX_RING_KEYS {
        return Err(UpdateError::TooManyKeys(add.len()));
    }
    if revoke.len() > MAX_REVOKED {
        return Err(UpdateError::TooManyRevoked(revoke.len()));
    }
    check_consistent(add, revoke)?;
    let mut counter = Counter(0);
    write_body(&mut counter, generation, add, revoke, secret.id());
    let body = counter.0;
    let (needed, have) = (body.saturating_add(SIGNATURE_LEN), out.len());
    let too_small = UpdateError::BufferTooSmall { needed, have };
    if needed > have {
        return Err(too_small);
    }
    // The statement (domain, then body) is built in `out` first: the domain is shorter than
    // the signature, so it fits; then the body is moved down and the signature appended.
    let domain = KEYRING_DOMAIN.len();
    let statement = out.get_mut(..domain + body).ok_or(too_small)?;
    let (prefix, rest) = statement.split_at_mut(domain);
    prefix.copy_from_slice(KEYRING_DOMAIN);
    let mut w = Writer::new(rest);
    write_body(&mut w, generation, add, revoke, secret.id());
    let signature = verify::sign_bytes(secret, statement);
    statement.copy_within(domain.., 0);
    let tail = out.get_mut(body..needed).ok_or(too_small)?;
    tail.copy_from_slice(&signature);
    Ok(needed)
}
