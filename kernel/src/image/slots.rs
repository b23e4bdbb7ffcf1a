//! A two-slot image on the chosen disk: where the booted slot's image lies (a window of the
//! disk), the slot metadata as read before verification, and the other slot's security epoch.

use alloc::boxed::Box;

use bootslots::meta::{Metadata, Slot};
use drivers::block::{BlockDevice, Window};
use loader::manifest::{Manifest, MAX_MANIFEST_BYTES};
use loader::slots::SlotTable;
use loader::superblock::{Superblock, BLOCK_SIZE};

use crate::userdata::{self, RegionError};

/// The slot metadata as read from the disk (`bootslots::meta::read`).
pub type StoredMeta = bootslots::meta::Read;

/// The booted slot of a two-slot image.
#[derive(Clone, Copy, Debug)]
pub struct SlotDisk {
    pub booted: Slot,
    pub table: SlotTable,
    /// The disk's block 0 (slot A's): its data region is both slots' user data.
    pub disk: Superblock,
    pub stored: StoredMeta,
    /// The other slot's `security_epoch`, when its priority is above 0 and its manifest reads.
    pub other_epoch: Option<u32>,
}

impl SlotDisk {
    /// The first 4096-byte block of `slot`'s image on the disk.
    pub fn start_of(&self, slot: Slot) -> u64 {
        match slot {
            Slot::A => 0,
            Slot::B => self.table.b_start,
        }
    }
}

/// `device` seen from the 4096-byte block `start` on (in its own sector size).
pub fn window(device: &mut dyn BlockDevice, start: u64) -> Window<&mut dyn BlockDevice> {
    let per_block = (BLOCK_SIZE / device.block_size().max(1)) as u64;
    Window::new(device, start.saturating_mul(per_block))
}

/// Reads the slot metadata's two copies from the disk's user-data region.
///
/// # Errors
/// The region cannot be opened or read.
pub fn read_meta(
    device: &mut dyn BlockDevice,
    disk: &Superblock,
) -> Result<StoredMeta, RegionError> {
    let mut region = userdata::boot::open(device, disk)?;
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(abi::userdata::SLOT_META_BLOCKS) {
        region.read(block, copy)?;
    }
    Ok(bootslots::meta::read([&copies[0][..], &copies[1][..]]))
}

/// Encodes `meta` as the next generation into the copy not read, writes it and flushes; on
/// success `stored` describes what is now on disk.
///
/// # Errors
/// The region cannot be opened, written or flushed.
pub fn write_meta(
    device: &mut dyn BlockDevice,
    disk: &Superblock,
    stored: &mut StoredMeta,
    meta: Metadata,
) -> Result<(), RegionError> {
    let mut region = userdata::boot::open(device, disk)?;
    let generation = bootslots::block::next_generation(stored.generation);
    let mut block = [0u8; BLOCK_SIZE];
    meta.encode(generation, &mut block);
    region.write(abi::userdata::SLOT_META_BLOCKS[stored.write_to], &block)?;
    region.flush()?;
    *stored = StoredMeta {
        meta,
        generation,
        write_to: 1 - stored.write_to,
        damaged: None,
    };
    Ok(())
}

/// The `security_epoch` of the image at block `start` of `device`, if its block 0 and
/// manifest read and parse (not verified: it only bounds how far the minimum advances).
pub fn epoch_at(device: &mut dyn BlockDevice, start: u64) -> Option<u32> {
    let mut win = window(device, start);
    let mut block = Box::new([0u8; BLOCK_SIZE]);
    let per_block = (BLOCK_SIZE / win.block_size().max(1)) as u64;
    win.read_blocks(0, &mut block[..]).ok()?;
    let sb = Superblock::decode(&block[..]).ok()?;
    let len = usize::try_from(sb.manifest_bytes)
        .ok()
        .filter(|&n| n <= MAX_MANIFEST_BYTES)?;
    let mut bytes = alloc::vec![0u8; len.next_multiple_of(BLOCK_SIZE)];
    win.read_blocks(sb.manifest_start.checked_mul(per_block)?, &mut bytes)
        .ok()?;
    let mut manifest: Box<Manifest> = Box::default();
    loader::manifest::parse_into(&bytes[..len], &mut manifest).ok()?;
    Some(manifest.security_epoch)
}

/// Verifies the system slot whose block 0 is disk block `start` before it may boot (SLOT_SET
/// calls it through `image::boot_files::prepare_other`): its block 0, that its manifest is the one
/// block 0 names (image id), every region's SHA-256 (kernel and binaries, read through its
/// window), and under the enrolled policy its manifest signature (the security record's
/// revocations applied) and the rollback minimum. On a syscall stack: the manifest is
/// read with `loader::slim`, not as a whole `Manifest` (the graph and the entry signatures are
/// checked again when the slot boots, where a failure demotes it and the other slot boots).
///
/// # Errors
/// The first check that fails.
pub fn verify_other(
    device: &mut dyn BlockDevice,
    start: u64,
) -> Result<Verified, crate::process::slot_io::Unverified> {
    use crate::process::slot_io::Unverified;
    let (sb, json) = read_manifest(device, start)?;
    let slim = loader::slim::parse(&json).map_err(|_| Unverified::Manifest)?;
    let mut win = window(device, start);
    let mut used = sb.manifest_start + loader::superblock::blocks_for(sb.manifest_bytes);
    for placed in core::iter::once(&slim.kernel).chain(slim.entries.iter()) {
        check_sum(&mut win, placed)?;
        let end = placed
            .start_block
            .saturating_add(loader::superblock::blocks_for(placed.size_bytes));
        used = used.max(end);
    }
    let manifest_sha256 = loader::Sha256Digest::of(&json);
    check_signature(device, &sb, &manifest_sha256, slim.security_epoch)?;
    Ok(Verified {
        sb,
        kernel_offset: slim.kernel.start_block.saturating_mul(BLOCK_SIZE as u64),
        kernel_len: slim.kernel.size_bytes,
        used,
    })
}

