//! The apply engine: every check first (file, signature, base, epoch, space, every reused old
//! region, the new manifest), then each region produced, checked and written in slot order.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::error::DeltaError;
use crate::format::{sha256, Kind, Part};
use crate::io::{ReadAt, WriteAt};
use crate::patch;
use crate::verify::{self, Authenticity, Delta, Rules, CHUNK};

/// A named region of a slot as its (verified) manifest describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// `kernel`, `manifest`, `block0`, or a manifest entry's name.
    pub name: String,
    /// Byte offset in the slot.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// SHA-256 of its bytes, from the slot's manifest.
    pub sha256: [u8; 32],
}

/// The running (old) slot: its image id, its regions and a reader for its bytes.
pub struct OldSlot<'r, R> {
    /// The image id of its block 0.
    pub image_id: [u8; 16],
    /// Its regions with the sums of its manifest.
    pub regions: &'r [Region],
    /// Its bytes.
    pub reader: R,
}

impl<R: ReadAt> OldSlot<'_, R> {
    /// The old region `part` reuses, if it is the one the delta was made against.
    fn source(&self, part: &Part) -> Result<&Region, DeltaError> {
        let name = || part.name.clone();
        let region = self.regions.iter().find(|r| r.name == part.name);
        let region = region.ok_or_else(|| DeltaError::SourceMissing { name: name() })?;
        if region.len != part.source_len || region.sha256 != part.source_sha256 {
            return Err(DeltaError::SourceMismatch { name: name() });
        }
        Ok(region)
    }

    /// Hashes the old region `part` reuses without keeping it (the check before any write).
    fn check(&mut self, part: &Part) -> Result<(), DeltaError> {
        let want = self.source(part)?.sha256;
        self.stream(part, want, |_| Ok(()))
    }

    /// Reads the old region `part` reuses a chunk at a time, handing each chunk to `sink`;
    /// `SourceDamaged` when the bytes do not hash to `want`.
    fn stream(
        &mut self,
        part: &Part,
        want: [u8; 32],
        mut sink: impl FnMut(&[u8]) -> Result<(), DeltaError>,
    ) -> Result<(), DeltaError> {
        use sha2::Digest;
        let region = self.source(part)?.clone();
        let mut hasher = sha2::Sha256::new();
        let mut buf = alloc::vec![0u8; CHUNK];
        let mut pos = 0u64;
        while pos < region.len {
            let n = usize::try_from(region.len - pos)
                .unwrap_or(CHUNK)
                .min(CHUNK);
            self.read(region.offset + pos, &mut buf[..n])?;
            hasher.update(&buf[..n]);
            sink(&buf[..n])?;
            pos += n as u64;
        }
        match <[u8; 32]>::from(hasher.finalize()) == want {
            true => Ok(()),
            false => Err(DeltaError::SourceDamaged {
                name: part.name.clone(),
            }),
        }
    }

    /// Reads the old region `part` reuses and checks it against its SHA-256 before it is used.
    fn load(&mut self, part: &Part) -> Result<Vec<u8>, DeltaError> {
        let region = self.source(part)?.clone();
        let len = usize::try_from(region.len).map_err(|_| DeltaError::SourceMismatch {
            name: part.name.clone(),
        })?;
        let mut bytes = alloc::vec![0u8; len];
        self.read(region.offset, &mut bytes)?;
        if sha256(&bytes) != region.sha256 {
            return Err(DeltaError::SourceDamaged {
                name: part.name.clone(),
            });
        }
        Ok(bytes)
    }

    fn read(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), DeltaError> {
        let fail = DeltaError::Io {
            what: "old slot",
            offset,
        };
        self.reader.read_at(offset, buf).map_err(|_| fail)
    }
}

/// What an apply did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Who signed the delta (or the permissive policy's warning).
    pub authenticity: Authenticity,
    /// Parts applied.
    pub parts: usize,
    /// Bytes written to the target slot (regions and the zeros between them).
    pub written: u64,
    /// The new slot's image id.
    pub image_id: [u8; 16],
}

/// Applies the delta read from `delta` to the old slot, writing the new slot into `target`.
///
/// Nothing is written until the file, its signature, its base, epoch and size, every reused
/// old region and the new manifest have passed. A failure after that (an I/O error, a region
/// that decodes wrong) leaves the target partly written: it is the inactive slot, which the
/// caller keeps unbootable until this returns `Ok`.
pub fn apply<D: ReadAt, O: ReadAt, T: WriteAt>(
    mut delta: D,
    old: &mut OldSlot<'_, O>,
    target: &mut T,
    rules: &Rules<'_>,
) -> Result<Applied, DeltaError> {
    let d = verify::verify_file(&mut delta)?;
    let authenticity = verify::authenticate(&d.header, rules)?;
    verify::check_fit(&d.header, old.image_id, target.capacity(), rules.min_epoch)?;
    for part in d.parts.iter().filter(|p| verify::reuses_old(p)) {
        old.check(part)?;
    }
    let src = RefCell::new(delta);
    let manifest_index = d.manifest_index();
    let manifest = produce(&src, &d, manifest_index, old)?;
    if loader::sha256::image_id(&manifest) != d.header.target_image_id {
        return Err(DeltaError::TargetIdMismatch);
    }
    let mut manifest = Some(manifest);
    let mut w = Writer { target, pos: 0 };
    for (i, part) in d.parts.iter().enumerate() {
        w.zeros_to(part.target_offset)?;
        if part.kind == Kind::Copy && i != manifest_index {
            // Streamed: a copied region (the kernel: tens of MB) is never held whole in RAM.
            copy_streaming(old, part, &mut w)?;
            continue;
        }
        if i != manifest_index {
            // Streamed too: neither the old region nor the new one is held whole.
            decode_streaming(&src, &d, i, old, &mut w)?;
            continue;
        }
        let bytes = match i == manifest_index {
            true => manifest.take().unwrap_or_default(),
            false => produce(&src, &d, i, old)?,
        };
        w.write(&bytes)?;
    }
    w.zeros_to(d.header.target_len)?;
    let image_id = d.header.target_image_id;
    Ok(Applied {
        authenticity,
        parts: d.parts.len(),
        written: w.pos,
        image_id,
    })
}

