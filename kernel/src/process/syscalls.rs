//! Serving system calls: the dispatcher the `syscall` entry stub calls, and the user-data
//! region the `USERDATA_*` calls work on.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use abi::{Error, LogLevel, LOG_MAX_LEN};
use drivers::block::{BlockDevice, Blocks4K};
use loader::superblock::{Superblock, BLOCK_SIZE};
use spin::Mutex;

use super::args::{self, Allowed, Call, TEXT_MAX_LEN, USER_END};
use super::console_read::{console_read, ConsoleInput};
use super::ipc_calls::{self, copy_in, copy_out};
use super::sched;
use super::slot_calls::{self, SlotCallError};
use super::slot_io::{self, SlotIoError};
use super::{BoxedUserData, Exit, FaultKind};
use crate::arch::syscall::SyscallFrame;
use crate::crash::NotSaved;
use crate::sysinfo::SYSINFO;
use crate::userdata::{Region, RegionError};
use bootslots::crash::RecordBytes;

/// The user-data region the `USERDATA_*` calls use, once the boot path hands it over.
static USER_DATA: Mutex<Option<BoxedUserData>> = Mutex::new(None);

/// Keeps this boot's number for the BOOTCOUNT call. A forwarder to [`crate::sysinfo`] for
/// callers not yet moved there; new code writes `sysinfo::SYSINFO` itself.
pub fn set_boot_count(count: u64) {
    SYSINFO.set_boot_count(count);
}

/// Hands the user-data region to the process core; from now on the kernel reaches it only
/// through the `USERDATA_*` calls of processes granted `block_device` and
/// `persistent_storage`. Replaces an earlier one.
pub fn set_user_data(store: BoxedUserData, persistent: bool) {
    *USER_DATA.lock() = Some(store);
    USER_DATA_PERSISTENT.store(persistent, Ordering::Relaxed);
}

/// Whether the region handed to [`set_user_data`] is on a disk (else in RAM).
static USER_DATA_PERSISTENT: AtomicBool = AtomicBool::new(false);

/// Opens the user-data region of the image disk `device` (owning it) for [`set_user_data`].
///
/// # Errors
/// As `userdata::Region::new`; a sector size that does not divide 4096 is `WrongBlockSize`.
pub fn user_data_from_disk(
    device: Box<dyn BlockDevice + Send>,
    sb: &Superblock,
) -> Result<BoxedUserData, RegionError> {
    let block_size = device.block_size();
    let device = Blocks4K::new(device).map_err(|_| RegionError::WrongBlockSize { block_size })?;
    Ok(Box::new(Region::for_components(
        device,
        sb.data_start,
        sb.total_blocks,
    )?))
}

/// Writes and flushes one of the kernel's own user-data blocks (verified boot's records) on
/// the disk handed to [`set_user_data`]; no syscall reaches these blocks.
///
/// # Errors
/// [`RegionError::NoneForComponents`] when no region was handed over, or the region's error.
pub fn write_kernel_block(block: u64, buf: &[u8; BLOCK_SIZE]) -> Result<(), RegionError> {
    let mut guard = USER_DATA.lock();
    let region = guard
        .as_mut()
        .ok_or(RegionError::NoneForComponents { region_blocks: 0 })?;
    region.write_kernel_block(block, buf)
}

/// Reads one of the kernel's own user-data blocks from the disk handed to [`set_user_data`]
/// (the mirror of [`write_kernel_block`]); no syscall reaches these blocks directly.
///
/// # Errors
/// [`RegionError::NoneForComponents`] when no region was handed over, or the region's error.
pub fn read_kernel_block(block: u64, buf: &mut [u8; BLOCK_SIZE]) -> Result<(), RegionError> {
    let mut guard = USER_DATA.lock();
    let region = guard
        .as_mut()
        .ok_or(RegionError::NoneForComponents { region_blocks: 0 })?;
    region.read_kernel_block(block, buf)
}

