//! Making the slot not booted now ready to be tried (SLOT_SET `set-active`/`try`): verify it,
//! then install its boot files on the disk's ESP — its kernel (and slot A's module), limine.conf
//! re-pinned, the boot loader re-enrolled — with `esp::install`, whose order of writes leaves a
//! bootable ESP after a power cut at any point (docs/esp.md). The process core calls this
//! through the callback it registers (`process::set_slot_preparer`).

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use bootslots::Slot;
use drivers::block::BlockDevice;
use esp::fat::{Blocks, Fat, IoError};
use esp::install::{self, Module, Outcome, Request, SlotBytes, Target};
use loader::superblock::{Superblock, BLOCK_SIZE};

use crate::process::slot_io::SlotIoError;

const BLOCK: u64 = BLOCK_SIZE as u64;
/// Bytes read from the disk per call.
const CHUNK: usize = 64 * 1024;

/// Verifies `slot` (block 0 at disk block `start`) and installs its boot files on the ESP
/// (`device` is the whole disk in 4096-byte blocks, as SLOT_READ/SLOT_WRITE see it).
///
/// # Errors
/// [`SlotIoError::Unverified`] when it does not verify; [`SlotIoError::BootFiles`] when its
/// files cannot be installed (the ESP then boots as before).
pub fn prepare_other(
    device: &mut dyn BlockDevice,
    slot: Slot,
    start: u64,
) -> Result<(), SlotIoError> {
    let verified = super::slots::verify_other(device, start).map_err(SlotIoError::Unverified)?;
    log::info!("slots: slot {slot} verifies");
    let mut block0 = vec![0u8; BLOCK_SIZE];
    device
        .read_blocks(0, &mut block0)
        .map_err(SlotIoError::Device)?;
    let disk = Superblock::decode(&block0).map_err(|e| SlotIoError::DiskBlock0(Box::new(e)))?;
    let request = request(slot, &verified);
    let disk_cell = RefCell::new(device);
    let blocks = EspBlocks {
        disk: &disk_cell,
        start: disk.esp_start,
        count: disk.esp_blocks,
    };
    let mut fat =
        Fat::open(blocks).map_err(|e| SlotIoError::BootFiles(install::InstallError::Fat(e)))?;
    let mut room = Room {
        disk: &disk_cell,
        start,
        buf: vec![0u8; CHUNK],
    };
    match install::install(&mut fat, &mut room, &request).map_err(SlotIoError::BootFiles)? {
        Outcome::Unchanged => log::info!("slots: slot {slot}'s boot files on the ESP are current"),
        Outcome::Installed {
            files,
            bytes_written,
            lost_collected,
        } => log::info!(
            "slots: slot {slot}'s boot files installed on the ESP ({files} files, {bytes_written} bytes; {lost_collected} lost clusters freed)"
        ),
    }
    Ok(())
}

/// What to install for `slot`: its kernel, and for slot A the module made from its bytes.
fn request(slot: Slot, v: &super::slots::Verified) -> Request {
    let module = (slot == Slot::A).then(|| Module {
        len: v.used * BLOCK,
        block0: loader::slots::module_superblock(&v.sb, v.used).encode(),
    });
    Request {
        target: match slot {
            Slot::A => Target::A,
            Slot::B => Target::B,
        },
        kernel_offset: v.kernel_offset,
        kernel_len: v.kernel_len,
        module,
    }
}

/// The disk's ESP, `count` blocks from disk block `start`.
struct EspBlocks<'a, 'd> {
    disk: &'a RefCell<&'d mut dyn BlockDevice>,
    start: u64,
    count: u64,
}

impl EspBlocks<'_, '_> {
    /// The disk block of ESP block `block` for `len` bytes, if they lie inside the ESP.
    fn at(&self, block: u64, len: usize) -> Result<u64, IoError> {
        let n = (len / BLOCK_SIZE) as u64;
        match block.checked_add(n) {
            Some(end) if end <= self.count && len.is_multiple_of(BLOCK_SIZE) => {
                self.start.checked_add(block).ok_or(IoError)
            }
            _ => Err(IoError),
        }
    }
}

impl Blocks for EspBlocks<'_, '_> {
    fn read(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let at = self.at(block, buf.len())?;
        self.disk
            .borrow_mut()
            .read_blocks(at, buf)
            .map_err(|_| IoError)
    }

    fn write(&mut self, block: u64, data: &[u8]) -> Result<(), IoError> {
        let at = self.at(block, data.len())?;
        self.disk
            .borrow_mut()
            .write_blocks(at, data)
            .map_err(|_| IoError)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.disk.borrow_mut().flush().map_err(|_| IoError)
    }

    fn block_count(&self) -> u64 {
        self.count
    }
}

/// The verified slot's bytes from disk block `start` on, read a chunk at a time.
struct Room<'a, 'd> {
    disk: &'a RefCell<&'d mut dyn BlockDevice>,
    start: u64,
    buf: Vec<u8>,
}

impl SlotBytes for Room<'_, '_> {
    fn read(&mut self, offset: u64, out: &mut [u8]) -> Result<(), IoError> {
        let mut done = 0usize;
        while done < out.len() {
            let at = offset + done as u64;
            let skip = (at % BLOCK) as usize;
            let n = (out.len() - done + skip)
                .next_multiple_of(BLOCK_SIZE)
                .min(CHUNK);
            let block = self.start + at / BLOCK;
            let chunk = &mut self.buf[..n];
            self.disk
                .borrow_mut()
                .read_blocks(block, chunk)
                .map_err(|_| IoError)?;
            let take = (n - skip).min(out.len() - done);
            out[done..done + take].copy_from_slice(&chunk[skip..skip + take]);
            done += take;
        }
        Ok(())
    }
}
