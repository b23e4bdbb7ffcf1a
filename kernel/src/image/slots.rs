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

/// Verifies the system slot whose block 0 is disk block `start` as its boot would: the loader's
/// checks over a window (block 0, manifest, every sum) and verified boot's signature, key-ring
/// and rollback checks against the disk's security record (SLOT_SET registers it through
/// `process::set_slot_verifier`, before a trial of the slot not booted now).
///
/// # Errors
/// The loader's error, or verified boot's refusal.
pub fn verify_other(
    device: &mut dyn BlockDevice,
    start: u64,
) -> Result<(), crate::process::slot_io::Unverified> {
    use crate::process::slot_io::Unverified;
    let mut block = Box::new([0u8; BLOCK_SIZE]);
    let disk = window(device, 0)
        .read_blocks(0, &mut block[..])
        .ok()
        .and_then(|()| Superblock::decode(&block[..]).ok());
    let stored = disk
        .as_ref()
        .and_then(|sb| userdata::boot::read_security(device, sb).ok());
    let mut win = window(device, start);
    let mut src = super::source::DiskSource::new(&mut win)
        .map_err(|_| Unverified::Image(Box::new(loader::LoadError::ImageEmpty)))?;
    let mut buf: Box<[u8; MAX_MANIFEST_BYTES]> = Box::new([0u8; MAX_MANIFEST_BYTES]);
    let mut manifest: Box<Manifest> = Box::default();
    let verified = loader::verify_image_into(&mut src, &mut buf, &mut (), &mut manifest)
        .map_err(|e| Unverified::Image(Box::new(e)))?;
    super::signatures::check(&verified, &manifest, stored.as_ref(), None)
        .map_err(|e| Unverified::Refused(Box::new(e)))?;
    Ok(())
}
