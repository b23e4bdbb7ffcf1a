//! `t_huge_bss`: a program with a 1 GiB `.bss`. Its ELF is valid (the kernel's ELF policy
//! accepts segments that large), but with the default `memory_limit` (64 MiB) the kernel must
//! refuse it before mapping anything, and the machine must not lose a frame to it. If it ever
//! runs, it touches its `.bss`, logs an ERROR and exits 1. See the crate docs.
#![no_std]
#![no_main]
// No `deny(unsafe_code)` here: the 1 GiB area is assembled (`global_asm!`) and named through
// an `unsafe extern` block; the only item in it is declared `safe` (an atomic, zero-initialised).

use core::sync::atomic::{AtomicU8, Ordering};

runtime::entry!(main);

const NAME: &str = "t_huge_bss";

// 1 GiB of zero-initialised memory, in the data segment's .bss (NOBITS: the file stays
// small). Assembled rather than a Rust array, which the compiler would build in its own memory.
core::arch::global_asm!(
    ".pushsection .bss.t_huge_bss,\"aw\",@nobits",
    ".balign 4096",
    ".globl T_HUGE_BSS",
    "T_HUGE_BSS:",
    ".skip 0x40000000",
    ".popsection",
);

unsafe extern "C" {
    /// The first byte of the 1 GiB area above (atomic: it is only ever read and written
    /// through shared references).
    safe static T_HUGE_BSS: AtomicU8;
}

fn main() -> i32 {
    testcases::start(NAME);
    T_HUGE_BSS.store(1, Ordering::Relaxed);
    runtime::error!(
        "{NAME}: started with a 1 GiB .bss at {:p}: the kernel did not enforce memory_limit",
        &T_HUGE_BSS
    );
    1
}
