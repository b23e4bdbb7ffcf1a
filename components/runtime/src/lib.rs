//! The PandaGen component runtime: everything a ring-3 component needs besides its `main`.
//!
//! * `_start`, the ELF entry point: ends the frame-pointer chain, aligns the stack, calls the
//!   component's `main` and exits with what it returned;
//! * a panic handler that logs the message and exits with [`abi::EXIT_PANIC`] (101);
//! * safe wrappers around the system calls ([`exit`], [`log`], [`ready`], [`yield_now`],
//!   [`caps`], [`userdata_info`], [`userdata_read`], [`userdata_write`], [`ipc::call`],
//!   [`ipc::receive`], [`ipc::reply`], [`console::write`], [`console::read`], [`uptime`],
//!   [`services`], [`manifest`], [`component_caps`], [`bootcount`], [`bootlog`], [`slots`],
//!   [`slot_set`], [`slot_read`], [`slot_write`], [`reboot`], [`poweroff`], [`screen::framebuffer_map`], [`screen::read`])
//!   over the raw ones in [`raw`];
//! * [`log!`] and friends, which format into a fixed stack buffer (no heap) and go to
//!   `services_logger` (the `logger_api` endpoint) when the component may call it, else to the
//!   kernel's LOG (see [`log`]).
//!
//! A component is then just:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! runtime::entry!(main);
//!
//! fn main() -> i32 {
//!     runtime::info!("example started");
//!     0
//! }
//! ```
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

use core::convert::Infallible;
use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};

pub use abi;
pub use abi::{Error, LogLevel};

pub mod console;
pub mod ipc;
pub mod logger;
pub mod net;
pub mod raw;
pub mod screen;

mod writer;
pub use writer::StackWriter;

mod capslist;
pub use capslist::write_caps;

#[cfg(feature = "heap")]
pub mod heap;

/// The heap behind `alloc` in components built with the `heap` feature.
#[cfg(all(feature = "heap", pandagen_component))]
#[global_allocator]
static HEAP: heap::GrowingHeap = heap::GrowingHeap::new();

/// Size of the stack buffer [`log!`] and the panic handler format into; longer messages are
/// cut (at a character boundary) and end in `...`.
pub const LOG_BUF_LEN: usize = 256;

/// Ends the component with `code`. Never returns.
pub fn exit(code: i32) -> ! {
    raw::exit(code)
}

/// A mapped, readable byte, whose address is passed for empty input slices: an empty slice's
/// own pointer is dangling (e.g. `0x1`), and the kernel checks the page a pointer is in even
/// for a length of 0.
static EMPTY_INPUT: [u8; 1] = [0];

/// The address to pass for the input (kernel-read) slice `s`.
pub(crate) fn input_ptr(s: &[u8]) -> u64 {
    if s.is_empty() {
        EMPTY_INPUT.as_ptr() as u64
    } else {
        s.as_ptr() as u64
    }
}

/// Where [`log`] sends messages: try `logger_api` first, or go straight to the kernel.
static LOG_ROUTE: AtomicU8 = AtomicU8::new(ROUTE_TRY_LOGGER);
const ROUTE_TRY_LOGGER: u8 = 0;
const ROUTE_KERNEL: u8 = 1;

/// Makes [`log`] (and [`log!`]) use the kernel's LOG only, never `logger_api`. For the logger
/// itself, which must not call its own endpoint; other components find out on their own.
pub fn log_to_kernel_only() {
    LOG_ROUTE.store(ROUTE_KERNEL, Ordering::Relaxed);
}

/// Writes `msg` to the system log at `level`. Messages longer than [`abi::LOG_MAX_LEN`] are
/// cut at a character boundary.
///
/// The message goes to `services_logger` (an IPC call to [`logger::ENDPOINT`]) while that
/// works, else to the kernel's LOG ([`kernel_log`]), so that logging keeps working without
/// the logger. The first call that fails for a lasting reason (the endpoint is not found or
/// not allowed — the component does not depend on the logger —, the logger is gone or does
/// not answer) switches this component to the kernel's LOG for good; a message the logger
/// refuses goes to the kernel's LOG alone.
pub fn log(level: LogLevel, msg: &str) -> Result<(), Error> {
    let msg = writer::truncate(msg, abi::LOG_MAX_LEN);
    if LOG_ROUTE.load(Ordering::Relaxed) == ROUTE_TRY_LOGGER {
        let mut request = [0u8; abi::LOG_MAX_LEN + 1];
        let n = logger::encode(level, msg, &mut request);
        let mut reply = [0u8; 128];
        match ipc::call(logger::ENDPOINT, &request[..n], &mut reply) {
            Ok(0) => return Ok(()),
            // Refused (a non-empty reply) or a reply too long for us: this message only.
            Ok(_) | Err(Error::BadLength) => {}
            Err(_) => log_to_kernel_only(),
        }
    }
    kernel_log(level, msg)
}

