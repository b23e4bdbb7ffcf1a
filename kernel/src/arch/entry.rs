//! The kernel's first instruction: remember the boot stack pointer, end the frame-pointer chain,
//! and jump to Rust.

use core::sync::atomic::{AtomicU64, Ordering};

/// `rsp` as the boot loader handed it over (pointing at the pushed return address 0).
#[unsafe(no_mangle)]
static ENTRY_RSP: AtomicU64 = AtomicU64::new(0);

// Limine enters at the ELF entry point with a valid stack and a return address of 0 pushed;
// clearing rbp makes the backtrace stop here instead of walking into garbage.
core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    "_start:",
    "    mov [rip + {entry_rsp}], rsp",
    "    xor ebp, ebp",
    "    jmp {main}",
    entry_rsp = sym ENTRY_RSP,
    main = sym crate::boot::kmain,
);

/// The stack pointer at entry (0 if read before entry ran, which cannot happen after boot).
pub fn entry_rsp() -> u64 {
    ENTRY_RSP.load(Ordering::Relaxed)
}

unsafe extern "C" {
    /// First byte of the kernel image, defined by linker.ld.
    static __kernel_start: u8;
}

/// The address the kernel was linked at (`__kernel_start` in linker.ld).
pub fn link_base() -> u64 {
    core::ptr::addr_of!(__kernel_start) as u64
}

/// An address inside the kernel's writable data, for the W^X self-check.
pub fn data_probe_address() -> u64 {
    core::ptr::addr_of!(ENTRY_RSP) as u64
}
