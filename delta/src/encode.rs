//! The host-side encoder (feature `encode`): old and new slot as named regions in, a
//! `PGDELTA1` file out, each region as copy, full (zstd) or patch (bsdiff), whichever is smallest.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

use crate::format::{
    self, sha256, Header, Kind, Part, CONTROL_LEN, HEADER_LEN, MANIFEST_PART, MAX_PARTS,
    MAX_REGION_LEN, PATCH_HEADER_LEN,
};

/// A region of the new slot: where it goes and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct NewRegion<'a> {
    /// Its name (`kernel`, `manifest`, `block0`, an entry name).
    pub name: &'a str,
    /// Byte offset in the new slot.
    pub offset: u64,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Its SHA-256, as the new manifest gives it (checked against the bytes).
    pub sha256: [u8; 32],
}

/// A region of the old slot the delta may reuse.
#[derive(Clone, Copy, Debug)]
pub struct OldRegion<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Its SHA-256, as the old manifest gives it (checked against the bytes).
    pub sha256: [u8; 32],
}

/// What the delta says about itself besides the regions.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The old image's id (block 0 bytes 48..64).
    pub base_image_id: [u8; 16],
    /// The new manifest's `security_epoch`.
    pub security_epoch: u32,
    /// Bytes the new slot spans (at least the end of its last region).
    pub target_len: u64,
    /// zstd level (1..=22).
    pub level: i32,
    /// Signs the delta when given.
    pub sign_key: Option<&'a signing::SecretKey>,
}

