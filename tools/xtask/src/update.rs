//! `cargo xtask delta` and `cargo xtask apply-delta`: signed `PGDELTA1` delta updates of a
//! system slot (docs/update-format.md, "Regions"), made from two images and applied into the
//! inactive slot of a two-slot image — atomically: into a sparse copy beside the image, which
//! is verified, synced and renamed over it (docs/host-tools.md, "Delta updates").

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bootslots::choose;
use bootslots::meta::{Metadata, Slot};
use loader::manifest::Manifest;
use loader::signature::{ManifestSignature, RECORD_AT, RECORD_END};
use loader::slots::window_superblock;
use loader::superblock::{blocks_for, FORMAT_VERSION};
use loader::{LoadError, Superblock, BLOCK_SIZE};
use pgdelta::encode::{NewRegion, OldRegion};
use pgdelta::{DeltaError, Region, Rules};
use signing::trust::Policy;
use signing::{KeyRing, SecretKey};

use crate::atomic;
use crate::pack::{self, BLOCK};
use crate::slots::{self, SlotError};
use crate::update_esp;

/// The region carrying the slot's manifest signature record (block 0 bytes 120..224): the one
/// part of block 0 a delta ships; the rest of block 0 is derived where the delta is applied.
pub const SIGNATURE_REGION: &str = "signature";
/// The regions named by the format, which no manifest entry may be named.
const RESERVED_NAMES: [&str; 3] = ["kernel", "manifest", SIGNATURE_REGION];
/// zstd level of the delta's payloads.
const LEVEL: i32 = 19;

/// Why a delta cannot be made or applied; each one line naming the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{}: slot {slot} does not verify ({reason}); use a good image", .path.display())]
    SlotDoesNotVerify {
        path: PathBuf,
        slot: Slot,
        reason: LoadError,
    },
    #[error("{}: no slot can boot ({reason}); install a full image", .path.display())]
    NoActiveSlot { path: PathBuf, reason: String },
    #[error("{}: an entry is named `{name}`, a region name of the delta format: rename the entry", .path.display())]
    ReservedName { path: PathBuf, name: String },
    #[error("{}: {error}", .path.display())]
    Refused { path: PathBuf, error: DeltaError },
    #[error("{}: the delta says security epoch {header}, its manifest says {manifest}: rebuild the delta", .path.display())]
    EpochMismatch {
        path: PathBuf,
        header: u32,
        manifest: u32,
    },
    #[error("{}: the slot {slot} written from the delta does not verify ({reason}); the image was left as it was", .path.display())]
    WrittenSlotBad {
        path: PathBuf,
        slot: Slot,
        reason: String,
    },
}

/// One system slot of an image file, verified, with its bytes from block 0 to its last binary.
pub struct SlotImage {
    pub slot: Slot,
    /// Its own block 0 (slot B: the window superblock).
    pub superblock: Superblock,
    pub manifest: Box<Manifest>,
    pub bytes: Vec<u8>,
}

impl SlotImage {
    /// The slot's regions with the sums of its manifest ([`regions`]).
    pub fn regions(&self) -> Vec<Region> {
        regions(&self.superblock, &self.manifest, &self.bytes)
    }

    fn region_bytes(&self, r: &Region) -> &[u8] {
        &self.bytes[r.offset as usize..(r.offset + r.len) as usize]
    }
}

/// A slot's regions (docs/update-format.md, "Regions"): its manifest signature record (when
/// signed), the kernel, the manifest and each entry's binary, at their byte offsets in the slot.
/// `bytes` (block 0 to the last binary) give the record's and the manifest's SHA-256; the
/// kernel's and the binaries' are the manifest's.
pub fn regions(sb: &Superblock, manifest: &Manifest, bytes: &[u8]) -> Vec<Region> {
    let region = |name: &str, offset: u64, len: u64, sha256| Region {
        name: name.into(),
        offset,
        len,
        sha256,
    };
    let at = |block: u64| block * BLOCK;
    let sum = |offset: u64, len: u64| {
        loader::Sha256Digest::of(&bytes[offset as usize..(offset + len) as usize]).0
    };
    let mut out = Vec::new();
    if sb.signature.is_some() {
        let (offset, len) = (RECORD_AT as u64, (RECORD_END - RECORD_AT) as u64);
        out.push(region(SIGNATURE_REGION, offset, len, sum(offset, len)));
    }
    let k = &manifest.kernel;
    out.push(region("kernel", at(1), k.size_bytes, k.checksum.0));
    let (m_at, m_len) = (at(sb.manifest_start), sb.manifest_bytes);
    out.push(region("manifest", m_at, m_len, sum(m_at, m_len)));
    for e in manifest.entries() {
        out.push(region(
            &e.name,
            at(e.start_block),
            e.size_bytes,
            e.checksum.0,
        ));
    }
    out
}

