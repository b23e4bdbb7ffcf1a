//! `DeltaError`: every way a delta file or its application is refused, one actionable line each.

use alloc::string::String;
use core::fmt;

/// What is wrong with one part entry on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartProblem {
    /// The kind byte is not 1 (copy), 2 (full) or 3 (patch).
    UnknownKind(u8),
    /// A reserved byte of the entry is not zero.
    ReservedNotZero,
    /// The name is empty, not UTF-8, holds a zero byte or has non-zero bytes after its end.
    BadName,
    /// A region length is 0 or over [`crate::format::MAX_REGION_LEN`].
    BadLength,
    /// A copy part whose source length or SHA-256 differs from its target's.
    CopyChangesBytes,
    /// A full part that names a source region.
    FullWithSource,
    /// The payload length does not suit the kind (copy: 0; full: > 0; patch: at least its header).
    BadPayloadLength,
}

impl fmt::Display for PartProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownKind(k) => write!(f, "kind {k} is not copy (1), full (2) or patch (3)"),
            Self::ReservedNotZero => f.write_str("a reserved byte is not zero"),
            Self::BadName => f.write_str("the name is not 1..=32 bytes of UTF-8 padded with zeros"),
            Self::BadLength => write!(
                f,
                "a region length is 0 or over {} bytes",
                crate::format::MAX_REGION_LEN
            ),
            Self::CopyChangesBytes => {
                f.write_str("a copy part's source and target differ in length or SHA-256")
            }
            Self::FullWithSource => f.write_str("a full part names a source region"),
            Self::BadPayloadLength => {
                f.write_str("the payload length does not suit the part's kind")
            }
        }
    }
}

/// Why a delta was refused. Every variant displays one line: what, where, what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaError {
    /// Reading the delta file, the old slot, or writing the target failed.
    Io {
        /// `delta file`, `old slot` or `target slot`.
        what: &'static str,
        /// Byte offset of the failed access.
        offset: u64,
    },
    /// The file is shorter than its header says (or than a header): a cut download.
    Truncated {
        /// Bytes the file has.
        have: u64,
        /// Bytes it must have.
        need: u64,
    },
    /// The file is longer than its header says.
    TrailingBytes {
        /// Bytes the file has.
        have: u64,
        /// Bytes it must have.
        need: u64,
    },
    /// The file does not start with `PGDELTA1`.
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// A format version this crate does not read.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// Header bytes 0..104 do not match the header's SHA-256.
    HeaderDamaged,
    /// The part table and payloads do not match the header's body SHA-256.
    BodyDamaged,
    /// A reserved header byte is not zero.
    ReservedNotZero {
        /// Byte offset in the header.
        offset: u64,
    },
    /// The signature record (header bytes 136..240) is neither zero nor a well-formed record.
    BadSignatureRecord,
    /// The header announces no parts or more than [`crate::format::MAX_PARTS`].
    BadPartCount {
        /// The count found.
        count: u32,
    },
    /// A part entry is malformed on its own.
    BadPart {
        /// Its position in the table, from 0.
        index: u32,
        /// What is wrong.
        problem: PartProblem,
    },
    /// Two parts share a name.
    DuplicatePart {
        /// The name.
        name: String,
    },
    /// A part's target region leaves the target slot or overlaps the part before it.
    PartOutOfPlace {
        /// The part's name.
        name: String,
    },
    /// The table and payload lengths do not add up to the header's body length.
    BodyLengthMismatch {
        /// Table plus payload bytes.
        parts: u64,
        /// The header's body length.
        body: u64,
    },
    /// No part is named `manifest`: a delta must carry the new slot's manifest.
    MissingManifest,
    /// The `manifest` part does not give the header's target image id.
    TargetIdMismatch,
    /// Policy enforce and the delta carries no signature.
    Unsigned,
    /// The signing key is not in the trusted key ring.
    UntrustedKey {
        /// The key id of the record.
        key_id: String,
    },
    /// The signing key is revoked.
    RevokedKey {
        /// The key id of the record.
        key_id: String,
    },
    /// The signature does not verify.
    BadSignature {
        /// The key id of the record.
        key_id: String,
        /// Why.
        error: signing::VerifyError,
    },
    /// The delta was made against another image than the old slot holds.
    WrongBase {
        /// The base image id the delta names.
        expected: [u8; 16],
        /// The old slot's image id.
        found: [u8; 16],
    },
    /// The delta's security epoch is below the system's rollback minimum.
    EpochRollback {
        /// The delta's epoch.
        delta: u32,
        /// The minimum in force.
        minimum: u32,
    },
    /// The target slot is smaller than the new slot.
    NoSpace {
        /// Bytes the new slot spans.
        need: u64,
        /// Bytes the target slot holds.
        capacity: u64,
    },
    /// The old slot has no region a part reuses.
    SourceMissing {
        /// The part's name.
        name: String,
    },
    /// The old slot's region differs (length or manifest SHA-256) from the one the delta was made against.
    SourceMismatch {
        /// The part's name.
        name: String,
    },
    /// The old slot's region bytes do not match their SHA-256: the old slot is damaged.
    SourceDamaged {
        /// The part's name.
        name: String,
    },
    /// A payload does not decode (bad zstd frame, patch control out of range, wrong length).
    BadPayload {
        /// The part's name.
        name: String,
        /// What went wrong.
        detail: &'static str,
    },
    /// A produced region does not match its SHA-256.
    OutputMismatch {
        /// The part's name.
        name: String,
    },
}