/// What a verified slot's boot files are made from.
#[derive(Clone, Copy, Debug)]
pub struct Verified {
    /// The slot's block 0.
    pub sb: Superblock,
    /// Where its kernel is, in bytes from its block 0.
    pub kernel_offset: u64,
    /// The kernel's length.
    pub kernel_len: u64,
    /// Blocks from its block 0 to the end of its last binary (or its manifest).
    pub used: u64,
}

fn io_error(block: u64) -> crate::process::slot_io::Unverified {
    crate::process::slot_io::Unverified::Image(Box::new(loader::LoadError::Io { block, count: 1 }))
}

/// The slot's block 0 and its manifest's exact bytes, which must be the ones block 0 names.
fn read_manifest(
    device: &mut dyn BlockDevice,
    start: u64,
) -> Result<(Superblock, alloc::vec::Vec<u8>), crate::process::slot_io::Unverified> {
    use crate::process::slot_io::Unverified;
    let mut win = window(device, start);
    let mut block = alloc::vec![0u8; BLOCK_SIZE];
    win.read_blocks(0, &mut block).map_err(|_| io_error(0))?;
    let sb = Superblock::decode(&block).map_err(|e| Unverified::Image(Box::new(e)))?;
    let len = usize::try_from(sb.manifest_bytes)
        .ok()
        .filter(|&n| n <= MAX_MANIFEST_BYTES)
        .ok_or(Unverified::Manifest)?;
    let mut json = alloc::vec![0u8; len.next_multiple_of(BLOCK_SIZE)];
    win.read_blocks(sb.manifest_start, &mut json)
        .map_err(|_| io_error(sb.manifest_start))?;
    json.truncate(len);
    match loader::sha256::image_id(&json) == sb.image_id {
        true => Ok((sb, json)),
        false => Err(Unverified::Manifest),
    }
}

/// Under the enrolled policy: the manifest signature against the enrolled ring less the
/// security record's revocations, and the record's rollback minimum. Permissive: warnings.
fn check_signature(
    device: &mut dyn BlockDevice,
    sb: &Superblock,
    manifest_sha256: &loader::Sha256Digest,
    epoch: u32,
) -> Result<(), crate::process::slot_io::Unverified> {
    use crate::process::slot_io::Unverified;
    let trust = match super::trust::enrolled() {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(()),
        Err(e) => {
            return Err(Unverified::Refused(Box::new(alloc::format!(
                "the trust block: {e}"
            ))))
        }
    };
    let mut block = alloc::vec![0u8; BLOCK_SIZE];
    let disk = window(device, 0)
        .read_blocks(0, &mut block)
        .ok()
        .and_then(|()| Superblock::decode(&block).ok());
    let record = disk
        .and_then(|d| userdata::boot::read_security(device, &d).ok())
        .map(|s| s.record)
        .unwrap_or_default();
    let mut ring = trust.ring.clone();
    for id in &record.revoked {
        if let Ok(id) = signing::KeyId::new(id) {
            let _ = ring.revoke(id);
        }
    }
    let refusal = match &sb.signature {
        None => Some(Unverified::Unsigned),
        Some(r) => ring
            .check_manifest(r.key_id(), &manifest_sha256.0, &r.signature.0)
            .err()
            .map(|e| Unverified::Refused(Box::new(alloc::format!("{e}")))),
    };
    let refusal = refusal.or((epoch < record.min_epoch).then_some(Unverified::Rollback {
        epoch,
        min: record.min_epoch,
    }));
    match (refusal, trust.policy) {
        (None, _) => Ok(()),
        (Some(e), signing::Policy::Enforce) => Err(e),
        (Some(e), signing::Policy::Permissive) => {
            log::warn!("slots: the written slot would be refused under enforce: {e}; permissive: it may boot");
            Ok(())
        }
    }
}

/// Hashes `placed`'s bytes through the window and compares them with the manifest's sum.
fn check_sum(
    win: &mut Window<&mut dyn BlockDevice>,
    placed: &loader::slim::Placed<'_>,
) -> Result<(), crate::process::slot_io::Unverified> {
    use crate::process::slot_io::Unverified;
    use sha2::Digest;
    const CHUNK: usize = 64 * 1024;
    let mut hasher = sha2::Sha256::new();
    let mut buf = alloc::vec![0u8; CHUNK];
    let (mut block, mut left) = (placed.start_block, placed.size_bytes);
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let whole = n.next_multiple_of(BLOCK_SIZE);
        win.read_blocks(block, &mut buf[..whole])
            .map_err(|_| Unverified::Image(Box::new(loader::LoadError::Io { block, count: 1 })))?;
        hasher.update(&buf[..n]);
        block += (whole / BLOCK_SIZE) as u64;
        left -= n as u64;
    }
    match <[u8; 32]>::from(hasher.finalize()) == placed.sha256 {
        true => Ok(()),
        false => Err(Unverified::Damaged {
            region: alloc::string::String::from(placed.name),
        }),
    }
}