/// Block 0 of the image file.
pub fn read_block0(file: &File, path: &Path) -> Result<Superblock> {
    let mut block0 = [0u8; BLOCK_SIZE];
    file.read_exact_at(&mut block0, 0)
        .with_context(|| format!("reading block 0 of {}", path.display()))?;
    Superblock::decode(&block0).map_err(|reason| {
        SlotError::Block0 {
            path: path.to_owned(),
            reason,
        }
        .into()
    })
}

/// Where `slot` lies on the disk `disk`: its first block and its room in blocks. A one-slot
/// image's slot A has the room up to its ESP (or data region).
pub fn slot_place(disk: &Superblock, slot: Slot) -> (u64, u64) {
    match (slot, disk.slots) {
        (Slot::A, Some(t)) => (0, t.b_start),
        (Slot::A, None) => (0, disk.binaries_end()),
        (Slot::B, Some(t)) => (t.b_start, t.b_blocks),
        (Slot::B, None) => (0, 0),
    }
}

/// Reads and verifies `slot` of the image file (through its window for slot B).
pub fn read_slot(file: &File, path: &Path, disk: &Superblock, slot: Slot) -> Result<SlotImage> {
    let start = slot_place(disk, slot).0;
    let mut manifest = Box::<Manifest>::default();
    let verified = pack::verify_window(file, start, &mut manifest).map_err(|reason| {
        UpdateError::SlotDoesNotVerify {
            path: path.to_owned(),
            slot,
            reason,
        }
    })?;
    let superblock = verified.superblock;
    if let Some(name) = manifest
        .entries()
        .map(|e| e.name.as_str())
        .find(|n| RESERVED_NAMES.contains(n))
    {
        let (path, name) = (path.to_owned(), name.to_owned());
        return Err(UpdateError::ReservedName { path, name }.into());
    }
    let used = pack::binaries_end(&superblock, &manifest);
    let mut bytes = vec![0u8; usize::try_from(used * BLOCK)?];
    file.read_exact_at(&mut bytes, start * BLOCK)
        .with_context(|| format!("reading slot {slot} of {}", path.display()))?;
    Ok(SlotImage {
        slot,
        superblock,
        manifest,
        bytes,
    })
}

/// The slot metadata of a two-slot image, or `None` for a one-slot image.
fn metadata(path: &Path, disk: &Superblock) -> Result<Option<Metadata>> {
    match disk.slots {
        Some(_) => Ok(Some(slots::read_metadata(path)?.0)),
        None => Ok(None),
    }
}

/// The slot the image boots: the one the metadata's rules choose, each slot's image verified
/// on the host (a one-slot image: A).
pub fn active_slot(file: &File, path: &Path, disk: &Superblock) -> Result<Slot> {
    let Some(meta) = metadata(path, disk)? else {
        return Ok(Slot::A);
    };
    let verifies = |slot| {
        let start = slot_place(disk, slot).0;
        pack::verify_window(file, start, &mut Box::default()).is_ok()
    };
    choose::choose_with(&meta, verifies)
        .map(|c| c.slot)
        .map_err(|e| {
            UpdateError::NoActiveSlot {
                path: path.to_owned(),
                reason: e.to_string(),
            }
            .into()
        })
}

/// An image's active slot, read and verified.
pub fn read_active(path: &Path) -> Result<SlotImage> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let disk = read_block0(&file, path)?;
    let slot = active_slot(&file, path, &disk)?;
    read_slot(&file, path, &disk, slot)
}

/// A delta made by [`make_delta`].
pub struct Made {
    pub encoded: pgdelta::encode::Encoded,
    /// The slots it was made from and for.
    pub old: Slot,
    pub new: Slot,
    /// The new slot's length in bytes.
    pub target_len: u64,
    /// The new slot's image id (the delta's target).
    pub new_image_id: [u8; 16],
}

