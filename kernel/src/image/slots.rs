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