/// Copies the old region a copy part names into the target a chunk at a time, hashing it; a
/// region whose bytes no longer match (changed since the check) is `SourceDamaged`, with the
/// target partly written (it is the unbootable inactive slot).
fn copy_streaming<O: ReadAt, T: WriteAt>(
    old: &mut OldSlot<'_, O>,
    part: &Part,
    w: &mut Writer<'_, T>,
) -> Result<(), DeltaError> {
    old.stream(part, part.target_sha256, |chunk| w.write(chunk))
}

/// Decodes full or patch part `i` into the target a chunk at a time (a patch reads the old
/// region, checked before any write, where it seeks); the new bytes must hash to the part's
/// SHA-256.
fn decode_streaming<D: ReadAt, O: ReadAt, T: WriteAt>(
    src: &RefCell<D>,
    d: &Delta,
    i: usize,
    old: &mut OldSlot<'_, O>,
    w: &mut Writer<'_, T>,
) -> Result<(), DeltaError> {
    use sha2::Digest;
    let (part, at) = (&d.parts[i], d.payload_at[i]);
    let mut hasher = sha2::Sha256::new();
    let mut written: Option<DeltaError> = None;
    let mut sink = |chunk: &[u8]| {
        hasher.update(chunk);
        w.write(chunk).map_err(|e| {
            written = Some(e);
            "the target slot cannot be written"
        })
    };
    let (len, payload_len) = (part.target_len, part.payload_len);
    let mut read_failed = None;
    let result = match part.kind {
        Kind::Patch => {
            let region = old.source(part)?.clone();
            let mut source = OldRegion {
                old,
                region,
                failed: None,
            };
            let r = patch::patch_into(src, at, payload_len, &mut source, len, &mut sink);
            read_failed = source.failed;
            r
        }
        _ => patch::full_into(src, at, payload_len, len, &mut sink),
    };
    if let Some(e) = written.or(read_failed) {
        return Err(e);
    }
    result.map_err(|detail| DeltaError::BadPayload {
        name: part.name.clone(),
        detail,
    })?;
    match <[u8; 32]>::from(hasher.finalize()) == part.target_sha256 {
        true => Ok(()),
        false => Err(DeltaError::OutputMismatch {
            name: part.name.clone(),
        }),
    }
}

/// The old region a patch part reads, through the old slot's reader.
struct OldRegion<'a, 'r, O> {
    old: &'a mut OldSlot<'r, O>,
    region: Region,
    /// Why a read failed (the patch sees only that it did).
    failed: Option<DeltaError>,
}

impl<O: ReadAt> patch::OldBytes for OldRegion<'_, '_, O> {
    fn len(&self) -> u64 {
        self.region.len
    }

    fn read(&mut self, pos: u64, buf: &mut [u8]) -> Result<(), patch::Problem> {
        match self.old.read(self.region.offset + pos, buf) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.failed = Some(e);
                Err("the old slot cannot be read")
            }
        }
    }
}

/// Produces part `i`'s bytes and checks them against its SHA-256.
fn produce<D: ReadAt, O: ReadAt>(
    src: &RefCell<D>,
    d: &Delta,
    i: usize,
    old: &mut OldSlot<'_, O>,
) -> Result<Vec<u8>, DeltaError> {
    let (part, at) = (&d.parts[i], d.payload_at[i]);
    let bad = |detail| DeltaError::BadPayload {
        name: part.name.clone(),
        detail,
    };
    let len = usize::try_from(part.target_len)
        .map_err(|_| bad("the region is too large for this machine"))?;
    let bytes = match part.kind {
        Kind::Copy => old.load(part)?,
        Kind::Full => patch::full(src, at, part.payload_len, len).map_err(bad)?,
        Kind::Patch => {
            let source = old.load(part)?;
            patch::patch(src, at, part.payload_len, &source, len).map_err(bad)?
        }
    };
    if sha256(&bytes) != part.target_sha256 {
        return Err(DeltaError::OutputMismatch {
            name: part.name.clone(),
        });
    }
    Ok(bytes)
}

/// Writes the target slot front to back, zeros between the regions.
struct Writer<'t, T> {
    target: &'t mut T,
    pos: u64,
}

impl<T: WriteAt> Writer<'_, T> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), DeltaError> {
        let fail = DeltaError::Io {
            what: "target slot",
            offset: self.pos,
        };
        self.target.write_at(self.pos, bytes).map_err(|_| fail)?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn zeros_to(&mut self, end: u64) -> Result<(), DeltaError> {
        let zeros = alloc::vec![0u8; CHUNK];
        while self.pos < end {
            let n = usize::try_from(end - self.pos).unwrap_or(CHUNK).min(CHUNK);
            self.write(&zeros[..n])?;
        }
        Ok(())
    }
}