/// The delta from `from`'s active slot to `to`'s active slot, signed with `key` when given.
pub fn make_delta(from: &Path, to: &Path, key: Option<&SecretKey>) -> Result<Made> {
    let old = read_active(from)?;
    let new = read_active(to)?;
    let encoded = encode_slots(&old, &new, new.manifest.security_epoch, key)
        .map_err(|e| anyhow::anyhow!("{}: {e}", to.display()))?;
    Ok(Made {
        encoded,
        old: old.slot,
        new: new.slot,
        target_len: new.bytes.len() as u64,
        new_image_id: new.superblock.image_id,
    })
}

/// The delta to `to`'s active slot for a machine whose running image is `base`: against
/// `from`'s active slot when given (which must be that image), else with every region whole
/// (no old bytes reused; larger, but it needs nothing of the old image but its id).
pub fn make_delta_for(
    base: [u8; 16],
    from: Option<&Path>,
    to: &Path,
    key: Option<&SecretKey>,
) -> Result<Made> {
    if let Some(from) = from {
        let made = make_delta(from, to, key)?;
        let old_id = read_active(from)?.superblock.image_id;
        anyhow::ensure!(
            old_id == base,
            "{} is image {}, but the machine runs image {}: give the image it runs",
            from.display(),
            crate::inspect::uuid(&old_id),
            crate::inspect::uuid(&base)
        );
        return Ok(made);
    }
    let new = read_active(to)?;
    let epoch = new.manifest.security_epoch;
    let encoded = encode_regions(&[], base, &new, epoch, key)
        .map_err(|e| anyhow::anyhow!("{}: {e}", to.display()))?;
    Ok(Made {
        encoded,
        old: new.slot,
        new: new.slot,
        target_len: new.bytes.len() as u64,
        new_image_id: new.superblock.image_id,
    })
}

/// Encodes the delta from `old` to `new`, its header saying `security_epoch` (the new
/// manifest's; the tests give another to check the applier's refusal).
fn encode_slots(
    old: &SlotImage,
    new: &SlotImage,
    security_epoch: u32,
    key: Option<&SecretKey>,
) -> Result<pgdelta::encode::Encoded, pgdelta::encode::EncodeError> {
    let old_regions = old.regions();
    let old_in: Vec<OldRegion<'_>> = old_regions
        .iter()
        .map(|r| OldRegion {
            name: &r.name,
            bytes: old.region_bytes(r),
            sha256: r.sha256,
        })
        .collect();
    encode_regions(&old_in, old.superblock.image_id, new, security_epoch, key)
}

/// Encodes the delta to `new` from the image `base`, reusing `old_in` (its regions).
fn encode_regions(
    old_in: &[OldRegion<'_>],
    base: [u8; 16],
    new: &SlotImage,
    security_epoch: u32,
    key: Option<&SecretKey>,
) -> Result<pgdelta::encode::Encoded, pgdelta::encode::EncodeError> {
    let new_regions = new.regions();
    let new_in: Vec<NewRegion<'_>> = new_regions
        .iter()
        .map(|r| NewRegion {
            name: &r.name,
            offset: r.offset,
            bytes: new.region_bytes(r),
            sha256: r.sha256,
        })
        .collect();
    let options = pgdelta::encode::Options {
        base_image_id: base,
        security_epoch,
        target_len: new.bytes.len() as u64,
        level: LEVEL,
        sign_key: key,
    };
    pgdelta::encode::encode(old_in, &new_in, &options)
}

/// [`make_delta`], written atomically to `output`.
pub fn write_delta(from: &Path, to: &Path, key: Option<&SecretKey>, output: &Path) -> Result<Made> {
    let made = make_delta(from, to, key)?;
    atomic::write_atomically(output, |f| {
        use std::io::Write;
        f.write_all(&made.encoded.bytes)?;
        Ok(())
    })
    .with_context(|| format!("writing {}", output.display()))?;
    Ok(made)
}

/// The delta file, read at offsets.
struct DeltaFile {
    file: File,
    len: u64,
}

impl pgdelta::ReadAt for DeltaFile {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), pgdelta::IoError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|_| pgdelta::IoError)
    }
}

/// The target slot inside the image copy: `capacity` bytes from byte `base`.
struct SlotWriter<'f> {
    file: &'f File,
    base: u64,
    capacity: u64,
}

impl pgdelta::WriteAt for SlotWriter<'_> {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), pgdelta::IoError> {
        self.file
            .write_all_at(data, self.base + offset)
            .map_err(|_| pgdelta::IoError)
    }
}

