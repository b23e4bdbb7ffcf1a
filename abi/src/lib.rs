//! The PandaGen system-call ABI, shared by the kernel and the component runtime.
//!
//! # Calling convention
//!
//! A component (a ring-3 program) enters the kernel with the `syscall` instruction:
//!
//! | register | on entry                | on return                        |
//! |----------|-------------------------|----------------------------------|
//! | `rax`    | syscall number          | return value (negative = error)  |
//! | `rdi`    | argument 0              | preserved                        |
//! | `rsi`    | argument 1              | preserved                        |
//! | `rdx`    | argument 2              | preserved                        |
//! | `r10`    | argument 3              | preserved                        |
//! | `r8`     | argument 4              | preserved                        |
//! | `r9`     | argument 5              | preserved                        |
//! | `rcx`    | —                       | clobbered (user `rip`)           |
//! | `r11`    | —                       | clobbered (user `rflags`)        |
//!
//! (`r10` replaces `rcx` as argument 3 because `syscall` overwrites `rcx`.) All other
//! registers are preserved. The kernel does not touch the user stack. A return value is an
//! `i64`: non-negative values are results ([`decode_return`] gives `Ok`), negative values are
//! [`Error`] codes. Unused arguments should be 0.
//!
//! # Process entry
//!
//! The kernel starts a component at its ELF entry point in ring 3 with `rsp` at the top of a
//! kernel-provided stack (any alignment: the runtime aligns it) and no arguments; what a
//! component may do is asked with [`Syscall::Caps`]. Components are static, non-PIE ELF
//! executables linked in the lower half ([`layout`]).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use core::fmt;

/// Where components live in the address space.
pub mod layout {
    /// The address components are linked at (`components/link.ld`).
    pub const COMPONENT_BASE: u64 = 0x40_0000;
    /// First address of the kernel's (upper) half; every user mapping lies below it.
    pub const USER_END: u64 = 0x0000_8000_0000_0000;
}

/// A system call number (`rax` on entry).
///
/// | no. | name    | arguments                      | result                          |
/// |-----|---------|--------------------------------|---------------------------------|
/// | 0   | `EXIT`  | code (`i32`, sign-extended)    | does not return                 |
/// | 1   | `LOG`   | ptr, len, [`LogLevel`]         | 0                               |
/// | 2   | `READY` | —                              | 0                               |
/// | 3   | `YIELD` | —                              | 0                               |
/// | 4   | `CAPS`  | buf ptr, buf len               | full length of the list (bytes) |
/// | 16  | `USERDATA_INFO`  | —                     | size of the user-data region (blocks) |
/// | 17  | `USERDATA_READ`  | block, buf ptr, len   | 0                               |
/// | 18  | `USERDATA_WRITE` | block, buf ptr, len   | 0                               |
///
/// Numbers in [`RESERVED_BLOCK`] and [`RESERVED_IPC`] are kept for block-device and IPC
/// calls; until they are defined they fail with [`Error::InvalidSyscall`] like any other
/// unknown number. The `USERDATA_*` calls are the first block-device calls (16–18).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// End the calling component with an exit code (`rdi`, an `i32`). Never returns.
    Exit = 0,
    /// Write a UTF-8 message (`rdi` = pointer, `rsi` = length in bytes, at most
    /// [`LOG_MAX_LEN`]) at a [`LogLevel`] (`rdx`) to the system log.
    Log = 1,
    /// Tell the kernel (and whoever waits on this component) that it is ready to serve.
    Ready = 2,
    /// Give the rest of the time slice to other components.
    Yield = 3,
    /// Write the list of capabilities granted to the caller into a buffer (`rdi` = pointer,
    /// `rsi` = capacity in bytes). Returns the full length of the list; when that exceeds the
    /// capacity only the first `capacity` bytes were written, and the caller may retry with a
    /// larger buffer. The record is each granted capability string followed by `\n`, in the
    /// order the manifest declares them.
    Caps = 4,
    /// The size of the user-data region in [`USERDATA_BLOCK_SIZE`]-byte blocks. Needs the
    /// `block_device` and `persistent_storage` capabilities ([`Error::Denied`] without them).
    UserdataInfo = 16,
    /// Read `len` bytes (`rdx`, a non-zero multiple of [`USERDATA_BLOCK_SIZE`]) starting at
    /// user-data block `rdi` (region-relative) into the buffer at `rsi`, at most 64 KiB per
    /// call. Needs `block_device` and `persistent_storage`; blocks outside the region give
    /// [`Error::BadLength`], a bad buffer [`Error::BadPointer`].
    UserdataRead = 17,
    /// Write `len` bytes (`rdx`, a non-zero multiple of [`USERDATA_BLOCK_SIZE`]) from the
    /// buffer at `rsi` to user-data blocks starting at `rdi`. Same rules as
    /// [`Syscall::UserdataRead`].
    UserdataWrite = 18,
}