/// Why the encoder refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A region's bytes do not match the SHA-256 given for it.
    ChecksumMismatch {
        /// The region.
        name: String,
    },
    /// A name is not 1..=32 bytes without a zero byte.
    BadName {
        /// The name.
        name: String,
    },
    /// Two regions of one slot share a name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The new slot has no `manifest` region.
    MissingManifest,
    /// Too few or too many new regions.
    BadRegionCount {
        /// How many were given.
        count: usize,
    },
    /// A new region is empty, over the size limit, overlaps another or leaves the slot.
    OutOfPlace {
        /// The region.
        name: String,
    },
    /// zstd or bsdiff failed.
    Compress {
        /// Their message.
        detail: String,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChecksumMismatch { name } => write!(f, "delta: region `{name}` does not match its SHA-256: rebuild or re-read the image"),
            Self::BadName { name } => write!(f, "delta: region name {name:?} is not 1..=32 bytes without a zero byte"),
            Self::DuplicateName { name } => write!(f, "delta: two regions of one slot are named `{name}`"),
            Self::MissingManifest => f.write_str("delta: the new slot has no `manifest` region: a delta must carry the new manifest"),
            Self::BadRegionCount { count } => write!(f, "delta: {count} new regions, 1..={MAX_PARTS} are allowed"),
            Self::OutOfPlace { name } => write!(f, "delta: new region `{name}` is empty, over {MAX_REGION_LEN} bytes, overlaps another or leaves the slot"),
            Self::Compress { detail } => write!(f, "delta: compressing failed: {detail}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// One zstd frame of `data` at `level`, with a window of at most
/// [`crate::format::MAX_WINDOW`] (what a decoder on the running system may need).
pub(crate) fn compress(data: &[u8], level: i32) -> Result<Vec<u8>, EncodeError> {
    use zstd::stream::raw::CParameter;
    let mut c = zstd::bulk::Compressor::new(level).map_err(compress_error)?;
    c.set_parameter(CParameter::WindowLog(crate::format::MAX_WINDOW_LOG))
        .map_err(compress_error)?;
    c.compress(data).map_err(compress_error)
}

fn compress_error(e: impl fmt::Display) -> EncodeError {
    EncodeError::Compress {
        detail: e.to_string(),
    }
}

/// The encoded delta and how each region was carried.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The whole `PGDELTA1` file.
    pub bytes: Vec<u8>,
    /// Per new region, in slot order: its name, kind and payload length.
    pub choices: Vec<(String, Kind, u64)>,
}

/// Encodes the delta that turns the old slot into the new one.
pub fn encode(
    old: &[OldRegion<'_>],
    new: &[NewRegion<'_>],
    opts: &Options<'_>,
) -> Result<Encoded, EncodeError> {
    check_old(old)?;
    let mut new = new.to_vec();
    new.sort_by_key(|r| r.offset);
    check_new(&new, opts.target_len)?;
    let manifest = new
        .iter()
        .find(|r| r.name == MANIFEST_PART)
        .ok_or(EncodeError::MissingManifest)?;
    let mut parts = Vec::with_capacity(new.len());
    let mut payloads = Vec::with_capacity(new.len());
    for region in &new {
        let source = old.iter().find(|o| o.name == region.name);
        let (part, payload) = encode_region(region, source, opts.level)?;
        parts.push(part);
        payloads.push(payload);
    }
    let mut body = Vec::new();
    parts
        .iter()
        .for_each(|p| body.extend_from_slice(&p.encode()));
    payloads.iter().for_each(|p| body.extend_from_slice(p));
    let mut header = Header {
        part_count: parts.len() as u32,
        base_image_id: opts.base_image_id,
        target_image_id: loader::sha256::image_id(manifest.bytes),
        security_epoch: opts.security_epoch,
        target_len: opts.target_len,
        body_len: body.len() as u64,
        body_sha256: sha256(&body),
        header_sha256: [0; 32],
        signature: None,
    };
    let mut bytes = sign(&mut header, opts.sign_key).to_vec();
    bytes.extend_from_slice(&body);
    let choices = parts
        .iter()
        .map(|p| (p.name.clone(), p.kind, p.payload_len))
        .collect();
    Ok(Encoded { bytes, choices })
}

fn sign(header: &mut Header, key: Option<&signing::SecretKey>) -> [u8; HEADER_LEN] {
    let unsigned = header.encode();
    let Some(key) = key else { return unsigned };
    let signature = signing::sign_delta(key, &header.header_sha256);
    header.signature = Some(format::SignatureRecord {
        key_id: *key.id(),
        signature,
    });
    header.encode()
}

fn check_names<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), EncodeError> {
    let mut seen = BTreeSet::new();
    for name in names {
        if !format::valid_name(name) {
            return Err(EncodeError::BadName { name: name.into() });
        }
        if !seen.insert(name) {
            return Err(EncodeError::DuplicateName { name: name.into() });
        }
    }
    Ok(())
}

fn check_sum(name: &str, bytes: &[u8], sum: &[u8; 32]) -> Result<(), EncodeError> {
    match sha256(bytes) == *sum {
        true => Ok(()),
        false => Err(EncodeError::ChecksumMismatch { name: name.into() }),
    }
}

fn check_old(old: &[OldRegion<'_>]) -> Result<(), EncodeError> {
    check_names(old.iter().map(|r| r.name))?;
    old.iter()
        .try_for_each(|r| check_sum(r.name, r.bytes, &r.sha256))
}

fn check_new(new: &[NewRegion<'_>], target_len: u64) -> Result<(), EncodeError> {
    if new.is_empty() || new.len() > MAX_PARTS {
        return Err(EncodeError::BadRegionCount { count: new.len() });
    }
    check_names(new.iter().map(|r| r.name))?;
    let mut previous_end = 0u64;
    for r in new {
        let len = r.bytes.len() as u64;
        let end = r.offset.checked_add(len).filter(|&e| e <= target_len);
        match end {
            Some(end) if (1..=MAX_REGION_LEN).contains(&len) && r.offset >= previous_end => {
                previous_end = end
            }
            _ => {
                return Err(EncodeError::OutOfPlace {
                    name: r.name.into(),
                })
            }
        }
        check_sum(r.name, r.bytes, &r.sha256)?;
    }
    Ok(())
}

/// The part for one new region and its payload: copy if unchanged, else the smaller of full and patch.
fn encode_region(
    new: &NewRegion<'_>,
    old: Option<&OldRegion<'_>>,
    level: i32,
) -> Result<(Part, Vec<u8>), EncodeError> {
    let mut part = Part {
        kind: Kind::Full,
        name: new.name.into(),
        target_offset: new.offset,
        target_len: new.bytes.len() as u64,
        target_sha256: new.sha256,
        source_len: 0,
        source_sha256: [0; 32],
        payload_len: 0,
        payload_sha256: [0; 32],
    };
    let mut payload = compress(new.bytes, level)?;
    if let Some(old) = old.filter(|o| !o.bytes.is_empty() && o.bytes.len() as u64 <= MAX_REGION_LEN)
    {
        (part.source_len, part.source_sha256) = (old.bytes.len() as u64, old.sha256);
        if old.sha256 == new.sha256 {
            (part.kind, payload) = (Kind::Copy, Vec::new());
        } else {
            let patch = make_patch(old.bytes, new.bytes, level)?;
            match patch.len() < payload.len() {
                true => (part.kind, payload) = (Kind::Patch, patch),
                false => (part.source_len, part.source_sha256) = (0, [0; 32]),
            }
        }
    }
    part.payload_len = payload.len() as u64;
    part.payload_sha256 = sha256(&payload);
    Ok((part, payload))
}

/// A patch payload: qbsdiff's BSDIFF40 streams, unpacked and re-packed as zstd (module `patch`).
fn make_patch(old: &[u8], new: &[u8], level: i32) -> Result<Vec<u8>, EncodeError> {
    let mut bsdiff = Vec::new();
    qbsdiff::Bsdiff::new(old, new)
        .compression_level(1)
        .compare(std::io::Cursor::new(&mut bsdiff))
        .map_err(compress_error)?;
    let (ctrl, diff, extra) = unpack_bsdiff(&bsdiff)?;
    let controls = (ctrl.len() / CONTROL_LEN) as u64;
    let streams = [
        compress(&ctrl, level)?,
        compress(&diff, level)?,
        compress(&extra, level)?,
    ];
    let mut out =
        Vec::with_capacity(PATCH_HEADER_LEN + streams.iter().map(Vec::len).sum::<usize>());
    streams
        .iter()
        .for_each(|s| out.extend_from_slice(&(s.len() as u64).to_le_bytes()));
    out.extend_from_slice(&controls.to_le_bytes());
    streams.iter().for_each(|s| out.extend_from_slice(s));
    Ok(out)
}

/// bsdiff's sign-magnitude integer.
fn offtin(b: &[u8]) -> i64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[..8]);
    let x = u64::from_le_bytes(v);
    let magnitude = (x & !(1 << 63)) as i64;
    if x >> 63 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

fn bunzip(bytes: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    bzip2::read::BzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(compress_error)?;
    Ok(out)
}

/// A patch's three streams, uncompressed: controls (this format's triples), diff, extra.
type Streams = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Splits a BSDIFF40 patch into its control (re-encoded as this format's triples), diff and extra streams.
fn unpack_bsdiff(p: &[u8]) -> Result<Streams, EncodeError> {
    let bad = || compress_error("qbsdiff wrote an unexpected patch");
    if p.len() < 32 || &p[..8] != b"BSDIFF40" {
        return Err(bad());
    }
    let (c, d) = (
        usize::try_from(offtin(&p[8..])).map_err(|_| bad())?,
        usize::try_from(offtin(&p[16..])).map_err(|_| bad())?,
    );
    let ctrl_bz = p.get(32..32 + c).ok_or_else(bad)?;
    let diff_bz = p.get(32 + c..32 + c + d).ok_or_else(bad)?;
    let extra_bz = p.get(32 + c + d..).ok_or_else(bad)?;
    let raw = bunzip(ctrl_bz)?;
    let mut ctrl = Vec::with_capacity(raw.len());
    for t in raw.chunks_exact(CONTROL_LEN) {
        ctrl.extend_from_slice(&(offtin(&t[0..]) as u64).to_le_bytes());
        ctrl.extend_from_slice(&(offtin(&t[8..]) as u64).to_le_bytes());
        ctrl.extend_from_slice(&offtin(&t[16..]).to_le_bytes());
    }
    Ok((ctrl, bunzip(diff_bz)?, bunzip(extra_bz)?))
}