/// Writes `msg` to the kernel's log at `level` (LOG), whatever [`log`] would do. Messages
/// longer than [`abi::LOG_MAX_LEN`] are cut at a character boundary.
pub fn kernel_log(level: LogLevel, msg: &str) -> Result<(), Error> {
    let msg = writer::truncate(msg, abi::LOG_MAX_LEN);
    // SAFETY: LOG only reads `len` bytes at `ptr`, which is the live, initialised `msg`.
    let ret = unsafe {
        raw::syscall3(
            abi::Syscall::Log.number(),
            input_ptr(msg.as_bytes()),
            msg.len() as u64,
            level.to_raw(),
        )
    };
    abi::decode_return(ret).map(drop)
}

/// Formats `args` into a [`LOG_BUF_LEN`]-byte stack buffer and logs it; what [`log!`] calls.
pub fn log_fmt(level: LogLevel, args: fmt::Arguments<'_>) -> Result<(), Error> {
    if let Some(s) = args.as_str() {
        return log(level, s);
    }
    let mut w = StackWriter::<LOG_BUF_LEN>::new();
    // The writer never fails; a failing Display impl just ends the message early.
    let _ = fmt::write(&mut w, args);
    log(level, w.finish())
}

/// Tells the kernel that the component is ready to serve.
pub fn ready() -> Result<(), Error> {
    // SAFETY: READY takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Ready.number()) };
    abi::decode_return(ret).map(drop)
}

/// Gives the rest of the time slice to other components.
pub fn yield_now() {
    // SAFETY: YIELD takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Yield.number()) };
    // Nothing useful can be done if yielding fails; the caller just keeps running.
    let _ = abi::decode_return(ret);
}

/// Grows this component's memory by `bytes` (a non-zero multiple of 4096, at most
/// [`abi::MEMORY_GROW_MAX`]) and returns the address of the new zeroed, writable pages
/// (MEMORY_GROW). Growing past the entry's `memory_limit` ends the component; `NoMemory` when
/// the machine has no room (nothing was mapped).
pub fn memory_grow(bytes: u64) -> Result<u64, Error> {
    // SAFETY: MEMORY_GROW only maps new pages at addresses this program has not used (after
    // its last growth); it touches no memory the program owns.
    let ret = unsafe { raw::syscall1(abi::Syscall::MemoryGrow.number(), bytes) };
    abi::decode_return(ret)
}

/// `len` bytes of new zeroed memory (MEMORY_GROW of `len` rounded up to whole pages, at most
/// [`abi::MEMORY_GROW_MAX`]) as a slice of its own, outside the heap: for one large buffer
/// (`text_renderer_host`'s shadow copy of the framebuffer) that the heap, which grows in
/// powers of two, would take twice over. Errors and `memory_limit` as [`memory_grow`].
pub fn memory_grow_slice(len: usize) -> Result<&'static mut [u8], Error> {
    let page = abi::PAGE_SIZE as usize;
    let bytes = len.div_ceil(page).max(1) * page;
    let addr = memory_grow(bytes as u64)?;
    // SAFETY: MEMORY_GROW just mapped `bytes >= len` zeroed, writable bytes at `addr`, after
    // every earlier growth: nothing else of this program (the heap included, which only
    // uses the growths it asked for) refers to them; the mapping lasts as long as the
    // program; any byte value is a valid `u8`.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) })
}

/// Writes the capabilities granted to this component into `buf` and returns the full length
/// of the list in bytes (more than `buf.len()` means the list was cut; retry with a larger
/// buffer).
pub fn caps(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Caps, buf)
}

/// Writes this component's manifest `config` line into `buf` and returns its full length;
/// [`Error::NotFound`] when the entry has none.
pub fn config(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Config, buf)
}

