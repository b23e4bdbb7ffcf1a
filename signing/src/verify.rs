//! Strict Ed25519 verification of statements, and (for the host tool) signing.
//!
//! Verification uses `ed25519-compact`'s `PublicKey::verify`, which is always strict: it
//! rejects a non-canonical `S` (`S >= L`, the malleability fix), non-canonical encodings of
//! `A` and `R`, and small-order `A` and `R`. Key files are additionally validated when
//! parsed, so a weak key is refused at load time rather than at first use.
//! Statements are streamed into the verifier, so verifying needs no buffer.

use core::fmt;

use ed25519_compact as ed;

use crate::bytes::Sink;
use crate::keyfile::{PublicKey, SecretKey};
use crate::statement::{self, StatementError};
use crate::{SHA256_LEN, SIGNATURE_LEN};

/// Why a signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The signed statement could not be formed from the inputs.
    Statement(StatementError),
    /// The signature is malformed (non-canonical `S`, or `R` not a valid point).
    MalformedSignature,
    /// The public key is invalid or of small order.
    BadKey,
    /// The signature is well-formed but does not match this key and statement.
    Mismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Statement(e) => write!(f, "cannot form the signed statement: {e}"),
            Self::MalformedSignature => f.write_str("signature is malformed or non-canonical; re-sign with the host tool"),
            Self::BadKey => f.write_str("public key is invalid or weak; remove it from the key ring"),
            Self::Mismatch => f.write_str("signature does not match the key and the signed data; the data changed or the wrong key was used"),
        }
    }
}

impl From<StatementError> for VerifyError {
    fn from(e: StatementError) -> Self {
        Self::Statement(e)
    }
}

fn map_ed(e: ed::Error) -> VerifyError {
    match e {
        ed::Error::WeakPublicKey | ed::Error::InvalidPublicKey => VerifyError::BadKey,
        ed::Error::SignatureMismatch => VerifyError::Mismatch,
        _ => VerifyError::MalformedSignature,
    }
}

impl Sink for ed::VerifyingState {
    fn put(&mut self, bytes: &[u8]) {
        self.absorb(bytes);
    }
}

/// Starts a strict streaming verification of `signature` under `key`.
fn start(
    key: &ed::PublicKey,
    signature: &[u8; SIGNATURE_LEN],
) -> Result<ed::VerifyingState, VerifyError> {
    key.verify_incremental(&ed::Signature::new(*signature))
        .map_err(map_ed)
}

/// Verifies `signature` over raw `message` bytes (strict; used for test vectors).
#[cfg(test)]
pub(crate) fn verify_raw(
    key: &ed::PublicKey,
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), VerifyError> {
    let mut st = start(key, signature)?;
    st.absorb(message);
    st.verify().map_err(map_ed)
}

/// Verifies `signature` over the statement of one manifest entry.
pub fn verify_entry(
    public: &PublicKey,
    name: &str,
    sha256: &[u8; SHA256_LEN],
    caps: &[&str],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), VerifyError> {
    // Check the statement first so that a bad entry is reported as such, not as a bad signature.
    statement::entry_statement_len(name, caps)?;
    let mut st = start(public.ed(), signature)?;
    statement::write_entry(&mut st, name, sha256, caps)?;
    st.verify().map_err(map_ed)
}

/// Verifies `signature` over the statement of a whole manifest whose SHA-256 is `sha256`.
pub fn verify_manifest(
    public: &PublicKey,
    sha256: &[u8; SHA256_LEN],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), VerifyError> {
    let mut st = start(public.ed(), signature)?;
    statement::write_manifest(&mut st, sha256);
    st.verify().map_err(map_ed)
}

/// Verifies `signature` over the statement of a delta update whose header SHA-256 is
/// `header_sha256`.
pub fn verify_delta(
    public: &PublicKey,
    header_sha256: &[u8; SHA256_LEN],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), VerifyError> {
    let mut st = start(public.ed(), signature)?;
    statement::write_delta(&mut st, header_sha256);
    st.verify().map_err(map_ed)
}

/// Verifies `signature` over a key-ring update statement: the domain, then `signed`.
pub(crate) fn verify_ring_update(
    public: &PublicKey,
    signed: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<(), VerifyError> {
    let mut st = start(public.ed(), signature)?;
    st.absorb(statement::KEYRING_DOMAIN);
    st.absorb(signed);
    st.verify().map_err(map_ed)
}

/// Signs raw bytes deterministically (RFC 8032: no randomness, same input, same signature).
pub(crate) fn sign_bytes(secret: &SecretKey, message: &[u8]) -> [u8; SIGNATURE_LEN] {
    *secret.ed().sign(message, None)
}

/// Signs the statement of one manifest entry (host side). `scratch` must hold the
/// statement ([`statement::entry_statement_len`] bytes); signatures are deterministic.
pub fn sign_entry(
    secret: &SecretKey,
    name: &str,
    sha256: &[u8; SHA256_LEN],
    caps: &[&str],
    scratch: &mut [u8],
) -> Result<[u8; SIGNATURE_LEN], StatementError> {
    let len = statement::entry_statement(name, sha256, caps, scratch)?;
    Ok(sign_bytes(secret, scratch.get(..len).unwrap_or_default()))
}

/// Signs the statement of a whole manifest whose SHA-256 is `sha256` (host side);
/// signatures are deterministic.
pub fn sign_manifest(secret: &SecretKey, sha256: &[u8; SHA256_LEN]) -> [u8; SIGNATURE_LEN] {
    sign_bytes(secret, &statement::manifest_statement(sha256))
}

/// Signs the statement of a delta update whose header SHA-256 is `header_sha256` (host
/// side); signatures are deterministic.
pub fn sign_delta(secret: &SecretKey, header_sha256: &[u8; SHA256_LEN]) -> [u8; SIGNATURE_LEN] {
    sign_bytes(secret, &statement::delta_statement(header_sha256))
}