/// Writes a dying kernel's crash record into the kernel's crash blocks (`crash::Recorder`'s
/// writer): never waits for the region's lock.
///
/// # Errors
/// [`NotSaved`]: no region, a region in RAM, the region busy, or the disk's error.
pub fn save_crash_record(record: &RecordBytes) -> Result<(), NotSaved> {
    if !USER_DATA_PERSISTENT.load(Ordering::Relaxed) {
        return Err(NotSaved::InRam);
    }
    let mut guard = USER_DATA.try_lock().ok_or(NotSaved::Busy)?;
    let region = guard.as_mut().ok_or(NotSaved::NoRegion)?;
    let (blocks, _) = record.as_chunks::<BLOCK_SIZE>();
    for (block, bytes) in (crate::userdata::crash::FIRST_BLOCK..).zip(blocks) {
        region
            .write_kernel_block(block, bytes)
            .map_err(NotSaved::Disk)?;
    }
    Ok(())
}

/// Called by the `syscall` entry stub on the calling task's kernel stack, interrupts off.
/// Puts the result in `frame.rax`; EXIT (and a return address the program cannot have)
/// never come back.
pub extern "C" fn on_syscall(frame: &mut SyscallFrame) {
    // sysretq to a non-canonical rip would fault in ring 0 with the program's stack: a
    // `syscall` can only sit there if the program ran off the end of the user half.
    if frame.rip >= USER_END {
        sched::exit_current(Exit::Fault {
            fault: FaultKind::GeneralProtection,
            rip: frame.rip,
            addr: None,
        });
    }
    let args = [
        frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
    ];
    let allowed = sched::with_current(|_, _, grants, _| Allowed {
        user_data: grants.user_data(),
        console: grants.console,
        power: grants.power,
        update: grants.update,
        framebuffer: grants.framebuffer,
        network: !grants.network_devices.is_empty(),
    })
    .unwrap_or_default();
    let result = args::decode_for(frame.rax, args, allowed).and_then(run);
    frame.rax = abi::encode_return(result) as u64;
}

/// Runs a decoded call for the current task.
/// Writes the first `cap` bytes (at most [`args::CAPS_MAX_LEN`]) of `text`, something the
/// kernel keeps about the calling process, to its buffer at `ptr`; returns the full length.
fn own_text_out(text: &str, ptr: u64, cap: u64) -> Result<u64, Error> {
    let n = (text.len() as u64).min(cap).min(args::CAPS_MAX_LEN);
    args::check_user_range(ptr, n)?;
    sched::with_current(|_, _, _, space| space.write(ptr, &text.as_bytes()[..n as usize]))
        .ok_or(Error::Unsupported)?
        .map_err(|_| Error::BadPointer)?;
    Ok(text.len() as u64)
}