/// Asks CAPS for this component's capabilities and logs them at INFO as
/// `<name>: granted capabilities: a, b` (see [`write_caps`] for the accepted list format), or
/// an ERROR line if CAPS fails.
pub fn log_caps(name: &str) {
    let mut buf = [0u8; 512];
    match caps(&mut buf) {
        Ok(full) => {
            let mut w = StackWriter::<LOG_BUF_LEN>::new();
            let _ = fmt::write(&mut w, format_args!("{name}: granted capabilities: "));
            let _ = write_caps(&mut w, &buf, full);
            let _ = log(LogLevel::Info, w.finish());
        }
        Err(e) => error!("{name}: CAPS failed: {e}"),
    }
}

/// The usual start of a component: logs `<name> started` and its capabilities ([`log_caps`]).
pub fn announce(name: &str) {
    info!("{name} started");
    log_caps(name);
}

/// Signals READY, logging `<name>: READY failed: <error>` if the kernel refuses it.
pub fn ready_or_log(name: &str) -> Result<(), Error> {
    ready().inspect_err(|e| error!("{name}: READY failed: {e}"))
}

/// The size of the user-data region in [`abi::USERDATA_BLOCK_SIZE`]-byte blocks
/// (USERDATA_INFO; needs the `block_device` capability, else [`Error::Denied`]).
pub fn userdata_info() -> Result<u64, Error> {
    // SAFETY: USERDATA_INFO takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::UserdataInfo.number()) };
    abi::decode_return(ret)
}

/// Whether the user-data region is on a disk (`true`) or in RAM, where nothing survives a
/// reboot (USERDATA_PERSISTENT; needs `block_device` and `persistent_storage`).
pub fn userdata_persistent() -> Result<bool, Error> {
    // SAFETY: USERDATA_PERSISTENT takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::UserdataPersistent.number()) };
    abi::decode_return(ret).map(|v| v != 0)
}

/// Makes every earlier [`userdata_write`] durable (USERDATA_FLUSH; needs what USERDATA_INFO
/// needs).
pub fn userdata_flush() -> Result<(), Error> {
    // SAFETY: USERDATA_FLUSH takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::UserdataFlush.number()) };
    abi::decode_return(ret).map(drop)
}

/// The wall clock (CLOCK): microseconds since 1970-01-01 UTC; `NotFound` when the boot loader
/// gave no date.
pub fn clock() -> Result<u64, Error> {
    // SAFETY: CLOCK takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Clock.number()) };
    abi::decode_return(ret)
}

/// Reads `buf.len()` bytes (a multiple of [`abi::USERDATA_BLOCK_SIZE`]) from the user-data
/// region starting at region-relative `block` (USERDATA_READ; needs `block_device`).
pub fn userdata_read(block: u64, buf: &mut [u8]) -> Result<u64, Error> {
    // SAFETY: USERDATA_READ writes at most `len` bytes at `ptr`, which is the exclusively
    // borrowed `buf`; any byte pattern is a valid `u8`.
    let ret = unsafe {
        raw::syscall3(
            abi::Syscall::UserdataRead.number(),
            block,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret)
}

/// Writes `buf` (a multiple of [`abi::USERDATA_BLOCK_SIZE`] bytes) to the user-data region
/// starting at region-relative `block` (USERDATA_WRITE; needs `block_device`).
pub fn userdata_write(block: u64, buf: &[u8]) -> Result<u64, Error> {
    // SAFETY: USERDATA_WRITE only reads `len` bytes at `ptr`, which is the live `buf`.
    let ret = unsafe {
        raw::syscall3(
            abi::Syscall::UserdataWrite.number(),
            block,
            buf.as_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret)
}

/// Microseconds since the kernel started (UPTIME).
pub fn uptime() -> Result<u64, Error> {
    // SAFETY: UPTIME takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Uptime.number()) };
    abi::decode_return(ret)
}

/// One of the calls that fill a buffer and return the full length (CAPS, CONFIG, SERVICES,
/// MANIFEST, BOOTLOG, SLOTS, LASTCRASH).
fn fill(call: abi::Syscall, buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: CAPS, CONFIG, SERVICES, MANIFEST, BOOTLOG, SLOTS and LASTCRASH write at most
    // `cap` bytes at `ptr`, the exclusively borrowed `buf`; any byte pattern is a valid `u8`.
    let ret = unsafe { raw::syscall2(call.number(), buf.as_mut_ptr() as u64, buf.len() as u64) };
    abi::decode_return(ret).map(|n| n as usize)
}

/// The supervisor's state table as it is now (SERVICES): a header line and one line per
/// entry, joined with `\n`, written into `buf`. Returns the full length: more than
/// `buf.len()` means the text was cut.
pub fn services(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Services, buf)
}

/// The image's manifest as JSON (MANIFEST), written into `buf`. Returns the full length: more
/// than `buf.len()` means the text was cut.
pub fn manifest(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Manifest, buf)
}

