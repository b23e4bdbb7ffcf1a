//! The raw `syscall` instruction, one function per argument count (see the calling
//! convention in [`abi`]). They return `rax` as the kernel left it; decode it with
//! [`abi::decode_return`].
//!
//! All but [`exit`] are `unsafe`: depending on the number, the kernel may write to memory the
//! arguments point at.

use core::arch::asm;

/// EXIT: ends the component with `code`. Never returns.
#[inline(always)]
pub fn exit(code: i32) -> ! {
    // SAFETY: EXIT touches no user memory and does not return; `ud2` traps should a broken
    // kernel return anyway, so execution never continues past this block.
    unsafe {
        asm!(
            "syscall",
            "ud2",
            in("rax") abi::Syscall::Exit.number(),
            in("rdi") code as i64 as u64,
            options(noreturn, nostack),
        )
    }
}

/// Syscall `n` without arguments.
///
/// # Safety
/// Whatever syscall `n` requires of its (absent) arguments must hold.
#[inline(always)]
pub unsafe fn syscall0(n: u64) -> i64 {
    let ret: i64;
    // SAFETY: `syscall` clobbers only rcx and r11 (declared) and rax (the result); the kernel
    // does not use the user stack. Memory effects are the caller's contract.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with one argument.
///
/// # Safety
/// The argument must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall1(n: u64, a0: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with two arguments.
///
/// # Safety
/// The arguments must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall2(n: u64, a0: u64, a1: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0, in("rsi") a1,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with three arguments.
///
/// # Safety
/// The arguments must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall3(n: u64, a0: u64, a1: u64, a2: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0, in("rsi") a1, in("rdx") a2,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with four arguments (the fourth in r10, not rcx).
///
/// # Safety
/// The arguments must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall4(n: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with five arguments.
///
/// # Safety
/// The arguments must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall5(n: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3, in("r8") a4,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Syscall `n` with six arguments.
///
/// # Safety
/// The arguments must be what syscall `n` requires (e.g. pointers valid for the access it does).
#[inline(always)]
pub unsafe fn syscall6(n: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: as in `syscall0`; the argument registers are inputs the kernel preserves.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") n as i64 => ret,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3, in("r8") a4, in("r9") a5,
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}