fn run(call: Call) -> Result<u64, Error> {
    match call {
        Call::Exit(code) => sched::exit_current(Exit::Code(code)),
        Call::Log { ptr, len, level } => log_message(ptr, len, level),
        Call::Ready => {
            sched::mark_ready();
            Ok(0)
        }
        Call::Yield => {
            sched::yield_now();
            Ok(0)
        }
        Call::Caps { ptr, cap } => {
            let record = sched::with_current(|_, _, grants, _| grants.caps_record())
                .ok_or(Error::Unsupported)?;
            own_text_out(&record, ptr, cap)
        }
        Call::Config { ptr, cap } => {
            let line = sched::with_current(|_, _, grants, _| grants.config.clone())
                .ok_or(Error::Unsupported)?
                .ok_or(Error::NotFound)?;
            own_text_out(&line, ptr, cap)
        }
        Call::MemoryGrow(bytes) => sched::grow_current(bytes),
        Call::UserdataPersistent => USER_DATA
            .lock()
            .as_ref()
            .map(|_| u64::from(USER_DATA_PERSISTENT.load(Ordering::Relaxed)))
            .ok_or(Error::NotFound),
        Call::UserdataInfo => USER_DATA
            .lock()
            .as_ref()
            .map(|r| r.blocks())
            .ok_or(Error::NotFound),
        Call::UserdataRead { block, ptr, len } => {
            let mut buf = vec![0u8; len as usize];
            region_op(|r| r.read(block, &mut buf))?;
            sched::with_current(|_, _, _, space| space.write(ptr, &buf))
                .ok_or(Error::Unsupported)?
                .map_err(|_| Error::BadPointer)?;
            Ok(0)
        }
        Call::UserdataWrite { block, ptr, len } => {
            let mut buf = vec![0u8; len as usize];
            sched::with_current(|_, _, _, space| space.read(ptr, &mut buf))
                .ok_or(Error::Unsupported)?
                .map_err(|_| Error::BadPointer)?;
            region_op(|r| r.write(block, &buf))?;
            Ok(0)
        }
        Call::UserdataFlush => {
            region_op(|r| r.flush())?;
            Ok(0)
        }
        Call::IpcCall {
            name,
            name_len,
            req,
            req_len,
            reply,
            reply_cap,
        } => ipc_calls::call(name, name_len, req, req_len, reply, reply_cap),
        Call::IpcReceive {
            name,
            name_len,
            buf,
            cap,
            received,
            wait,
        } => ipc_calls::receive(name, name_len, (buf, cap), received, wait),
        Call::IpcReply { id, ptr, len } => ipc_calls::reply(id, ptr, len),
        Call::ConsoleWrite { ptr, len } => {
            let bytes = copy_in(ptr, len)?;
            crate::arch::serial::write_raw(&bytes);
            crate::screen::console_write(&bytes);
            Ok(len)
        }
        Call::ConsoleRead { ptr, cap } => console_read(&mut SerialInput, ptr, cap),
        Call::Uptime => Ok(crate::time::uptime_us()),
        Call::Clock => crate::time::wall_clock_us().ok_or(Error::NotFound),
        Call::Services { ptr, cap } => {
            let table = SYSINFO.table();
            text_out(table.as_bytes(), ptr, cap)
        }
        Call::Manifest { ptr, cap } => SYSINFO
            .with_manifest_json(|json| text_out(json, ptr, cap))
            .ok_or(Error::NotFound)?,
        Call::ComponentCaps {
            name,
            name_len,
            ptr,
            cap,
        } => {
            let name = ipc_calls::name_in(name, name_len)?;
            let record = SYSINFO.component_caps(&name).ok_or(Error::NotFound)?;
            text_out(record.as_bytes(), ptr, cap)
        }
        Call::Bootcount => SYSINFO.boot_count().ok_or(Error::NotFound),
        Call::Bootlog { ptr, cap } => {
            let journal = SYSINFO.boot_journal().ok_or(Error::NotFound)?;
            text_out(journal.as_bytes(), ptr, cap)
        }
        Call::LastCrash { ptr, cap } => {
            let text = SYSINFO.last_crash().ok_or(Error::NotFound)?;
            text_out(text.as_bytes(), ptr, cap)
        }
        Call::Slots { ptr, cap } => {
            let text = slot_call(slot_calls::show)?;
            text_out(text.as_bytes(), ptr, cap)
        }
        Call::SlotSet {
            action,
            slot,
            ptr,
            cap,
        } => {
            // A bad buffer refuses the call before anything changes.
            check_text_out(ptr, cap)?;
            slot_io_call(|disk, _, booted| check_slot_set(disk, action, slot, booted))?;
            let text = slot_call(|store, booted| slot_calls::set(store, booted, action, slot))?;
            text_out(text.as_bytes(), ptr, cap)
        }
        Call::SlotRead {
            slot,
            block,
            ptr,
            len,
        } => {
            let mut buf = vec![0u8; len as usize];
            slot_io_call(|disk, rooms, _| {
                let at = slot_io::place(&rooms, slot_calls::slot_of(slot), block, buf.len())?;
                disk.read_blocks(at, &mut buf).map_err(SlotIoError::Device)
            })?;
            copy_out(ptr, &buf)?;
            Ok(0)
        }
        Call::SlotWrite { block, ptr, len } => {
            let buf = copy_in(ptr, len)?;
            slot_io_call(|disk, rooms, booted| {
                let target = slot_io::writable(booted);
                if buf.is_empty() {
                    return disk.flush().map_err(SlotIoError::Device);
                }
                let at = slot_io::place(&rooms, target, block, buf.len())?;
                if at == 0 {
                    let mut old = vec![0u8; BLOCK_SIZE];
                    disk.read_blocks(0, &mut old).map_err(SlotIoError::Device)?;
                    slot_io::check_block0(&old, &buf[..BLOCK_SIZE])?;
                }
                disk.write_blocks(at, &buf).map_err(SlotIoError::Device)
            })?;
            Ok(0)
        }
        Call::Reboot => {
            crate::arch::power::reboot();
            Err(Error::Unsupported)
        }
        Call::Poweroff => {
            crate::arch::power::poweroff();
            Err(Error::Unsupported)
        }
        Call::FramebufferMap(ptr) => super::screen_calls::framebuffer_map(ptr),
        Call::ScreenRead { ptr, cap } => super::screen_calls::screen_read(ptr, cap),
        Call::NetInfo {
            name,
            name_len,
            info,
        } => super::net_calls::info(name, name_len, info),
        Call::NetSend {
            name,
            name_len,
            ptr,
            len,
        } => super::net_calls::send(name, name_len, ptr, len),
        Call::NetRecv {
            name,
            name_len,
            ptr,
            cap,
            timeout_ms,
        } => super::net_calls::recv(name, name_len, ptr, cap, timeout_ms),
    }
}

