//! Verified-boot groundwork: Ed25519 key files, signed statements and the trusted key ring.
//!
//! This crate holds the logic that the kernel (verifying) and the host tool (signing) will
//! share. Nothing uses it yet: no signature is checked at boot. The byte formats are
//! documented in `docs/security.md`.
//!
//! - [`keyfile`]: the public (`PGKEYPUB`) and secret (`PGKEYSEC`) key files.
//! - [`statement`]: the canonical byte strings that are signed for a manifest entry and for
//!   a whole manifest.
//! - [`verify`]: strict Ed25519 verification (and signing) of those statements.
//! - [`ring`]: a fixed-capacity ring of trusted keys with capability limits and revocations.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
pub mod ident;
pub mod keyfile;
pub mod ring;
pub mod statement;
pub mod verify;

#[cfg(test)]
mod tests;

pub use ident::{CapKind, IdentError, KeyId};
pub use keyfile::{KeyError, PublicKey, SecretKey};
pub use ring::{KeyRing, RingError, RingErrorKind, RingSetupError};
pub use statement::{entry_statement, entry_statement_len, manifest_statement, StatementError};
pub use verify::{sign_entry, sign_manifest, verify_entry, verify_manifest, VerifyError};

/// The length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// The length of a SHA-256 digest in bytes.
pub const SHA256_LEN: usize = 32;
