//! System calls with arguments the kernel must refuse. Each returns the decoded result; the
//! caller checks it (see [`crate::expect_refused`]).

use runtime::abi::{self, Syscall};
use runtime::raw;

/// The first address of the kernel's half.
pub const KERNEL_ADDR: u64 = abi::layout::USER_END;

/// Read-only memory (in `.rodata`) that CAPS is asked to write into.
static READ_ONLY: [u8; 64] = [0xA5; 64];

/// Valid UTF-8 longer than [`abi::LOG_MAX_LEN`], for the over-long LOG.
static LONG_TEXT: [u8; 2 * abi::LOG_MAX_LEN] = [b'a'; 2 * abi::LOG_MAX_LEN];

/// LOG with an arbitrary pointer and length at INFO.
pub fn log_raw(ptr: u64, len: u64) -> Result<u64, abi::Error> {
    // SAFETY: LOG only reads user memory; whatever the pointer, nothing of this program is
    // changed (a kernel that accepted a bad pointer is what the caller reports).
    let ret = unsafe {
        raw::syscall3(
            Syscall::Log.number(),
            ptr,
            len,
            abi::LogLevel::Info.to_raw(),
        )
    };
    abi::decode_return(ret)
}

/// LOG of `len` bytes of [`LONG_TEXT`] (valid, readable memory).
pub fn log_long(len: u64) -> Result<u64, abi::Error> {
    log_raw(LONG_TEXT.as_ptr() as u64, len)
}

/// An address inside this program's read-only, valid memory, for LOGs with a bad length only.
pub fn readable_addr() -> u64 {
    LONG_TEXT.as_ptr() as u64
}

/// CAPS asked to write `len` bytes at `ptr`, which must be memory the kernel refuses to write
/// (kernel addresses, read-only pages).
pub fn caps_raw(ptr: u64, len: u64) -> Result<u64, abi::Error> {
    // SAFETY: the pointers passed are never memory this program writes or reads as Rust
    // values ([`READ_ONLY`] is only used for its address); a kernel that wrote there anyway
    // is the failure the caller reports.
    let ret = unsafe { raw::syscall2(Syscall::Caps.number(), ptr, len) };
    abi::decode_return(ret)
}

/// CAPS into [`READ_ONLY`].
pub fn caps_into_read_only() -> Result<u64, abi::Error> {
    caps_raw(READ_ONLY.as_ptr() as u64, READ_ONLY.len() as u64)
}

/// A syscall by number, without arguments.
pub fn syscall_number(n: u64) -> Result<u64, abi::Error> {
    // SAFETY: used only with undefined numbers, which the kernel refuses without touching
    // memory.
    let ret = unsafe { raw::syscall0(n) };
    abi::decode_return(ret)
}

/// Writes one byte to every page of `[addr, addr + len)`, which MEMORY_GROW just mapped.
pub fn touch_pages(addr: u64, len: u64) {
    let mut page = addr;
    while page < addr + len {
        // SAFETY: MEMORY_GROW returned `addr` as the start of `len` bytes of fresh, writable
        // pages owned by this program and used by nothing else; a volatile write cannot be
        // elided, so the pages are really used.
        unsafe { core::ptr::write_volatile(page as *mut u8, 0x5a) };
        page += abi::PAGE_SIZE;
    }
}
