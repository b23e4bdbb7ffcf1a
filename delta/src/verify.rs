//! The verifying pass: a whole delta file is checked (length, header, body SHA-256, part table)
//! before anything is decoded or written; then its signature under the system's policy.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use signing::{KeyRing, Policy, RingErrorKind};

use crate::error::DeltaError;
use crate::format::{Header, Kind, Part, HEADER_LEN, MANIFEST_PART, MAX_PARTS, PART_LEN};
use crate::io::ReadAt;

/// How much of the file is read at a time while hashing it.
pub const CHUNK: usize = 64 * 1024;

/// A delta file that passed the verifying pass: its header, its parts and where each payload lies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// The header.
    pub header: Header,
    /// The parts, in table order (ascending target offset).
    pub parts: Vec<Part>,
    /// Byte offset of each part's payload in the file.
    pub payload_at: Vec<u64>,
}

impl Delta {
    /// The index of the `manifest` part (the pass guarantees there is one).
    pub fn manifest_index(&self) -> usize {
        self.parts
            .iter()
            .position(|p| p.name == MANIFEST_PART)
            .unwrap_or(0)
    }
}

/// Reads and checks the whole file: refuses a cut, padded or damaged file before anything else.
pub fn verify_file<R: ReadAt>(src: &mut R) -> Result<Delta, DeltaError> {
    let have = src.size();
    let header = read_header(src, have)?;
    let need = (HEADER_LEN as u64).saturating_add(header.body_len);
    if have < need {
        return Err(DeltaError::Truncated { have, need });
    }
    if have > need {
        return Err(DeltaError::TrailingBytes { have, need });
    }
    let count = header.part_count;
    if count == 0 || count as usize > MAX_PARTS {
        return Err(DeltaError::BadPartCount { count });
    }
    let table_len = count as usize * PART_LEN;
    if table_len as u64 > header.body_len {
        let (parts, body) = (table_len as u64, header.body_len);
        return Err(DeltaError::BodyLengthMismatch { parts, body });
    }
    let table = hash_body(src, &header, table_len)?;
    let parts = decode_table(&table)?;
    let payload_at = check_layout(&header, &parts)?;
    Ok(Delta {
        header,
        parts,
        payload_at,
    })
}

fn read_header<R: ReadAt>(src: &mut R, have: u64) -> Result<Header, DeltaError> {
    if have < HEADER_LEN as u64 {
        return Err(DeltaError::Truncated {
            have,
            need: HEADER_LEN as u64,
        });
    }
    let mut b = [0u8; HEADER_LEN];
    src.read_at(0, &mut b).map_err(|_| io(0))?;
    Header::decode(&b)
}

fn io(offset: u64) -> DeltaError {
    DeltaError::Io {
        what: "delta file",
        offset,
    }
}

/// Hashes the body (everything after the header) and returns its first `table_len` bytes.
fn hash_body<R: ReadAt>(
    src: &mut R,
    header: &Header,
    table_len: usize,
) -> Result<Vec<u8>, DeltaError> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut table = Vec::with_capacity(table_len);
    let mut buf = alloc::vec![0u8; CHUNK];
    let (mut pos, end) = (HEADER_LEN as u64, HEADER_LEN as u64 + header.body_len);
    while pos < end {
        let n = usize::try_from(end - pos).unwrap_or(CHUNK).min(CHUNK);
        let chunk = &mut buf[..n];
        src.read_at(pos, chunk).map_err(|_| io(pos))?;
        hasher.update(&*chunk);
        let want = table_len.saturating_sub(table.len()).min(n);
        table.extend_from_slice(&chunk[..want]);
        pos += n as u64;
    }
    if <[u8; 32]>::from(hasher.finalize()) != header.body_sha256 {
        return Err(DeltaError::BodyDamaged);
    }
    Ok(table)
}

fn decode_table(table: &[u8]) -> Result<Vec<Part>, DeltaError> {
    let mut parts: Vec<Part> = Vec::new();
    let mut names = BTreeSet::new();
    for (i, entry) in table.chunks_exact(PART_LEN).enumerate() {
        let entry: &[u8; PART_LEN] = entry.try_into().map_err(|_| io(HEADER_LEN as u64))?;
        let part = Part::decode(i as u32, entry)?;
        if !names.insert(part.name.clone()) {
            return Err(DeltaError::DuplicatePart { name: part.name });
        }
        parts.push(part);
    }
    if !names.contains(MANIFEST_PART) {
        return Err(DeltaError::MissingManifest);
    }
    Ok(parts)
}

