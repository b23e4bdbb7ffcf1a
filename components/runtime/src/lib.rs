//! The PandaGen component runtime: everything a ring-3 component needs besides its `main`.
//!
//! * `_start`, the ELF entry point: ends the frame-pointer chain, aligns the stack, calls the
//!   component's `main` and exits with what it returned;
//! * a panic handler that logs the message and exits with [`abi::EXIT_PANIC`] (101);
//! * safe wrappers around the system calls ([`exit`], [`log`], [`ready`], [`yield_now`],
//!   [`caps`], [`userdata_info`], [`userdata_read`], [`userdata_write`]) over the raw ones in
//!   [`raw`];
//! * [`log!`] and friends, which format into a fixed stack buffer (no heap).
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

use core::fmt;

pub use abi;
pub use abi::{Error, LogLevel};

pub mod raw;

mod writer;
pub use writer::StackWriter;

mod capslist;
pub use capslist::write_caps;

/// Size of the stack buffer [`log!`] and the panic handler format into; longer messages are
/// cut (at a character boundary) and end in `...`.
pub const LOG_BUF_LEN: usize = 256;

/// Ends the component with `code`. Never returns.
pub fn exit(code: i32) -> ! {
    raw::exit(code)
}

/// Writes `msg` to the system log at `level`. Messages longer than [`abi::LOG_MAX_LEN`] are
/// cut at a character boundary.
pub fn log(level: LogLevel, msg: &str) -> Result<(), Error> {
    let msg = writer::truncate(msg, abi::LOG_MAX_LEN);
    // SAFETY: LOG only reads `len` bytes at `ptr`, which is the live, initialised `msg`.
    let ret = unsafe {
        raw::syscall3(
            abi::Syscall::Log.number(),
            msg.as_ptr() as u64,
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

/// Writes the capabilities granted to this component into `buf` and returns the full length
/// of the list in bytes (more than `buf.len()` means the list was cut; retry with a larger
/// buffer).
pub fn caps(buf: &mut [u8]) -> Result<usize, Error> {
    // SAFETY: CAPS writes at most `len` bytes at `ptr`, which is the exclusively borrowed
    // `buf`; any byte pattern is a valid `u8`.
    let ret = unsafe {
        raw::syscall2(
            abi::Syscall::Caps.number(),
            buf.as_mut_ptr() as u64,
            buf.len() as u64,
        )
    };
    abi::decode_return(ret).map(|n| n as usize)
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

#[cfg(target_os = "none")]
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
        let _ = super::log(abi::LogLevel::Error, w.finish());
        super::exit(abi::EXIT_PANIC)
    }
}