/// Syscall numbers reserved for block-device calls (read, write, ...).
pub const RESERVED_BLOCK: core::ops::Range<u64> = 16..32;
/// Syscall numbers reserved for inter-component communication (send, receive, call, ...).
pub const RESERVED_IPC: core::ops::Range<u64> = 32..64;
const _: () = assert!(RESERVED_BLOCK.end <= RESERVED_IPC.start && RESERVED_BLOCK.start > 4);

/// Block size of the user-data region: `USERDATA_*` lengths are multiples of it.
pub const USERDATA_BLOCK_SIZE: usize = 4096;

/// Longest message [`Syscall::Log`] accepts, in bytes; longer ones fail with
/// [`Error::BadLength`].
pub const LOG_MAX_LEN: usize = 1024;

/// Exit code the runtime uses when a component panics.
pub const EXIT_PANIC: i32 = 101;

impl Syscall {
    /// Every defined syscall, in number order.
    pub const ALL: [Syscall; 8] = [
        Syscall::Exit,
        Syscall::Log,
        Syscall::Ready,
        Syscall::Yield,
        Syscall::Caps,
        Syscall::UserdataInfo,
        Syscall::UserdataRead,
        Syscall::UserdataWrite,
    ];

    /// The number passed in `rax`.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The upper-case name used in documentation and kernel logs.
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Exit => "EXIT",
            Syscall::Log => "LOG",
            Syscall::Ready => "READY",
            Syscall::Yield => "YIELD",
            Syscall::Caps => "CAPS",
            Syscall::UserdataInfo => "USERDATA_INFO",
            Syscall::UserdataRead => "USERDATA_READ",
            Syscall::UserdataWrite => "USERDATA_WRITE",
        }
    }
}

impl TryFrom<u64> for Syscall {
    type Error = Error;

    /// Decodes `rax`; unknown and reserved numbers give [`Error::InvalidSyscall`].
    fn try_from(number: u64) -> Result<Self, Error> {
        Ok(match number {
            0 => Syscall::Exit,
            1 => Syscall::Log,
            2 => Syscall::Ready,
            3 => Syscall::Yield,
            4 => Syscall::Caps,
            16 => Syscall::UserdataInfo,
            17 => Syscall::UserdataRead,
            18 => Syscall::UserdataWrite,
            _ => return Err(Error::InvalidSyscall),
        })
    }
}

impl fmt::Display for Syscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A syscall failure. The codes are stable: they are part of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The syscall number is not defined (or only reserved).
    InvalidSyscall,
    /// A pointer argument is null, misaligned, or not mapped for the caller with the
    /// access the call needs.
    BadPointer,
    /// A length argument is out of range (e.g. a log message longer than [`LOG_MAX_LEN`], or
    /// not UTF-8).
    BadLength,
    /// The caller lacks the capability for this call.
    Denied,
    /// The named object does not exist.
    NotFound,
    /// The call waited longer than allowed.
    Timeout,
    /// The call or an argument value is recognised but not supported (yet).
    Unsupported,
}

impl Error {
    /// Every error, in code order (-1, -2, ...).
    pub const ALL: [Error; 7] = [
        Error::InvalidSyscall,
        Error::BadPointer,
        Error::BadLength,
        Error::Denied,
        Error::NotFound,
        Error::Timeout,
        Error::Unsupported,
    ];

    /// The negative code returned in `rax`.
    pub const fn to_code(self) -> i64 {
        match self {
            Error::InvalidSyscall => -1,
            Error::BadPointer => -2,
            Error::BadLength => -3,
            Error::Denied => -4,
            Error::NotFound => -5,
            Error::Timeout => -6,
            Error::Unsupported => -7,
        }
    }

    /// The error with this code, if it is one.
    pub const fn from_code(code: i64) -> Option<Error> {
        Some(match code {
            -1 => Error::InvalidSyscall,
            -2 => Error::BadPointer,
            -3 => Error::BadLength,
            -4 => Error::Denied,
            -5 => Error::NotFound,
            -6 => Error::Timeout,
            -7 => Error::Unsupported,
            _ => return None,
        })
    }

    /// A short description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::InvalidSyscall => "invalid syscall",
            Error::BadPointer => "bad pointer",
            Error::BadLength => "bad length",
            Error::Denied => "denied",
            Error::NotFound => "not found",
            Error::Timeout => "timed out",
            Error::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `rax` value the kernel returns for a syscall result.
///
/// Values above `i64::MAX` cannot be represented; the kernel never produces them.
pub const fn encode_return(result: Result<u64, Error>) -> i64 {
    match result {
        Ok(value) => value as i64,
        Err(e) => e.to_code(),
    }
}

/// Decodes the `rax` value a syscall returned. A negative value that is not a known code
/// (a newer kernel) decodes as [`Error::Unsupported`].
pub const fn decode_return(raw: i64) -> Result<u64, Error> {
    if raw >= 0 {
        Ok(raw as u64)
    } else {
        match Error::from_code(raw) {
            Some(e) => Err(e),
            None => Err(Error::Unsupported),
        }
    }
}

/// Severity of a [`Syscall::Log`] message (`rdx`).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something failed.
    Error = 0,
    /// Something looks wrong.
    Warn = 1,
    /// Normal operation.
    Info = 2,
    /// Detail for developers.
    Debug = 3,
    /// Very fine detail.
    Trace = 4,
}

