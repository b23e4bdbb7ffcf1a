//! The key ring: the trusted public keys (each with capability limits) and revoked key ids.
//!
//! Rules of [`KeyRing::check_entry`], in order: a revoked key id is refused (even if the key
//! is also in the ring); an id not in the ring is refused; the entry signature must verify
//! strictly; every declared capability's kind must be allowed by the key (`*` allows all).

use core::fmt;

use crate::ident::KeyId;
use crate::keyfile::PublicKey;
use crate::verify::{self, VerifyError};
use crate::{SHA256_LEN, SIGNATURE_LEN};

/// The most trusted keys one ring holds.
pub const MAX_RING_KEYS: usize = 8;
/// The most revoked key ids one ring holds.
pub const MAX_REVOKED: usize = 16;

/// Why a key or a revocation could not be added to the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingSetupError {
    /// The ring already holds [`MAX_RING_KEYS`] keys.
    Full,
    /// The ring already holds [`MAX_REVOKED`] revoked ids.
    RevocationListFull,
    /// A key with this id is already in the ring.
    DuplicateKeyId(KeyId),
}

impl fmt::Display for RingSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => write!(
                f,
                "key ring is full ({MAX_RING_KEYS} keys); drop an unused key first"
            ),
            Self::RevocationListFull => write!(
                f,
                "revocation list is full ({MAX_REVOKED} ids); retire old revoked ids first"
            ),
            Self::DuplicateKeyId(id) => write!(
                f,
                "key id `{id}` is already in the key ring; give the new key another id"
            ),
        }
    }
}

/// Why the ring refused an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingErrorKind<'a> {
    /// No key with this id is in the ring.
    UnknownKey,
    /// The key id is revoked.
    Revoked,
    /// The signature did not verify (or the entry could not be formed into a statement).
    BadSignature(VerifyError),
    /// The entry declares a capability whose kind the key may not grant.
    CapabilityNotAllowed {
        /// The declared capability, as written in the entry.
        capability: &'a str,
    },
}

/// An entry the ring refused: which entry, which key id, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingError<'a> {
    /// The entry name (`(manifest)` for a whole-manifest signature).
    pub entry: &'a str,
    /// The key id the entry claims to be signed with.
    pub key_id: &'a str,
    /// Why it was refused.
    pub reason: RingErrorKind<'a>,
}

impl fmt::Display for RingError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entry, key) = (self.entry, self.key_id);
        match self.reason {
            RingErrorKind::UnknownKey => write!(f, "entry `{entry}`: key `{key}` is not in the key ring; sign with a trusted key"),
            RingErrorKind::Revoked => write!(f, "entry `{entry}`: key `{key}` is revoked; re-sign with a current key"),
            RingErrorKind::BadSignature(e) => write!(f, "entry `{entry}`, key `{key}`: {e}"),
            RingErrorKind::CapabilityNotAllowed { capability } => write!(
                f,
                "entry `{entry}`: key `{key}` may not grant capability `{capability}`; sign with a key allowed its kind"
            ),
        }
    }
}

/// Trusted public keys and revoked key ids, fixed capacity, no allocation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRing {
    keys: heapless::Vec<PublicKey, MAX_RING_KEYS>,
    revoked: heapless::Vec<KeyId, MAX_REVOKED>,
}

impl KeyRing {
    /// An empty ring (it trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a trusted key; its id must not already be in the ring.
    pub fn add(&mut self, key: PublicKey) -> Result<(), RingSetupError> {
        if self.get(key.id().as_str()).is_some() {
            return Err(RingSetupError::DuplicateKeyId(*key.id()));
        }
        self.keys.push(key).map_err(|_| RingSetupError::Full)
    }

    /// Revokes a key id: entries claiming it are refused from now on.
    pub fn revoke(&mut self, id: KeyId) -> Result<(), RingSetupError> {
        if self.revoked.contains(&id) {
            return Ok(());
        }
        self.revoked
            .push(id)
            .map_err(|_| RingSetupError::RevocationListFull)
    }

    /// Whether `key_id` is revoked.
    pub fn is_revoked(&self, key_id: &str) -> bool {
        self.revoked.iter().any(|id| id.as_str() == key_id)
    }

    /// The trusted key with this id, if any.
    pub fn get(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.id().as_str() == key_id)
    }

    /// The trusted keys, in insertion order.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// The revoked key ids, in the order they were revoked.
    pub fn revoked(&self) -> &[KeyId] {
        &self.revoked
    }

    /// The usable (present, not revoked) key for `key_id`.
    fn usable<'a>(&self, key_id: &'a str, entry: &'a str) -> Result<&PublicKey, RingError<'a>> {
        let refuse = |reason| RingError {
            entry,
            key_id,
            reason,
        };
        if self.is_revoked(key_id) {
            return Err(refuse(RingErrorKind::Revoked));
        }
        self.get(key_id).ok_or(refuse(RingErrorKind::UnknownKey))
    }

    /// Checks one manifest entry signed by `key_id`: see the module rules.
    pub fn check_entry<'a>(
        &self,
        key_id: &'a str,
        name: &'a str,
        sha256: &[u8; SHA256_LEN],
        caps: &[&'a str],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), RingError<'a>> {
        let refuse = |reason| RingError {
            entry: name,
            key_id,
            reason,
        };
        let key = self.usable(key_id, name)?;
        verify::verify_entry(key, name, sha256, caps, signature)
            .map_err(|e| refuse(RingErrorKind::BadSignature(e)))?;
        match caps.iter().find(|cap| !key.allows(cap)) {
            Some(capability) => Err(refuse(RingErrorKind::CapabilityNotAllowed { capability })),
            None => Ok(()),
        }
    }

    /// Checks a whole-manifest signature by `key_id` (revocation, presence, signature);
    /// `sha256` is the SHA-256 of the manifest bytes, computed while parsing them.
    ///
    /// Capability limits are not applied here: a manifest signature alone grants no
    /// capability; each entry still needs its own entry signature.
    pub fn check_manifest<'a>(
        &self,
        key_id: &'a str,
        sha256: &[u8; SHA256_LEN],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), RingError<'a>> {
        let entry = "(manifest)";
        let key = self.usable(key_id, entry)?;
        verify::verify_manifest(key, sha256, signature).map_err(|e| RingError {
            entry,
            key_id,
            reason: RingErrorKind::BadSignature(e),
        })
    }

    /// Checks a delta update's signature by `key_id` (revocation, presence, signature);
    /// `header_sha256` is the SHA-256 the delta header carries over its signed bytes.
    pub fn check_delta<'a>(
        &self,
        key_id: &'a str,
        header_sha256: &[u8; SHA256_LEN],
        signature: &[u8; SIGNATURE_LEN],
    ) -> Result<(), RingError<'a>> {
        let entry = "(delta update)";
        let key = self.usable(key_id, entry)?;
        verify::verify_delta(key, header_sha256, signature).map_err(|e| RingError {
            entry,
            key_id,
            reason: RingErrorKind::BadSignature(e),
        })
    }
}
