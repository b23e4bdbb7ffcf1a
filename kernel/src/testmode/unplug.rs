//! `test=unplug`: probe, pick the first USB disk that is not the PANDAGEN image, and write to
//! it in 64 KiB requests, over and over, until a write fails — the harness unplugs the stick
//! (QEMU `device_del`) once it sees [`UNPLUG_WRITING_START`], logged after the first
//! [`ANNOUNCE_AFTER`] writes (so the stick goes away in the middle of the writes). The failure must be a named
//! block error within the driver's timeouts (a hang is the harness's timeout), logged as
//! [`UNPLUG_FAILED_START`]; the request after it must fail too, with its time logged
//! ([`UNPLUG_NEXT_FAILED_START`]). Writes that never fail for [`GIVE_UP_US`] fail the test.

use alloc::vec;

use bootlog::msg::{UNPLUG_FAILED_START, UNPLUG_NEXT_FAILED_START, UNPLUG_WRITING_START};
use drivers::block::BlockDevice;

use crate::devices::{self, Disk, DiskKind};
use crate::time;

/// How long the writes may go on without the device going away.
const GIVE_UP_US: u64 = 60_000_000;
/// Writes done before the harness is told to unplug the stick (1 MiB).
const ANNOUNCE_AFTER: u64 = 16;
/// Each write request.
const REQUEST: usize = 64 * 1024;

/// The scenario (see the module documentation); true if it passed.
pub fn run() -> bool {
    let probe = devices::probe();
    let found = probe
        .disks
        .into_iter()
        .find_map(|mut d| is_blank_usb_disk(&mut d).then_some(d));
    let Some(mut disk) = found else {
        log::error!("test=unplug: no writable USB disk without the PANDAGEN image");
        return false;
    };
    let name = alloc::format!("{disk}");
    let dev = &mut *disk.device;
    let data = vec![0xa5u8; REQUEST];
    let span = (dev.num_blocks() / (REQUEST / dev.block_size()) as u64).max(1);
    let start = time::uptime_us();
    let mut written: u64 = 0;
    let error = loop {
        let lba = (written % span) * (REQUEST / dev.block_size()) as u64;
        let began = time::uptime_us();
        match dev.write_blocks(lba, &data) {
            Ok(()) => written += 1,
            Err(e) => break (e, time::uptime_us() - began),
        }
        if written == ANNOUNCE_AFTER {
            log::info!("{UNPLUG_WRITING_START}{name} (1 MiB written, going on)");
        }
        if time::uptime_us() - start > GIVE_UP_US {
            log::error!("test=unplug: {written} writes and the device is still there");
            return false;
        }
    };
    log::info!(
        "{UNPLUG_FAILED_START}{} KiB: {} (that request took {} ms)",
        written * REQUEST as u64 / 1024,
        error.0,
        error.1 / 1000
    );
    next_request_fails(dev)
}

/// A USB disk whose block 0 does not carry the PANDAGEN magic (never write the image).
fn is_blank_usb_disk(disk: &mut Disk) -> bool {
    disk.kind == DiskKind::UsbMsc && !disk.device.is_read_only() && !holds_image(disk)
}

fn holds_image(disk: &mut Disk) -> bool {
    let mut magic = [0u8; 8];
    drivers::block::read_bytes_at(&mut *disk.device, 0, &mut magic).is_ok()
        && magic == loader::MAGIC
}

/// The request after the failure: it must fail too (its time is logged, not judged: a hang
/// is the harness's timeout).
fn next_request_fails(dev: &mut (dyn BlockDevice + Send)) -> bool {
    let mut buf = vec![0u8; dev.block_size()];
    let began = time::uptime_us();
    let result = dev.read_blocks(0, &mut buf);
    let took = time::uptime_us() - began;
    match result {
        Err(e) => {
            log::info!("{UNPLUG_NEXT_FAILED_START}{e} ({took} µs)");
            true
        }
        Ok(()) => {
            log::error!("test=unplug: the device answered again after the failed write");
            false
        }
    }
}