/// CONSOLE_READ's machine side: the running task's memory, COM1's receive FIFO and the
/// registered keyboards.
struct SerialInput;

impl ConsoleInput for SerialInput {
    fn check_writable(&self, ptr: u64, len: u64) -> Result<(), Error> {
        sched::with_current(|_, _, _, space| space.check_writable(ptr, len))
            .ok_or(Error::Unsupported)?
            .map_err(|_| Error::BadPointer)
    }

    fn take(&mut self, buf: &mut [u8]) -> usize {
        // A program waiting for input: draw what the screen still batches.
        crate::screen::flush();
        let n = crate::arch::serial::read_available(buf);
        n + super::console_read::take_from_sources(&mut buf[n..])
    }

    fn copy_out(&mut self, ptr: u64, data: &[u8]) -> Result<(), Error> {
        copy_out(ptr, data)
    }
}

/// Writes the first `cap` bytes of `text` (at most [`TEXT_MAX_LEN`]) to user `ptr`; returns
/// the full length (as CAPS).
fn text_out(text: &[u8], ptr: u64, cap: u64) -> Result<u64, Error> {
    let n = (text.len() as u64).min(cap).min(TEXT_MAX_LEN);
    args::check_user_range(ptr, n)?;
    copy_out(ptr, &text[..n as usize])?;
    Ok(text.len() as u64)
}

/// Checks that [`text_out`] can write all it may (the first `cap` bytes, at most
/// [`TEXT_MAX_LEN`]) at user `ptr`.
fn check_text_out(ptr: u64, cap: u64) -> Result<(), Error> {
    let n = cap.min(TEXT_MAX_LEN);
    args::check_user_range(ptr, n)?;
    if n == 0 {
        return Ok(());
    }
    sched::with_current(|_, _, _, space| space.check_writable(ptr, n))
        .ok_or(Error::Unsupported)?
        .map_err(|_| Error::BadPointer)
}

/// Runs `op` on the user-data region, mapping its errors to the ABI's.
fn region_op(
    op: impl FnOnce(&mut dyn super::UserDataStore) -> Result<(), RegionError>,
) -> Result<(), Error> {
    let mut guard = USER_DATA.lock();
    let region = guard.as_mut().ok_or(Error::NotFound)?;
    op(region.as_mut()).map_err(|e| match e {
        RegionError::OutOfRegion { .. } | RegionError::NotWholeBlocks { .. } => Error::BadLength,
        e => {
            log::warn!("user-data region: {e}");
            Error::Unsupported
        }
    })
}

/// Runs a slot call on the user-data region (held for the whole call, so a SLOT_SET's read
/// and write are one step) and the booted slot, mapping its errors to the ABI's.
/// After a boot that came up: marks the booted slot successful in the metadata as stored now
/// (a console change made meanwhile is kept). Returns the new state's text.
///
/// # Errors
/// No slot booted (one-slot image), no region, or a disk error.
pub fn mark_slot_successful(slot: bootslots::Slot) -> Result<String, SlotCallError> {
    let mut guard = USER_DATA.lock();
    let store = guard
        .as_mut()
        .map(|r| -> &mut dyn super::UserDataStore { r.as_mut() });
    slot_calls::update(store, Some(slot), |meta| {
        bootslots::choose::mark_successful(meta, slot)
    })
}