/// What the running slot's kernel would check a delta against: the key ring and policy
/// enrolled in it (less the security record's revocations) and the rollback minimum — the
/// higher of the security record's and the running slot's own `security_epoch`.
pub struct Trusted {
    pub policy: Policy,
    pub ring: KeyRing,
    pub min_epoch: u32,
}

impl Trusted {
    fn of(file: &File, disk: &Superblock, old: &SlotImage) -> Result<Self> {
        let kernel_len = usize::try_from(old.manifest.kernel.size_bytes)?;
        let kernel = &old.bytes[BLOCK_SIZE..BLOCK_SIZE + kernel_len];
        let trust = signing::trust::find_enrolled(kernel)
            .ok()
            .flatten()
            .and_then(|at| signing::trust::Trust::decode(&kernel[at..]).ok().flatten());
        // A kernel without a ring (fake test kernels) checks nothing, as at boot.
        let (policy, mut ring) =
            trust.map_or((Policy::Permissive, KeyRing::new()), |t| (t.policy, t.ring));
        let record = security_record(file, disk);
        for id in &record.revoked {
            if let Ok(id) = signing::KeyId::new(id) {
                let _ = ring.revoke(id);
            }
        }
        let min_epoch = record.min_epoch.max(old.manifest.security_epoch);
        Ok(Self {
            policy,
            ring,
            min_epoch,
        })
    }

    fn rules(&self) -> Rules<'_> {
        Rules {
            policy: self.policy,
            ring: &self.ring,
            min_epoch: self.min_epoch,
        }
    }
}

/// The security record in the user-data region (none yet: the defaults, minimum 0).
fn security_record(file: &File, disk: &Superblock) -> bootslots::security::Record {
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(abi::userdata::SECURITY_BLOCKS) {
        let at = (disk.data_start + block) * BLOCK;
        if file.read_exact_at(copy, at).is_err() {
            return Default::default();
        }
    }
    bootslots::security::pick([&copies[0][..], &copies[1][..]])
        .map(|(record, _, _)| record)
        .unwrap_or_default()
}

/// What [`apply_delta`] did.
#[derive(Debug)]
pub struct Installed {
    /// The slot written (the inactive one), and the one that ran.
    pub slot: Slot,
    pub from: Slot,
    pub image_id: [u8; 16],
    pub authenticity: pgdelta::verify::Authenticity,
    /// Bytes of the slot written (regions and zeros).
    pub written: u64,
    pub kernel_changed: bool,
    pub elapsed: Duration,
}

/// Everything [`install`] works from, read from the image before it is copied.
struct Plan<'a> {
    img: &'a Path,
    disk: Superblock,
    meta: Metadata,
    old: SlotImage,
    target: Slot,
    trusted: Trusted,
    delta: pgdelta::Delta,
    delta_path: &'a Path,
}

/// Applies the delta at `delta_path` into the inactive slot of the two-slot image `img`
/// (docs/host-tools.md, "Delta updates"): every refusal the file, its signature, its base,
/// epoch and size allow is made before the image is copied; the slot is written into a sparse
/// copy beside `img`, its block 0 derived, its kernel put on the ESP, verified, marked to be
/// tried, and the copy renamed over `img`. Any failure leaves `img` as it was.
pub fn apply_delta(img: &Path, delta_path: &Path) -> Result<Installed> {
    let started = Instant::now();
    let file = File::open(img).with_context(|| format!("opening {}", img.display()))?;
    let disk = read_block0(&file, img)?;
    let meta = metadata(img, &disk)?.ok_or_else(|| SlotError::OneSlot(img.to_owned()))?;
    let from = active_slot(&file, img, &disk)?;
    let old = read_slot(&file, img, &disk, from)?;
    let trusted = Trusted::of(&file, &disk, &old)?;
    let target = from.other();
    let capacity = slot_place(&disk, target).1 * BLOCK;
    let refused = |error| UpdateError::Refused {
        path: delta_path.to_owned(),
        error,
    };
    let mut reader = open_delta(delta_path)?;
    let delta =
        precheck(&mut reader, old.superblock.image_id, capacity, &trusted).map_err(refused)?;
    let plan = Plan {
        img,
        disk,
        meta,
        old,
        target,
        trusted,
        delta,
        delta_path,
    };
    let mut done = atomic::produce_atomically(img, |tmp| install(&plan, tmp, reader))?;
    done.elapsed = started.elapsed();
    Ok(done)
}

