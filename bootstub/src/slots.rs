//! The A/B slot choice's firmware side: finds the image disk through BlockIO and reads its block 0
//! and the slot metadata's two copies; the choice itself is `bootproto::slots` (host-tested).
//!
//! The disk is the whole disk the stub was loaded from (its device path up to the partition
//! node); only when that cannot be told, the first whole disk whose block 0 is a two-slot
//! image's. Nothing here writes to a disk: the kernel keeps the metadata.

use alloc::boxed::Box;
use alloc::vec::Vec;

use bootproto::config::Entry;
use bootproto::slots::{self, BLOCK_SIZE};
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams, ScopedProtocol};
use uefi::proto::device_path::build::DevicePathBuilder;
use uefi::proto::device_path::{DevicePath, DeviceSubType, DeviceType};
use uefi::proto::loaded_image::LoadedImage;
use uefi::proto::media::block::{BlockIO, BlockIOMedia};
use uefi::proto::ProtocolPointer;
use uefi::{Handle, Status};

/// One 4096-byte block, aligned beyond any `io_align` a disk asks for.
#[repr(C, align(4096))]
struct Block([u8; BLOCK_SIZE]);

/// On a two-slot image, the index in `entries` of the entry for the slot the metadata chooses,
/// with the line saying why; `None` (and nothing said) boots the first entry, as before.
pub fn chosen_entry(entries: &[Entry]) -> Option<usize> {
    let (disk, blocks) =
        boot_disk().map_or_else(first_two_slot_disk, |d| Some(d).zip(two_slot(d)))?;
    let copies = read_copies(disk, blocks);
    let boot = slots::choose_entry(copies.as_ref().map(|[a, b]| [&a.0[..], &b.0[..]]), entries);
    if boot.is_problem() {
        crate::shout!("bootstub: {boot}");
    } else {
        crate::say!("bootstub: {boot}");
    }
    boot.entry
}

/// The whole disk holding the partition the stub was loaded from, if the firmware says.
fn boot_disk() -> Option<Handle> {
    let loaded = boot::open_protocol_exclusive::<LoadedImage>(boot::image_handle()).ok()?;
    let device = loaded.device()?;
    let path = boot::open_protocol_exclusive::<DevicePath>(device).ok()?;
    let mut bytes = Vec::new();
    let mut builder = DevicePathBuilder::with_vec(&mut bytes);
    for node in path
        .node_iter()
        .take_while(|n| !is_partition(n.full_type()))
    {
        builder = builder.push(&node).ok()?;
    }
    let mut disk_path = builder.finalize().ok()?;
    boot::locate_device_path::<BlockIO>(&mut disk_path).ok()
}

/// A hard-drive (partition) or CD-ROM (El Torito) node: where a disk's path ends.
fn is_partition((ty, sub): (DeviceType, DeviceSubType)) -> bool {
    ty == DeviceType::MEDIA
        && (sub == DeviceSubType::MEDIA_HARD_DRIVE || sub == DeviceSubType::MEDIA_CD_ROM)
}

/// The first whole disk whose block 0 is a two-slot image's, and its metadata blocks.
fn first_two_slot_disk() -> Option<(Handle, [u64; 2])> {
    let handles = boot::find_handles::<BlockIO>().ok()?;
    handles.into_iter().find_map(|h| Some(h).zip(two_slot(h)))
}

/// The metadata blocks of `disk`, when it is a whole disk holding a two-slot image.
fn two_slot(disk: Handle) -> Option<[u64; 2]> {
    let mut block0 = Box::new(Block([0; BLOCK_SIZE]));
    read_block(disk, 0, &mut block0).ok()?;
    slots::meta_blocks(&block0.0)
}

/// Both metadata copies, or `None` (said) when either cannot be read.
fn read_copies(disk: Handle, blocks: [u64; 2]) -> Option<[Box<Block>; 2]> {
    let mut copies = [(); 2].map(|()| Box::new(Block([0; BLOCK_SIZE])));
    for (copy, block) in copies.iter_mut().zip(blocks) {
        if let Err(status) = read_block(disk, block, copy) {
            crate::shout!(
                "bootstub: slots: cannot read the slot metadata at disk block {block} ({status:?})"
            );
            return None;
        }
    }
    Some(copies)
}

/// Reads 4096-byte block `block` of `disk` (`UNSUPPORTED` unless [`lbas_per_block`] allows).
fn read_block(disk: Handle, block: u64, out: &mut Block) -> Result<(), Status> {
    let mut io = get_protocol::<BlockIO>(disk)?;
    let media = io.media();
    let id = media.media_id();
    let per_block = lbas_per_block(media).ok_or(Status::UNSUPPORTED)?;
    let lba = block
        .checked_mul(per_block)
        .ok_or(Status::INVALID_PARAMETER)?;
    io.read_blocks(id, lba, &mut out.0).map_err(|e| e.status())
}

/// Media blocks per 4096-byte block, for a whole disk (not a partition) with media present, a
/// block size that divides 4096 and a buffer alignment [`Block`] meets; `None` otherwise.
fn lbas_per_block(media: &BlockIOMedia) -> Option<u64> {
    let size = u64::from(media.block_size());
    let usable = media.is_media_present()
        && !media.is_logical_partition()
        && (BLOCK_SIZE as u64).is_multiple_of(size)
        && media.io_align() as usize <= BLOCK_SIZE;
    usable.then(|| BLOCK_SIZE as u64 / size)
}

/// Opens `P` on `handle` the way `HandleProtocol` does, without taking it from the drivers
/// that use it (an exclusive open of a disk's BlockIO would stop its partition and file-system
/// drivers, and with them the boot volume).
fn get_protocol<P: ProtocolPointer + ?Sized>(handle: Handle) -> Result<ScopedProtocol<P>, Status> {
    let params = OpenProtocolParams {
        handle,
        agent: boot::image_handle(),
        controller: None,
    };
    // SAFETY: a GET_PROTOCOL open is not tracked, so the firmware would not stop us using the
    // interface if its driver were disconnected meanwhile. The stub holds it only inside
    // `read_block`, for one synchronous read, and connects or disconnects no driver there; the
    // handle comes from the firmware's own handle database (`find_handles` or
    // `locate_device_path`) just before.
    unsafe { boot::open_protocol::<P>(params, OpenProtocolAttributes::GetProtocol) }
        .map_err(|e| e.status())
}
