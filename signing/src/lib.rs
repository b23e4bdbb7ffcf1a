//! Verified boot: Ed25519 key files, signed statements, the trusted key ring and the image check.
//!
//! This crate holds the logic that the kernel (verifying) and the host tool (signing and
//! `verify`) share, so they cannot disagree. The byte formats are documented in
//! `docs/security.md`.
//!
//! - [`image`]: the check of a whole image (manifest signature, then each entry's) that the
//!   kernel runs at boot and `cargo xtask verify` runs on the host.
//!
//! - [`keyfile`]: the public (`PGKEYPUB`) and secret (`PGKEYSEC`) key files.
//! - [`statement`]: the canonical byte strings that are signed for a manifest entry, for a
//!   whole manifest (over its SHA-256) and for a key-ring update.
//! - [`verify`]: strict Ed25519 verification (and signing) of those statements.
//! - [`ring`]: a fixed-capacity ring of trusted keys with capability limits and revocations.
//! - [`trust`]: the trust block (boot policy and key ring) the host tool writes into the
//!   kernel binary at build time.
//! - [`update`]: signed key-ring updates (`PGRINGUP`) that change the ring without
//!   rebuilding the kernel.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
pub mod ident;
pub mod image;
pub mod keyfile;
pub mod ring;
pub mod statement;
pub mod trust;
pub mod update;
pub mod verify;

#[cfg(test)]
mod tests;

pub use ident::{CapKind, IdentError, KeyId};
pub use keyfile::{KeyError, PublicKey, SecretKey};
pub use ring::{KeyRing, RingError, RingErrorKind, RingSetupError};
pub use statement::{
    delta_statement, entry_statement, entry_statement_len, manifest_statement, StatementError,
    DELTA_STATEMENT_LEN, MANIFEST_STATEMENT_LEN,
};
pub use trust::{
    find_enrolled, find_placeholder, placeholder, Policy, Trust, TrustError, TRUST_LEN,
};
pub use update::{sign_update, Applied, RingUpdate, UpdateError};
pub use verify::{
    sign_delta, sign_entry, sign_manifest, verify_delta, verify_entry, verify_manifest, VerifyError,
};

/// The length of an Ed25519 signature in bytes.
pub const SIGNATURE_LEN: usize = 64;
/// The length of a SHA-256 digest in bytes.
pub const SHA256_LEN: usize = 32;