impl LogLevel {
    /// Every level, most severe first.
    pub const ALL: [LogLevel; 5] = [
        LogLevel::Error,
        LogLevel::Warn,
        LogLevel::Info,
        LogLevel::Debug,
        LogLevel::Trace,
    ];

    /// The value passed in `rdx`.
    pub const fn to_raw(self) -> u64 {
        self as u64
    }

    /// The upper-case name, as in log output.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
            LogLevel::Trace => "TRACE",
        }
    }
}

impl TryFrom<u64> for LogLevel {
    type Error = Error;

    /// Decodes `rdx` of a LOG call; an unknown level is [`Error::Unsupported`].
    fn try_from(raw: u64) -> Result<Self, Error> {
        Ok(match raw {
            0 => LogLevel::Error,
            1 => LogLevel::Warn,
            2 => LogLevel::Info,
            3 => LogLevel::Debug,
            4 => LogLevel::Trace,
            _ => return Err(Error::Unsupported),
        })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_are_stable() {
        assert_eq!(Syscall::Exit.number(), 0);
        assert_eq!(Syscall::Log.number(), 1);
        assert_eq!(Syscall::Ready.number(), 2);
        assert_eq!(Syscall::Yield.number(), 3);
        assert_eq!(Syscall::Caps.number(), 4);
        assert_eq!(Syscall::UserdataInfo.number(), 16);
        assert_eq!(Syscall::UserdataRead.number(), 17);
        assert_eq!(Syscall::UserdataWrite.number(), 18);
    }

    #[test]
    fn syscall_round_trip() {
        for s in Syscall::ALL {
            assert_eq!(Syscall::try_from(s.number()), Ok(s));
        }
        for n in 0..256u64 {
            if let Ok(s) = Syscall::try_from(n) {
                assert_eq!(s.number(), n);
            }
        }
        assert_eq!(Syscall::try_from(5), Err(Error::InvalidSyscall));
        assert_eq!(Syscall::try_from(u64::MAX), Err(Error::InvalidSyscall));
    }

    #[test]
    fn reserved_ranges_are_free_and_disjoint() {
        // Block-device calls defined so far; the rest of the range is still free.
        let block_calls = [
            Syscall::UserdataInfo,
            Syscall::UserdataRead,
            Syscall::UserdataWrite,
        ];
        for n in RESERVED_BLOCK.chain(RESERVED_IPC) {
            match Syscall::try_from(n) {
                Ok(s) => assert!(block_calls.contains(&s), "{s} at {n}"),
                Err(e) => assert_eq!(e, Error::InvalidSyscall),
            }
        }
        for s in Syscall::ALL {
            assert_eq!(
                RESERVED_BLOCK.contains(&s.number()),
                block_calls.contains(&s)
            );
            assert!(!RESERVED_IPC.contains(&s.number()));
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let expected = [-1, -2, -3, -4, -5, -6, -7];
        for (e, code) in Error::ALL.iter().zip(expected) {
            assert_eq!(e.to_code(), code, "{e:?}");
        }
    }

    #[test]
    fn error_round_trip() {
        for e in Error::ALL {
            assert!(e.to_code() < 0);
            assert_eq!(Error::from_code(e.to_code()), Some(e));
            assert_eq!(decode_return(encode_return(Err(e))), Err(e));
        }
        for code in [0, 1, -8, i64::MIN, i64::MAX] {
            assert_eq!(Error::from_code(code), None);
        }
    }

    #[test]
    fn return_values_round_trip() {
        for v in [0u64, 1, 4096, i64::MAX as u64] {
            assert_eq!(encode_return(Ok(v)), v as i64);
            assert_eq!(decode_return(encode_return(Ok(v))), Ok(v));
        }
        assert_eq!(decode_return(-1000), Err(Error::Unsupported));
        assert_eq!(decode_return(i64::MIN), Err(Error::Unsupported));
    }

    #[test]
    fn log_level_round_trip() {
        for (i, l) in LogLevel::ALL.iter().enumerate() {
            assert_eq!(l.to_raw(), i as u64);
            assert_eq!(LogLevel::try_from(l.to_raw()), Ok(*l));
        }
        assert_eq!(LogLevel::try_from(5), Err(Error::Unsupported));
        assert!(LogLevel::Error < LogLevel::Trace);
    }

    #[test]
    fn display() {
        assert_eq!(Error::BadPointer.to_string(), "bad pointer");
        assert_eq!(Error::Timeout.to_string(), "timed out");
        assert_eq!(Syscall::Ready.to_string(), "READY");
        assert_eq!(LogLevel::Warn.to_string(), "WARN");
    }
}