fn slot_call(
    op: impl FnOnce(
        Option<&mut dyn super::UserDataStore>,
        Option<bootslots::Slot>,
    ) -> Result<String, SlotCallError>,
) -> Result<String, Error> {
    let mut guard = USER_DATA.lock();
    // The trait object's lifetime is shortened to the guard's (no coercion inside `Option`).
    let store = guard
        .as_mut()
        .map(|r| -> &mut dyn super::UserDataStore { r.as_mut() });
    op(store, SYSINFO.booted_slot()).map_err(|e| {
        if e != SlotCallError::OneSlot {
            log::warn!("slots: {e}");
        }
        e.to_abi()
    })
}

/// The check the kernel makes before SLOT_SET changes anything: taking the running slot out
/// of service is refused; making the other slot bootable needs it to verify as at boot
/// (the disk's cache flushed first, so what is verified is what a reboot reads).
fn check_slot_set(
    disk: &mut dyn BlockDevice,
    action: abi::SlotAction,
    slot: abi::SlotId,
    booted: bootslots::Slot,
) -> Result<(), SlotIoError> {
    let slot = slot_calls::slot_of(slot);
    if !slot_io::needs_verification(action, slot, booted)? {
        return Ok(());
    }
    disk.flush().map_err(SlotIoError::Device)?;
    let prepare = *SLOT_PREPARER.lock();
    let prepare = prepare.ok_or(SlotIoError::NoRegion)?;
    let rooms = SYSINFO.slot_rooms().ok_or(SlotIoError::OneSlot)?;
    prepare(disk, slot, rooms.room(slot).0)
}

/// Makes the system slot whose block 0 is at this disk block ready to be tried: verifies it
/// as at boot, then installs its boot files on the ESP (the boot path registers the image
/// layer's function: the process core does not call up into it).
pub type SlotPreparer = fn(&mut dyn BlockDevice, bootslots::Slot, u64) -> Result<(), SlotIoError>;

static SLOT_PREPARER: Mutex<Option<SlotPreparer>> = Mutex::new(None);

/// Registers the function a trial of the inactive slot is verified and prepared with.
pub fn set_slot_preparer(prepare: SlotPreparer) {
    *SLOT_PREPARER.lock() = Some(prepare);
}

/// Runs a slot I/O call on the disk (the user-data region's device, held for the whole call),
/// the slots' rooms and the booted slot; logs its refusal and maps it to the ABI's error.
fn slot_io_call(
    op: impl FnOnce(
        &mut dyn BlockDevice,
        slot_io::SlotRooms,
        bootslots::Slot,
    ) -> Result<(), SlotIoError>,
) -> Result<(), Error> {
    let result = (|| {
        let booted = SYSINFO.booted_slot().ok_or(SlotIoError::OneSlot)?;
        let rooms = SYSINFO.slot_rooms().ok_or(SlotIoError::OneSlot)?;
        let mut guard = USER_DATA.lock();
        let store = guard.as_mut().ok_or(SlotIoError::NoRegion)?;
        op(store.disk(), rooms, booted)
    })();
    result.map_err(|e| {
        if !matches!(e, SlotIoError::OneSlot) {
            log::warn!("slots: {e}");
        }
        e.to_abi()
    })
}

/// LOG: copies the message in, checks it is UTF-8 and logs it as `[name] message`.
fn log_message(ptr: u64, len: u64, level: LogLevel) -> Result<u64, Error> {
    let mut buf = [0u8; LOG_MAX_LEN];
    let buf = buf.get_mut(..len as usize).ok_or(Error::BadLength)?;
    let name =
        sched::with_current(|_, name, _, space| space.read(ptr, buf).map(|()| name.to_string()))
            .ok_or(Error::Unsupported)?
            .map_err(|_| Error::BadPointer)?;
    let text = core::str::from_utf8(buf).map_err(|_| Error::BadLength)?;
    let level = match level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
        LogLevel::Trace => log::Level::Trace,
    };
    log::log!(target: "proc", level, "[{name}] {}", Printable(text));
    Ok(0)
}

/// A program's text with control characters escaped, so it cannot forge log lines.
struct Printable<'a>(&'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}
