//! The bytes of a `PGDELTA1` file: the 256-byte header and the 176-byte part entries (docs/update-format.md).

use alloc::string::String;

use crate::error::{DeltaError, PartProblem};

/// The file's first eight bytes.
pub const MAGIC: [u8; 8] = *b"PGDELTA1";
/// The only format version this crate reads and writes.
pub const VERSION: u32 = 1;
/// Length of the header, in bytes.
pub const HEADER_LEN: usize = 256;
/// Header bytes `0..SIGNED_LEN` are covered by the header SHA-256 (and so by the signature).
pub const SIGNED_LEN: usize = 104;
/// Where the header SHA-256 (of bytes `0..SIGNED_LEN`) lies.
pub const HEADER_SUM_AT: usize = SIGNED_LEN;
/// Where the signature record lies (all zero when unsigned).
pub const SIG_AT: usize = HEADER_SUM_AT + 32;
/// The signature record's first eight bytes.
pub const SIG_MAGIC: [u8; 8] = *b"PGDLTSIG";
/// Longest signer key id (the signing crate's identifier limit).
pub const MAX_KEY_ID: usize = 32;
/// One past the signature record's last byte.
pub const SIG_END: usize = SIG_AT + 8 + MAX_KEY_ID + signing::SIGNATURE_LEN;
/// Length of one part entry in the part table.
pub const PART_LEN: usize = 176;
/// Most parts one delta may carry (a slot has at most 32 entries, the kernel, the manifest and block 0).
pub const MAX_PARTS: usize = 64;
/// Longest region (target, source) one part may describe: bounds what the applier allocates.
pub const MAX_REGION_LEN: u64 = 256 << 20;
/// Longest part name (a manifest entry name is at most this long).
pub const MAX_NAME: usize = loader::manifest::MAX_NAME;
/// The name of the part that carries the new slot's manifest.
pub const MANIFEST_PART: &str = "manifest";
/// Length of a patch payload's own header (three stream lengths and the control count).
pub const PATCH_HEADER_LEN: usize = 32;
/// Length of one decoded control triple of a patch.
pub const CONTROL_LEN: usize = 24;
/// The largest window a payload's zstd frame may declare (its Window_Descriptor): 1 MiB, so a
/// decoder needs about that much per open stream (three for a patch) whatever the region's
/// size. The encoder compresses with a window log of at most 20; a decoder refuses more.
pub const MAX_WINDOW: u64 = 1 << MAX_WINDOW_LOG;
/// `log2` of [`MAX_WINDOW`].
pub const MAX_WINDOW_LOG: u32 = 20;

const _: () = assert!(
    SIG_END <= HEADER_LEN,
    "the signature record must fit in the header"
);
const _: () = assert!(
    SIG_END == 240,
    "docs/update-format.md places the record at 136..240"
);
const _: () = assert!(
    MAX_NAME == 32,
    "docs/update-format.md gives part names 32 bytes"
);
const _: () = assert!(
    MAX_KEY_ID == loader::signature::MAX_KEY_ID,
    "key ids as in block 0"
);

/// How a part's target region is produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The same bytes as the old slot's region of the same name (no payload).
    Copy = 1,
    /// One zstd frame holding the whole region.
    Full = 2,
    /// A bsdiff-style patch against the old slot's region of the same name.
    Patch = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Copy),
            2 => Some(Self::Full),
            3 => Some(Self::Patch),
            _ => None,
        }
    }

    /// The kind's name in messages (`copy`, `full`, `patch`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Full => "full",
            Self::Patch => "patch",
        }
    }
}

/// The signature record: the signer's key id and the Ed25519 signature of the delta statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureRecord {
    /// The signer's key id (1..=32 bytes of `[a-z0-9_]`).
    pub key_id: signing::KeyId,
    /// Ed25519 over `PANDAGEN-DELTA-v1\0` + the header SHA-256.
    pub signature: [u8; signing::SIGNATURE_LEN],
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Number of parts in the table.
    pub part_count: u32,
    /// Image id of the slot the delta was made against.
    pub base_image_id: [u8; 16],
    /// Image id of the slot the delta produces.
    pub target_image_id: [u8; 16],
    /// The new manifest's `security_epoch`.
    pub security_epoch: u32,
    /// Bytes the target slot spans (from its block 0 to the end of its last region).
    pub target_len: u64,
    /// Bytes after the header: the part table and the payloads.
    pub body_len: u64,
    /// SHA-256 of the body.
    pub body_sha256: [u8; 32],
    /// SHA-256 of header bytes `0..104` (what the signature covers).
    pub header_sha256: [u8; 32],
    /// The signature record, if signed.
    pub signature: Option<SignatureRecord>,
}

