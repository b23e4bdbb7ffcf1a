//! The canonical byte strings that are signed: one manifest entry, or a whole manifest.
//!
//! Entry statement (all lengths little-endian):
//! `"PANDAGEN-ENTRY-v1\0"`, name length u16 + name, SHA-256 of the binary (32 bytes),
//! capability count u16, then per capability its length u16 + bytes, in declared order.
//! Manifest statement: `"PANDAGEN-MANIFEST-v1\0"` followed by the 32-byte SHA-256 of the
//! manifest bytes (the verifier hashes exactly the bytes it parses).
//! A key-ring update is signed over [`KEYRING_DOMAIN`] followed by its bytes
//! (see [`crate::update`]).

use core::fmt;

use crate::bytes::{Counter, Sink, Writer};
use crate::SHA256_LEN;

/// Domain-separation prefix of an entry statement.
pub const ENTRY_DOMAIN: &[u8] = b"PANDAGEN-ENTRY-v1\0";
/// Domain-separation prefix of a manifest statement.
pub const MANIFEST_DOMAIN: &[u8] = b"PANDAGEN-MANIFEST-v1\0";
/// Domain-separation prefix of a key-ring update statement.
pub const KEYRING_DOMAIN: &[u8] = b"PANDAGEN-KEYRING-v1\0";
/// The length of a manifest statement: the 21-byte prefix and a SHA-256 digest.
pub const MANIFEST_STATEMENT_LEN: usize = MANIFEST_DOMAIN.len() + SHA256_LEN;
/// Domain-separation prefix of a delta update statement (`docs/update-format.md`).
pub const DELTA_DOMAIN: &[u8] = b"PANDAGEN-DELTA-v1\0";
/// The length of a delta statement: the 18-byte prefix and the delta header's SHA-256.
pub const DELTA_STATEMENT_LEN: usize = DELTA_DOMAIN.len() + SHA256_LEN;

/// Why a statement could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatementError {
    /// The entry name is empty.
    EmptyName,
    /// The entry name is longer than 65535 bytes.
    NameTooLong(usize),
    /// More than 65535 capabilities.
    TooManyCapabilities(usize),
    /// A capability string is empty.
    EmptyCapability {
        /// Its position in the declared list, from 0.
        index: usize,
    },
    /// A capability string is longer than 65535 bytes.
    CapabilityTooLong {
        /// Its position in the declared list, from 0.
        index: usize,
    },
    /// The output buffer is too small for the statement.
    BufferTooSmall {
        /// Bytes the statement needs.
        needed: usize,
        /// Bytes the buffer has.
        have: usize,
    },
}

impl fmt::Display for StatementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => {
                f.write_str("manifest entry has an empty name; give every entry a name")
            }
            Self::NameTooLong(n) => {
                write!(f, "entry name is {n} bytes (at most 65535); shorten it")
            }
            Self::TooManyCapabilities(n) => write!(
                f,
                "entry declares {n} capabilities (at most 65535); split it"
            ),
            Self::EmptyCapability { index } => write!(
                f,
                "declared capability #{index} is empty; remove it or name its kind"
            ),
            Self::CapabilityTooLong { index } => write!(
                f,
                "declared capability #{index} is over 65535 bytes; shorten it"
            ),
            Self::BufferTooSmall { needed, have } => write!(
                f,
                "statement needs {needed} bytes but the buffer has {have}; pass a larger buffer"
            ),
        }
    }
}

fn u16_len(len: usize) -> Option<[u8; 2]> {
    u16::try_from(len).ok().map(u16::to_le_bytes)
}

fn check_entry(name: &str, caps: &[&str]) -> Result<(), StatementError> {
    if name.is_empty() {
        return Err(StatementError::EmptyName);
    }
    u16_len(name.len()).ok_or(StatementError::NameTooLong(name.len()))?;
    u16_len(caps.len()).ok_or(StatementError::TooManyCapabilities(caps.len()))?;
    for (index, cap) in caps.iter().enumerate() {
        if cap.is_empty() {
            return Err(StatementError::EmptyCapability { index });
        }
        u16_len(cap.len()).ok_or(StatementError::CapabilityTooLong { index })?;
    }
    Ok(())
}

fn put_field(sink: &mut impl Sink, bytes: &[u8]) {
    // Lengths were checked by `check_entry`; the fallback is never reached.
    sink.put(&u16_len(bytes.len()).unwrap_or([0xff, 0xff]));
    sink.put(bytes);
}

/// Validates the entry, then streams its statement into `sink`.
pub(crate) fn write_entry(
    sink: &mut impl Sink,
    name: &str,
    sha256: &[u8; SHA256_LEN],
    caps: &[&str],
) -> Result<(), StatementError> {
    check_entry(name, caps)?;
    sink.put(ENTRY_DOMAIN);
    put_field(sink, name.as_bytes());
    sink.put(sha256);
    sink.put(&u16_len(caps.len()).unwrap_or([0xff, 0xff]));
    for cap in caps {
        put_field(sink, cap.as_bytes());
    }
    Ok(())
}

/// Streams the statement of a whole manifest (given its SHA-256) into `sink`.
pub(crate) fn write_manifest(sink: &mut impl Sink, sha256: &[u8; SHA256_LEN]) {
    sink.put(MANIFEST_DOMAIN);
    sink.put(sha256);
}

pub(crate) fn write_delta(sink: &mut impl Sink, header_sha256: &[u8; SHA256_LEN]) {
    sink.put(DELTA_DOMAIN);
    sink.put(header_sha256);
}

/// The statement of a delta update: the prefix, then `header_sha256`, the SHA-256 the
/// delta's header carries over its own signed bytes (which include the SHA-256 of
/// everything after the header).
pub fn delta_statement(header_sha256: &[u8; SHA256_LEN]) -> [u8; DELTA_STATEMENT_LEN] {
    let mut out = [0u8; DELTA_STATEMENT_LEN];
    let mut w = Writer::new(&mut out);
    write_delta(&mut w, header_sha256);
    out
}

/// The length in bytes of the statement of one manifest entry.
pub fn entry_statement_len(name: &str, caps: &[&str]) -> Result<usize, StatementError> {
    let mut counter = Counter(0);
    write_entry(&mut counter, name, &[0; SHA256_LEN], caps)?;
    Ok(counter.0)
}

/// Writes the statement of one manifest entry into `out`; returns its length.
pub fn entry_statement(
    name: &str,
    sha256: &[u8; SHA256_LEN],
    caps: &[&str],
    out: &mut [u8],
) -> Result<usize, StatementError> {
    let needed = entry_statement_len(name, caps)?;
    let have = out.len();
    if needed > have {
        return Err(StatementError::BufferTooSmall { needed, have });
    }
    let mut w = Writer::new(out);
    write_entry(&mut w, name, sha256, caps)?;
    Ok(w.position())
}

/// The statement of a whole manifest: the prefix, then `sha256`, the SHA-256 of the
/// manifest bytes.
pub fn manifest_statement(sha256: &[u8; SHA256_LEN]) -> [u8; MANIFEST_STATEMENT_LEN] {
    let mut out = [0u8; MANIFEST_STATEMENT_LEN];
    let mut w = Writer::new(&mut out);
    write_manifest(&mut w, sha256);
    out
}