fn open_delta(path: &Path) -> Result<DeltaFile> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata()?.len();
    Ok(DeltaFile { file, len })
}

/// The checks that need no writing: the file, its signature, base, epoch and size.
fn precheck(
    reader: &mut DeltaFile,
    old_id: [u8; 16],
    capacity: u64,
    trusted: &Trusted,
) -> Result<pgdelta::Delta, DeltaError> {
    let rules = trusted.rules();
    let delta = pgdelta::verify_file(reader)?;
    pgdelta::verify::authenticate(&delta.header, &rules)?;
    pgdelta::verify::check_fit(&delta.header, old_id, capacity, rules.min_epoch)?;
    Ok(delta)
}

/// Copies the image to `tmp` (sparse), takes the target slot out of service, applies the
/// delta into it, derives its block 0, refreshes the ESP, verifies it and marks it to be tried.
fn install(plan: &Plan<'_>, tmp: &Path, mut reader: DeltaFile) -> Result<Installed> {
    let mut src = File::open(plan.img)?;
    let mut out = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    crate::corrupt::copy_sparse(&mut src, &mut out)
        .with_context(|| format!("copying {} to {}", plan.img.display(), tmp.display()))?;
    let unbootable = choose::mark_unbootable(&plan.meta, plan.target);
    slots::write_metadata(tmp, &unbootable)?;
    let (start, room) = slot_place(&plan.disk, plan.target);
    let regions = plan.old.regions();
    let mut old = pgdelta::OldSlot {
        image_id: plan.old.superblock.image_id,
        regions: &regions,
        reader: &plan.old.bytes[..],
    };
    let mut writer = SlotWriter {
        file: &out,
        base: start * BLOCK,
        capacity: room * BLOCK,
    };
    let applied = pgdelta::apply(&mut reader, &mut old, &mut writer, &plan.trusted.rules())
        .map_err(|error| UpdateError::Refused {
            path: plan.delta_path.to_owned(),
            error,
        })?;
    zero_after(&out, start, plan.delta.header.target_len, room)?;
    let written = finish_slot(plan, &out)?;
    slots::write_metadata(tmp, &choose::set_active(&unbootable, plan.target))?;
    Ok(Installed {
        slot: plan.target,
        from: plan.old.slot,
        image_id: applied.image_id,
        authenticity: applied.authenticity,
        written: applied.written,
        kernel_changed: written.kernel_changed,
        elapsed: Duration::ZERO,
    })
}

/// Zeros the target slot's room after the new slot's end (what an older, longer system left),
/// writing only where it is not zero already.
fn zero_after(out: &File, start: u64, target_len: u64, room: u64) -> Result<()> {
    const CHUNK: usize = 1 << 20;
    let (mut at, end) = (start * BLOCK + target_len, (start + room) * BLOCK);
    let mut buf = vec![0u8; CHUNK];
    let zeros = vec![0u8; CHUNK];
    while at < end {
        let n = usize::try_from(end - at).unwrap_or(CHUNK).min(CHUNK);
        out.read_exact_at(&mut buf[..n], at)?;
        if buf[..n].iter().any(|&b| b != 0) {
            out.write_all_at(&zeros[..n], at)?;
        }
        at += n as u64;
    }
    Ok(())
}

/// What [`finish_slot`] found.
struct Finished {
    kernel_changed: bool,
}

/// After the regions are written: checks the new manifest's epoch against the delta's, writes
/// the slot's block 0 (derived), puts its kernel (and slot A's module) on the ESP, and
/// verifies the slot through its window; then syncs the copy.
fn finish_slot(plan: &Plan<'_>, out: &File) -> Result<Finished> {
    let (start, _) = slot_place(&plan.disk, plan.target);
    let (json, manifest) = written_manifest(plan, out, start)?;
    let header_epoch = plan.delta.header.security_epoch;
    if manifest.security_epoch != header_epoch {
        return Err(UpdateError::EpochMismatch {
            path: plan.delta_path.to_owned(),
            header: header_epoch,
            manifest: manifest.security_epoch,
        }
        .into());
    }
    let sb = write_block0(plan, out, start, &manifest, &json)?;
    let used = pack::binaries_end(&sb, &manifest);
    let mut bytes = vec![0u8; usize::try_from(used * BLOCK)?];
    out.read_exact_at(&mut bytes, start * BLOCK)?;
    let kernel = &bytes[BLOCK_SIZE..BLOCK_SIZE + usize::try_from(manifest.kernel.size_bytes)?];
    let module = (plan.target == Slot::A).then(|| update_esp::module_of(&bytes, &sb));
    update_esp::refresh(out, &plan.disk, plan.target, kernel, module.as_deref())?;
    check_written(plan, out, start, &sb)?;
    out.sync_all()?;
    Ok(Finished {
        kernel_changed: manifest.kernel.checksum != plan.old.manifest.kernel.checksum,
    })
}