/// One entry of the part table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// How the region is produced.
    pub kind: Kind,
    /// The region's name: a manifest entry, `kernel`, `manifest`, `block0`, ...
    pub name: String,
    /// Byte offset of the region in the target slot.
    pub target_offset: u64,
    /// Length of the region.
    pub target_len: u64,
    /// SHA-256 of the region's bytes.
    pub target_sha256: [u8; 32],
    /// Length of the old slot's region (copy, patch; 0 for full).
    pub source_len: u64,
    /// SHA-256 of the old slot's region (copy, patch; zero for full).
    pub source_sha256: [u8; 32],
    /// Length of the payload (0 for copy).
    pub payload_len: u64,
    /// SHA-256 of the payload bytes.
    pub payload_sha256: [u8; 32],
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(b.get(at..at + 4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(b.get(at..at + 8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(v)
}

fn array_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut v = [0u8; N];
    v.copy_from_slice(b.get(at..at + N).unwrap_or(&[0; N]));
    v
}

fn first_non_zero(b: &[u8], base: usize) -> Option<usize> {
    b.iter().position(|&x| x != 0).map(|i| base + i)
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

impl Header {
    /// Decodes and checks a header: magic, version, its own SHA-256, reserved bytes, the record.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, DeltaError> {
        let magic = array_at::<8>(b, 0);
        if magic != MAGIC {
            return Err(DeltaError::BadMagic { found: magic });
        }
        let version = u32_at(b, 8);
        if version != VERSION {
            return Err(DeltaError::UnsupportedVersion { found: version });
        }
        let header_sha256 = array_at::<32>(b, HEADER_SUM_AT);
        if sha256(&b[..SIGNED_LEN]) != header_sha256 {
            return Err(DeltaError::HeaderDamaged);
        }
        if let Some(offset) =
            first_non_zero(&b[52..56], 52).or(first_non_zero(&b[SIG_END..], SIG_END))
        {
            return Err(DeltaError::ReservedNotZero {
                offset: offset as u64,
            });
        }
        Ok(Self {
            part_count: u32_at(b, 12),
            base_image_id: array_at(b, 16),
            target_image_id: array_at(b, 32),
            security_epoch: u32_at(b, 48),
            target_len: u64_at(b, 56),
            body_len: u64_at(b, 64),
            body_sha256: array_at(b, 72),
            header_sha256,
            signature: decode_record(&b[SIG_AT..SIG_END])?,
        })
    }

    /// Encodes the header; fills in the header SHA-256 (returned in `self.header_sha256` too).
    pub fn encode(&mut self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&self.part_count.to_le_bytes());
        b[16..32].copy_from_slice(&self.base_image_id);
        b[32..48].copy_from_slice(&self.target_image_id);
        b[48..52].copy_from_slice(&self.security_epoch.to_le_bytes());
        b[56..64].copy_from_slice(&self.target_len.to_le_bytes());
        b[64..72].copy_from_slice(&self.body_len.to_le_bytes());
        b[72..104].copy_from_slice(&self.body_sha256);
        self.header_sha256 = sha256(&b[..SIGNED_LEN]);
        b[HEADER_SUM_AT..SIG_AT].copy_from_slice(&self.header_sha256);
        if let Some(rec) = &self.signature {
            let id = rec.key_id.as_bytes();
            b[SIG_AT..SIG_AT + 8].copy_from_slice(&SIG_MAGIC);
            b[SIG_AT + 8..SIG_AT + 8 + id.len()].copy_from_slice(id);
            b[SIG_AT + 40..SIG_END].copy_from_slice(&rec.signature);
        }
        b
    }
}

fn decode_record(r: &[u8]) -> Result<Option<SignatureRecord>, DeltaError> {
    if r.iter().all(|&x| x == 0) {
        return Ok(None);
    }
    if r.get(..8) != Some(&SIG_MAGIC[..]) {
        return Err(DeltaError::BadSignatureRecord);
    }
    let id = &r[8..8 + MAX_KEY_ID];
    let len = id.iter().position(|&x| x == 0).unwrap_or(MAX_KEY_ID);
    if first_non_zero(&id[len..], 0).is_some() {
        return Err(DeltaError::BadSignatureRecord);
    }
    let key_id =
        signing::KeyId::from_bytes(&id[..len]).map_err(|_| DeltaError::BadSignatureRecord)?;
    Ok(Some(SignatureRecord {
        key_id,
        signature: array_at(r, 8 + MAX_KEY_ID),
    }))
}

impl Part {
    /// Decodes part entry `index` and checks its own fields (not its place among the others).
    pub fn decode(index: u32, b: &[u8; PART_LEN]) -> Result<Self, DeltaError> {
        let bad = |problem| DeltaError::BadPart { index, problem };
        let kind = Kind::from_byte(b[0]).ok_or(bad(PartProblem::UnknownKind(b[0])))?;
        if first_non_zero(&b[1..4], 1)
            .or(first_non_zero(&b[36..40], 36))
            .or(first_non_zero(&b[168..], 168))
            .is_some()
        {
            return Err(bad(PartProblem::ReservedNotZero));
        }
        let part = Self {
            kind,
            name: decode_name(&b[4..36]).ok_or(bad(PartProblem::BadName))?,
            target_offset: u64_at(b, 40),
            target_len: u64_at(b, 48),
            target_sha256: array_at(b, 56),
            source_len: u64_at(b, 88),
            source_sha256: array_at(b, 96),
            payload_len: u64_at(b, 128),
            payload_sha256: array_at(b, 136),
        };
        part.check().map_err(bad)?;
        Ok(part)
    }

    fn check(&self) -> Result<(), PartProblem> {
        let region_ok = |len: u64| (1..=MAX_REGION_LEN).contains(&len);
        if !region_ok(self.target_len) {
            return Err(PartProblem::BadLength);
        }
        match self.kind {
            Kind::Copy
                if self.source_len != self.target_len
                    || self.source_sha256 != self.target_sha256 =>
            {
                Err(PartProblem::CopyChangesBytes)
            }
            Kind::Copy if self.payload_len != 0 => Err(PartProblem::BadPayloadLength),
            Kind::Full if self.source_len != 0 || self.source_sha256 != [0; 32] => {
                Err(PartProblem::FullWithSource)
            }
            Kind::Full if self.payload_len == 0 => Err(PartProblem::BadPayloadLength),
            Kind::Patch if !region_ok(self.source_len) => Err(PartProblem::BadLength),
            Kind::Patch if self.payload_len < PATCH_HEADER_LEN as u64 => {
                Err(PartProblem::BadPayloadLength)
            }
            _ => Ok(()),
        }
    }

    /// Encodes the entry.
    pub fn encode(&self) -> [u8; PART_LEN] {
        let mut b = [0u8; PART_LEN];
        b[0] = self.kind as u8;
        let name = self.name.as_bytes();
        b[4..4 + name.len().min(MAX_NAME)].copy_from_slice(&name[..name.len().min(MAX_NAME)]);
        b[40..48].copy_from_slice(&self.target_offset.to_le_bytes());
        b[48..56].copy_from_slice(&self.target_len.to_le_bytes());
        b[56..88].copy_from_slice(&self.target_sha256);
        b[88..96].copy_from_slice(&self.source_len.to_le_bytes());
        b[96..128].copy_from_slice(&self.source_sha256);
        b[128..136].copy_from_slice(&self.payload_len.to_le_bytes());
        b[136..168].copy_from_slice(&self.payload_sha256);
        b
    }
}

/// A name field: 1..=32 bytes of UTF-8 without a zero byte, then zero bytes.
fn decode_name(field: &[u8]) -> Option<String> {
    let len = field.iter().position(|&x| x == 0).unwrap_or(field.len());
    if len == 0 || first_non_zero(&field[len..], 0).is_some() {
        return None;
    }
    core::str::from_utf8(&field[..len]).ok().map(String::from)
}

/// Whether `name` can be a part name (1..=32 bytes, no zero byte).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && !name.as_bytes().contains(&0)
}