/// The capabilities granted to the manifest entry `name` (COMPONENT_CAPS), in the [`caps`]
/// format (`cap\n` each), written into `buf`; returns the full length. [`Error::NotFound`]
/// for a name the manifest does not have.
pub fn component_caps(name: &str, buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: COMPONENT_CAPS reads `len` bytes of the live borrowed `name` and writes at most
    // `cap` bytes into the exclusively borrowed `buf` (any bytes are valid `u8`s).
    let ret = unsafe {
        raw::syscall4(
            abi::Syscall::ComponentCaps.number(),
            input_ptr(name.as_bytes()),
            name.len() as u64,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| n as usize)
}

/// The boot journal (BOOTLOG): one line per boot, newest first, joined with `\n`, written
/// into `buf`. Returns the full length: more than `buf.len()` means the text was cut.
/// [`Error::NotFound`] when the kernel has no journal (no user-data region).
pub fn bootlog(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Bootlog, buf)
}

/// The crash record (LASTCRASH): how the last boot that ended in a kernel panic or kernel
/// exception ended, and its last kernel log lines, as text, written into `buf`. Returns the
/// full length: more than `buf.len()` means the text was cut. [`Error::NotFound`] when the
/// user data holds no crash record.
pub fn lastcrash(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::LastCrash, buf)
}

/// The A/B system slots' state (SLOTS): one line per slot (priority, tries left, successful,
/// which one booted), the pending one-shot trial and the metadata generation, joined with
/// `\n`, written into `buf`. Returns the full length: more than `buf.len()` means the text
/// was cut. [`Error::NotFound`] when the image has one system slot.
pub fn slots(buf: &mut [u8]) -> Result<usize, Error> {
    fill(abi::Syscall::Slots, buf)
}

/// Changes which system slot boots (SLOT_SET; needs `update`): `action` on `slot`, then the
/// new state written into `buf` as [`slots`] writes it; returns its full length. The change
/// is durable when this returns. [`Error::Denied`] without `update`, [`Error::NotFound`] when
/// the image has one system slot.
pub fn slot_set(
    action: abi::SlotAction,
    slot: abi::SlotId,
    buf: &mut [u8],
) -> Result<usize, Error> {
    // SAFETY: SLOT_SET writes at most `cap` bytes into the exclusively borrowed `buf` (any
    // bytes are valid `u8`s); the other two arguments are plain numbers.
    let ret = unsafe {
        raw::syscall4(
            abi::Syscall::SlotSet.number(),
            action.to_raw(),
            slot.to_raw(),
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| n as usize)
}

/// Reads blocks `block..` of `slot`'s room (counted from its block 0) into `buf` (SLOT_READ;
/// needs `update`): a non-zero multiple of 4096 bytes, at most 64 KiB.
pub fn slot_read(slot: abi::SlotId, block: u64, buf: &mut [u8]) -> Result<(), Error> {
    // SAFETY: SLOT_READ writes at most `buf.len()` bytes into the exclusively borrowed `buf`
    // (any bytes are valid `u8`s); the other arguments are plain numbers.
    let ret = unsafe {
        raw::syscall4(
            abi::Syscall::SlotRead.number(),
            slot.to_raw(),
            block,
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|_| ())
}

/// Writes `data` to blocks `block..` of the inactive slot's room (SLOT_WRITE; needs `update`);
/// an empty `data` flushes the disk's write cache.
pub fn slot_write(block: u64, data: &[u8]) -> Result<(), Error> {
    // SAFETY: SLOT_WRITE only reads `data.len()` bytes from the borrowed `data`.
    let ret = unsafe {
        raw::syscall3(
            abi::Syscall::SlotWrite.number(),
            block,
            data.as_ptr() as u64,
            data.len() as u64,
        )
    };
    abi::decode_return(ret).map(|_| ())
}

/// This boot's number, from the boot counter in the user-data region (BOOTCOUNT);
/// [`Error::NotFound`] when the counter could not be read.
pub fn bootcount() -> Result<u64, Error> {
    // SAFETY: BOOTCOUNT takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Bootcount.number()) };
    abi::decode_return(ret)
}

/// Resets the machine (REBOOT; needs `power`). Returns only if that failed.
pub fn reboot() -> Result<Infallible, Error> {
    // SAFETY: REBOOT takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Reboot.number()) };
    Err(abi::decode_return(ret).err().unwrap_or(Error::Unsupported))
}

/// Switches the machine off (POWEROFF; needs `power`). Returns only if that failed.
pub fn poweroff() -> Result<Infallible, Error> {
    // SAFETY: POWEROFF takes no arguments and touches no user memory.
    let ret = unsafe { raw::syscall0(abi::Syscall::Poweroff.number()) };
    Err(abi::decode_return(ret).err().unwrap_or(Error::Unsupported))
}

/// Logs a formatted message at a level: `log!(LogLevel::Warn, "disk {} missing", n)`.
/// Errors from the LOG call are ignored.
#[macro_export]
macro_rules! log {
    ($level:expr, $($arg:tt)+) => {{
        let _ = $crate::log_fmt($level, ::core::format_args!($($arg)+));
    }};
}

/// [`log!`] at [`LogLevel::Error`].
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log!($crate::LogLevel::Error, $($arg)+) };
}