/// The manifest the delta wrote (its `manifest` part), parsed.
fn written_manifest(plan: &Plan<'_>, out: &File, start: u64) -> Result<(Vec<u8>, Box<Manifest>)> {
    let part = &plan.delta.parts[plan.delta.manifest_index()];
    let mut json = vec![0u8; usize::try_from(part.target_len)?];
    out.read_exact_at(&mut json, start * BLOCK + part.target_offset)?;
    let mut manifest = Box::<Manifest>::default();
    loader::manifest::parse_into(&json, &mut manifest).map_err(|e| {
        UpdateError::WrittenSlotBad {
            path: plan.img.to_owned(),
            slot: plan.target,
            reason: format!("its manifest: {e}"),
        }
    })?;
    Ok((json, manifest))
}

/// The new slot's block 0: its own fields from the manifest, the signature record the delta
/// carried (bytes 120..224 as written), and the destination's geometry — slot A keeps the
/// disk's ESP, data region, slot table and MBR; slot B gets its window superblock.
fn write_block0(
    plan: &Plan<'_>,
    out: &File,
    start: u64,
    manifest: &Manifest,
    json: &[u8],
) -> Result<Superblock> {
    let mut block = [0u8; BLOCK_SIZE];
    out.read_exact_at(&mut block, start * BLOCK)?;
    let signature = ManifestSignature::decode(&block).map_err(|e| UpdateError::WrittenSlotBad {
        path: plan.img.to_owned(),
        slot: plan.target,
        reason: format!("its signature record: {e:?}"),
    })?;
    let sb = derive_block0(&plan.disk, plan.target, manifest, json, signature)?;
    if plan.target == Slot::A {
        // The disk's MBR (bytes 440..512) stays: read from the image (the copy's block 0 was
        // zeroed by the apply); write_to leaves it as it is.
        File::open(plan.img)?.read_exact_at(&mut block, 0)?;
        let mut mbr = [0u8; 72];
        mbr.copy_from_slice(&block[440..512]);
        sb.write_to(&mut block);
        block[440..512].copy_from_slice(&mbr);
    } else {
        block = sb.encode();
    }
    out.write_all_at(&block, start * BLOCK)?;
    Ok(sb)
}

/// The superblock of a slot holding `manifest` (exact bytes `json`) on the disk `disk`.
pub fn derive_block0(
    disk: &Superblock,
    slot: Slot,
    manifest: &Manifest,
    json: &[u8],
    signature: Option<ManifestSignature>,
) -> Result<Superblock> {
    let kernel_blocks = u32::try_from(blocks_for(manifest.kernel.size_bytes))?;
    let own = Superblock {
        format_version: FORMAT_VERSION,
        kernel_blocks,
        kernel_start: 1,
        manifest_start: 1 + u64::from(kernel_blocks),
        manifest_bytes: json.len() as u64,
        image_id: loader::sha256::image_id(json),
        signature,
        ..*disk
    };
    match (slot, disk.slots) {
        (Slot::B, Some(table)) => {
            window_superblock(&own, disk, &table).context("slot B lies past the data region")
        }
        _ => Ok(own),
    }
}

/// The loader's whole verification of the written slot, through its window.
fn check_written(plan: &Plan<'_>, out: &File, start: u64, sb: &Superblock) -> Result<()> {
    let bad = |reason: String| UpdateError::WrittenSlotBad {
        path: plan.img.to_owned(),
        slot: plan.target,
        reason,
    };
    let mut manifest = Box::<Manifest>::default();
    let verified =
        pack::verify_window(out, start, &mut manifest).map_err(|e| bad(e.to_string()))?;
    if verified.superblock != *sb || sb.image_id != plan.delta.header.target_image_id {
        return Err(bad("its block 0 reads back differently".into()).into());
    }
    Ok(())
}

#[cfg(test)]
#[path = "update/tests.rs"]
mod tests;