/// Checks the parts' places (ascending, disjoint, inside the slot) and that the payloads fill the
/// body exactly; returns each payload's file offset.
fn check_layout(header: &Header, parts: &[Part]) -> Result<Vec<u64>, DeltaError> {
    let mut at = HEADER_LEN as u64 + (parts.len() * PART_LEN) as u64;
    let mut payload_at = Vec::with_capacity(parts.len());
    let mut previous_end = 0u64;
    for part in parts {
        let end = part.target_offset.checked_add(part.target_len);
        match end {
            Some(end) if part.target_offset >= previous_end && end <= header.target_len => {
                previous_end = end
            }
            _ => {
                return Err(DeltaError::PartOutOfPlace {
                    name: part.name.clone(),
                })
            }
        }
        payload_at.push(at);
        at = at.saturating_add(part.payload_len);
    }
    let parts_len = at - HEADER_LEN as u64;
    if parts_len != header.body_len {
        return Err(DeltaError::BodyLengthMismatch {
            parts: parts_len,
            body: header.body_len,
        });
    }
    Ok(payload_at)
}

/// What the system requires of a delta before it is applied.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// `Enforce`: a missing or refused signature refuses the delta; `Permissive`: a warning.
    pub policy: Policy,
    /// The keys the system trusts (the kernel's enrolled ring).
    pub ring: &'a KeyRing,
    /// The system's rollback minimum: a delta with a lower security epoch is refused.
    pub min_epoch: u32,
}

/// How the delta's origin was established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// Signed by this trusted key.
    Signed(signing::KeyId),
    /// The signature is missing or refused, and the policy is permissive: the warning to log.
    Accepted(DeltaError),
}

/// Checks the delta's signature record against the ring; the policy decides what a refusal costs.
pub fn authenticate(header: &Header, rules: &Rules<'_>) -> Result<Authenticity, DeltaError> {
    let verdict = match &header.signature {
        None => Err(DeltaError::Unsigned),
        Some(rec) => {
            let key_id = rec.key_id.as_str();
            match rules
                .ring
                .check_delta(key_id, &header.header_sha256, &rec.signature)
            {
                Ok(()) => Ok(rec.key_id),
                Err(e) => Err(ring_error(key_id, e.reason)),
            }
        }
    };
    match (verdict, rules.policy) {
        (Ok(key), _) => Ok(Authenticity::Signed(key)),
        (Err(e), Policy::Enforce) => Err(e),
        (Err(e), Policy::Permissive) => Ok(Authenticity::Accepted(e)),
    }
}

fn ring_error(key_id: &str, reason: RingErrorKind<'_>) -> DeltaError {
    let key_id = alloc::string::String::from(key_id);
    match reason {
        RingErrorKind::UnknownKey => DeltaError::UntrustedKey { key_id },
        RingErrorKind::Revoked => DeltaError::RevokedKey { key_id },
        RingErrorKind::BadSignature(error) => DeltaError::BadSignature { key_id, error },
        // A delta signature grants no capability, so the ring never refuses one for it.
        RingErrorKind::CapabilityNotAllowed { .. } => DeltaError::BadSignature {
            key_id,
            error: signing::VerifyError::Mismatch,
        },
    }
}

/// Checks what needs the old slot's identity and the target's size: base, epoch, space.
pub fn check_fit(
    header: &Header,
    old_image_id: [u8; 16],
    capacity: u64,
    min_epoch: u32,
) -> Result<(), DeltaError> {
    if header.base_image_id != old_image_id {
        return Err(DeltaError::WrongBase {
            expected: header.base_image_id,
            found: old_image_id,
        });
    }
    if header.security_epoch < min_epoch {
        return Err(DeltaError::EpochRollback {
            delta: header.security_epoch,
            minimum: min_epoch,
        });
    }
    if header.target_len > capacity {
        return Err(DeltaError::NoSpace {
            need: header.target_len,
            capacity,
        });
    }
    Ok(())
}

/// Whether a part reuses bytes of the old slot.
pub fn reuses_old(part: &Part) -> bool {
    part.kind != Kind::Full
}