/// [`log!`] at [`LogLevel::Warn`].
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log!($crate::LogLevel::Warn, $($arg)+) };
}

/// [`log!`] at [`LogLevel::Info`].
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log!($crate::LogLevel::Info, $($arg)+) };
}

/// [`log!`] at [`LogLevel::Debug`].
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log!($crate::LogLevel::Debug, $($arg)+) };
}

/// [`log!`] at [`LogLevel::Trace`].
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log!($crate::LogLevel::Trace, $($arg)+) };
}

/// Declares the component's `main` (a `fn() -> i32`; the result is the exit code).
///
/// Expands to the one symbol the runtime's `_start` calls, `__pandagen_component_main`, so
/// each component uses it exactly once, at the crate root. The component itself needs no
/// `unsafe`: the expansion allows `unsafe_code` for its `no_mangle` item only, so components
/// can `#![deny(unsafe_code)]`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[doc(hidden)]
        #[allow(unsafe_code)]
        // SAFETY: the runtime declares this symbol with exactly this signature, and the
        // macro is the only place that defines it.
        #[unsafe(no_mangle)]
        pub extern "Rust" fn __pandagen_component_main() -> i32 {
            let main: fn() -> i32 = $main;
            main()
        }
    };
}

#[cfg(pandagen_component)]
mod mem;

#[cfg(pandagen_component)]
mod start {
    use core::sync::atomic::{AtomicBool, Ordering};

    // The kernel enters at `_start` with `rsp` at the top of the component's stack, in no
    // particular alignment. Clear rbp so backtraces stop here, align the stack to 16 bytes so
    // the `call` leaves it as the SysV ABI expects, and never come back (`ud2` traps if
    // something returns anyway).
    core::arch::global_asm!(
        ".section .text._start, \"ax\"",
        ".global _start",
        ".type _start, @function",
        "_start:",
        "    xor ebp, ebp",
        "    and rsp, -16",
        "    call {start}",
        "    ud2",
        ".size _start, . - _start",
        start = sym start_component,
    );

    // SAFETY: `__pandagen_component_main` is defined only by `runtime::entry!`, as a safe
    // `extern "Rust" fn() -> i32`, matching this declaration.
    unsafe extern "Rust" {
        safe fn __pandagen_component_main() -> i32;
    }

    extern "C" fn start_component() -> ! {
        super::exit(__pandagen_component_main())
    }

    static PANICKING: AtomicBool = AtomicBool::new(false);

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        // A panic while formatting the first one: give up quietly rather than recurse.
        if PANICKING.swap(true, Ordering::Relaxed) {
            super::exit(abi::EXIT_PANIC);
        }
        let mut w = super::StackWriter::<{ super::LOG_BUF_LEN }>::new();
        let _ = match info.location() {
            Some(loc) => core::fmt::write(
                &mut w,
                format_args!("panicked at {loc}: {}", info.message()),
            ),
            None => core::fmt::write(&mut w, format_args!("panicked: {}", info.message())),
        };
        // Straight to the kernel: the logger may be what is failing.
        let _ = super::kernel_log(abi::LogLevel::Error, w.finish());
        super::exit(abi::EXIT_PANIC)
    }
}
