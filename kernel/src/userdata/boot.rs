//! Boot-time use of the user-data region: the boot counter, the crash record of an earlier
//! boot, and the `test=persist` check.

use alloc::vec;

use bootlog::msg::{
    CRASH_DAMAGED_START, LAST_BOOT_ENDED_END, LAST_BOOT_ENDED_START, PERSIST_FRESH_START,
    PERSIST_INTACT_END, PERSIST_INTACT_START, PERSIST_WROTE_START,
};

use drivers::block::{BlockDevice, Blocks4K};
use loader::superblock::{Superblock, BLOCK_SIZE};

use super::{bootcount, crash, journal, persist, security, Region, RegionError};

/// The region on the image disk.
pub type DiskRegion<'a> = Region<Blocks4K<&'a mut dyn BlockDevice>>;

/// Opens the user-data region the superblock describes on `device`.
///
/// # Errors
/// As [`Region::new`]; a sector size that does not divide 4096 is `WrongBlockSize`.
pub fn open<'a>(
    device: &'a mut dyn BlockDevice,
    sb: &Superblock,
) -> Result<DiskRegion<'a>, RegionError> {
    let block_size = device.block_size();
    let device = Blocks4K::new(device).map_err(|_| RegionError::WrongBlockSize { block_size })?;
    Region::new(device, sb.data_start, sb.total_blocks)
}

/// Reads verified boot's security record (both copies) from the user-data region on `device`.
///
/// # Errors
/// As [`open`], or a read error.
pub fn read_security(
    device: &mut dyn BlockDevice,
    sb: &Superblock,
) -> Result<security::Stored, RegionError> {
    let mut region = open(device, sb)?;
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(security::BLOCKS) {
        region.read(block, copy)?;
    }
    Ok(security::pick([&copies[0], &copies[1]]))
}

/// Reads the boot journal from the region (a fresh one, said, when neither copy is valid).
///
/// # Errors
/// A read error.
pub fn read_journal(region: &mut DiskRegion<'_>) -> Result<journal::Stored, RegionError> {
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(journal::BLOCKS) {
        region.read(block, copy)?;
    }
    let (stored, valid) = journal::Stored::from_copies([&copies[0], &copies[1]]);
    if !valid && copies.iter().any(|c| c.iter().any(|&b| b != 0)) {
        log::warn!("userdata: the boot journal is damaged in both copies; starting a new one");
    }
    Ok(stored)
}

/// Writes the journal's next copy and flushes.
///
/// # Errors
/// A write or flush error.
pub fn write_journal(
    region: &mut DiskRegion<'_>,
    stored: &mut journal::Stored,
) -> Result<(), RegionError> {
    let mut block = [0u8; BLOCK_SIZE];
    let at = stored.next_copy(&mut block);
    region.write(at, &block)?;
    region.flush()
}

/// Reads, increments, writes and flushes the boot counter; returns this boot's number.
///
/// # Errors
/// A region error from reading, writing or flushing (e.g. a read-only disk).
pub fn count_boot(region: &mut DiskRegion<'_>) -> Result<u64, RegionError> {
    let mut block = [0u8; BLOCK_SIZE];
    region.read(bootcount::BLOCK, &mut block)?;
    let stored = bootcount::decode(&block);
    if stored == bootcount::Stored::Damaged {
        log::warn!("userdata: the boot-counter record is damaged (checksum mismatch); starting again from 1");
    }
    let count = bootcount::next(stored);
    bootcount::encode(count, &mut block);
    region.write(bootcount::BLOCK, &block)?;
    region.flush()?;
    Ok(count)
}

/// Looks for the crash record an earlier boot left: keeps its text for LASTCRASH and, the
/// first time, warns `the last boot ended with ...` and writes the record back marked as
/// shown at boot `boot` (flushed). A damaged record is one line.
pub fn show_last_crash(region: &mut DiskRegion<'_>, boot: u64) {
    let mut blocks = [0u8; bootslots::crash::RECORD_LEN];
    if let Err(e) = region.read(crash::FIRST_BLOCK, &mut blocks) {
        log::warn!("userdata: the crash record could not be read: {e}");
        return;
    }
    match crash::at_boot(&mut blocks, boot) {
        crash::Found::Nothing => {}
        crash::Found::Damaged(e) => log::warn!("{CRASH_DAMAGED_START}{e}"),
        crash::Found::Record { text, first_shown } => {
            crate::sysinfo::SYSINFO.set_last_crash(text);
            if let Some(headline) = first_shown {
                log::warn!("{LAST_BOOT_ENDED_START}{headline}{LAST_BOOT_ENDED_END}");
                let written = region
                    .write(crash::FIRST_BLOCK, &blocks)
                    .and_then(|()| region.flush());
                if let Err(e) = written {
                    log::warn!("userdata: the crash record could not be marked as shown: {e}");
                }
            }
        }
    }
}

/// `test=persist`: checks the record a previous boot wrote (if any), writes the next
/// generation, flushes, and reads it back. Returns whether everything held.
pub fn persist_test(region: &mut DiskRegion<'_>) -> bool {
    let mut buf = vec![0u8; persist::BYTES];
    if let Err(e) = region.read(persist::BLOCK, &mut buf) {
        log::error!("persist: reading the record failed: {e}");
        return false;
    }
    let generation = match persist::check(&buf) {
        persist::Found::Nothing => {
            log::info!("{PERSIST_FRESH_START} (fresh region)");
            0
        }
        persist::Found::Intact(g) => {
            log::info!(
                "{PERSIST_INTACT_START}{g}{PERSIST_INTACT_END} ({} bytes checked)",
                buf.len()
            );
            g
        }
        persist::Found::Corrupt { generation, offset } => {
            log::error!(
                "persist: generation {generation} is damaged at byte {offset} of the record"
            );
            return false;
        }
    };
    let next = generation + 1;
    persist::encode(next, &mut buf);
    if let Err(e) = region
        .write(persist::BLOCK, &buf)
        .and_then(|()| region.flush())
    {
        log::error!("persist: writing generation {next} failed: {e}");
        return false;
    }
    buf.fill(0);
    if let Err(e) = region.read(persist::BLOCK, &mut buf) {
        log::error!("persist: reading back generation {next} failed: {e}");
        return false;
    }
    if persist::check(&buf) != persist::Found::Intact(next) {
        log::error!("persist: generation {next} did not read back intact");
        return false;
    }
    log::info!("{PERSIST_WROTE_START}{next}");
    true
}