fn hex16(f: &mut fmt::Formatter<'_>, id: &[u8; 16]) -> fmt::Result {
    id.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_file(f)
    }
}

impl DeltaError {
    fn fmt_file(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { what, offset } => write!(f, "delta: I/O error on the {what} at byte {offset}; check the device and retry"),
            Self::Truncated { have, need } => write!(f, "delta: the file is cut short ({have} of {need} bytes): download it again"),
            Self::TrailingBytes { have, need } => write!(f, "delta: the file has {have} bytes, its header says {need}: download it again"),
            Self::BadMagic { found } => write!(f, "delta: magic is {found:02x?}, not \"PGDELTA1\": this is not a PandaGen delta update"),
            Self::UnsupportedVersion { found } => write!(f, "delta: format version {found} is not supported (this system reads version {}); use a matching delta", crate::format::VERSION),
            Self::HeaderDamaged => f.write_str("delta: the header does not match its SHA-256: the file is damaged, download it again"),
            Self::BodyDamaged => f.write_str("delta: the parts do not match the header's SHA-256: the file is damaged, download it again"),
            Self::ReservedNotZero { offset } => write!(f, "delta: header byte {offset} is reserved and must be zero: the file is damaged or newer than this system"),
            Self::BadSignatureRecord => f.write_str("delta: the signature record (header bytes 136..240) is malformed: re-sign the delta"),
            Self::BadPartCount { count } => write!(f, "delta: the header announces {count} parts, 1..={} are allowed: rebuild the delta", crate::format::MAX_PARTS),
            Self::BadPart { index, problem } => write!(f, "delta: part {index}: {problem}: rebuild the delta"),
            _ => self.fmt_parts(f),
        }
    }

    fn fmt_parts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicatePart { name } => write!(f, "delta: two parts are named `{name}`: rebuild the delta"),
            Self::PartOutOfPlace { name } => write!(f, "delta: part `{name}` lies outside the target slot or overlaps the part before it: rebuild the delta"),
            Self::BodyLengthMismatch { parts, body } => write!(f, "delta: the part table and payloads take {parts} bytes, the header says {body}: rebuild the delta"),
            Self::MissingManifest => f.write_str("delta: no part is named `manifest`: a delta must carry the new slot's manifest; rebuild it"),
            Self::TargetIdMismatch => f.write_str("delta: the `manifest` part does not give the header's target image id: rebuild the delta"),
            Self::Unsigned => f.write_str("delta: not signed (policy enforce refuses it): sign it with `--sign-key` and a key in the system's key ring"),
            Self::UntrustedKey { key_id } => write!(f, "delta: signed by key `{key_id}`, which is not in the key ring: sign it with a trusted key"),
            Self::RevokedKey { key_id } => write!(f, "delta: signed by key `{key_id}`, which is revoked: re-sign it with a current key"),
            Self::BadSignature { key_id, error } => write!(f, "delta: the signature by key `{key_id}` is refused: {error}"),
            Self::EpochRollback { delta, minimum } => write!(f, "delta: security epoch {delta} is below this system's minimum {minimum}: an older system cannot be installed; use a newer delta"),
            Self::NoSpace { need, capacity } => write!(f, "delta: the new slot needs {need} bytes, the target slot holds {capacity}: rebuild the image with a larger slot or install a full image"),
            _ => self.fmt_regions(f),
        }
    }

    fn fmt_regions(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SourceMissing { name } => write!(f, "delta: part `{name}` reuses the old slot's `{name}`, which it does not have: make the delta from the image this slot runs"),
            Self::SourceMismatch { name } => write!(f, "delta: the old slot's `{name}` is not the one the delta was made against: make the delta from the image this slot runs"),
            Self::SourceDamaged { name } => write!(f, "delta: the old slot's `{name}` does not match its SHA-256: the running slot is damaged; install a full image"),
            Self::BadPayload { name, detail } => write!(f, "delta: part `{name}`: {detail}: rebuild the delta"),
            Self::OutputMismatch { name } => write!(f, "delta: part `{name}` produced bytes that do not match its SHA-256: rebuild the delta"),
            Self::WrongBase { expected, found } => {
                f.write_str("delta: made against image ")?;
                hex16(f, expected)?;
                f.write_str(", the old slot holds image ")?;
                hex16(f, found)?;
                f.write_str(": make the delta from the image this slot runs, or install the full image")
            }
            // Every other variant was printed by `fmt_file` or `fmt_parts` (the tests print them all).
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
