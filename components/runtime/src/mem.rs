//! `memcpy`, `memmove`, `memset`, `memcmp` and `bcmp`, which the compiler calls for copies,
//! fills and comparisons (`core` and compiler-generated code reference them). On
//! `x86_64-unknown-linux-gnu`, the components' target, they would come from libc, which
//! components do not link, and that target's `compiler_builtins` does not provide them.
//!
//! Each is one string instruction in inline assembly (`rep movsb`, `rep stosb`, `repe cmpsb`):
//! the compiler cannot turn their bodies back into calls to themselves, as it may do with a
//! plain Rust loop. Modern CPUs make `rep movsb`/`rep stosb` fast (ERMSB). The direction flag
//! is clear on entry and exit, as the SysV ABI requires.
//!
//! Only in a component build (`cfg(pandagen_component)`, set by `components/link.rs`): a host
//! build of the runtime uses the host's libc.

use core::arch::asm;

/// Copies `n` bytes from `src` to `dst`, upwards in address order.
///
/// # Safety
///
/// `src` must be valid for reading and `dst` for writing `n` bytes; `dst` must not lie inside
/// `src+1..src+n` (C callers promise no overlap at all; `memmove` relies on the upward order).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees both ranges; `rep movsb` with DF clear copies `n` bytes
    // upwards from `rsi` to `rdi` and changes only those registers, `rcx` and memory at `dst`.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// Copies `n` bytes from `src` to `dst`; the ranges may overlap.
///
/// # Safety
///
/// `src` must be valid for reading and `dst` for writing `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // `dst` is below `src` or past its end: copying upwards (as `memcpy` does) never
        // overwrites a byte before it is read.
        // SAFETY: the caller guarantees both ranges; `memcpy`'s upward `rep movsb` is sound
        // for them as long as `dst` is not inside `src..src+n`, which the test above excludes.
        unsafe { memcpy(dst, src, n) };
    } else {
        // `dst` lies inside `src..src+n`: copy downwards, from the last byte (DF set for the
        // copy only, then cleared again). `n` is not 0 here (the test above would hold).
        // SAFETY: the caller guarantees both ranges; with DF set, `rep movsb` copies `n`
        // bytes from `src+n-1` down to `src` into `dst+n-1` down to `dst`.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack),
            );
        }
    }
    dst
}

/// Fills `n` bytes at `dst` with the low byte of `c`.
///
/// # Safety
///
/// `dst` must be valid for writing `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees the range; `rep stosb` with DF clear stores `al` into `n`
    // bytes upwards from `rdi`.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// Compares `n` bytes at `a` and `b`: 0 if equal, else the difference of the first
/// differing bytes (as unsigned), `a`'s minus `b`'s.
///
/// # Safety
///
/// `a` and `b` must be valid for reading `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let (a_end, b_end): (*const u8, *const u8);
    // SAFETY: the caller guarantees both ranges; `repe cmpsb` with DF clear compares bytes
    // upwards until two differ or `n` have been compared, and leaves `rsi`/`rdi` one past the
    // last pair compared. It only reads memory and changes the flags.
    unsafe {
        asm!(
            "repe cmpsb",
            inout("rcx") n => _,
            inout("rsi") a => a_end,
            inout("rdi") b => b_end,
            options(nostack, readonly),
        );
    }
    // The last pair compared is the first that differs, or the last of all (equal).
    // SAFETY: `repe cmpsb` compared at least one pair (`n` > 0), so both are in the ranges.
    let (x, y) = unsafe { (*a_end.sub(1), *b_end.sub(1)) };
    i32::from(x) - i32::from(y)
}

/// Compares `n` bytes at `a` and `b`: 0 if equal, else non-zero.
///
/// # Safety
///
/// `a` and `b` must be valid for reading `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

/// The unwinding personality routine. The precompiled `core` of `x86_64-unknown-linux-gnu` is
/// built with `panic=unwind`, so its unwind tables name `rust_eh_personality`, which `std`
/// would provide. Components are built with `panic=abort` and link no unwinder: nothing ever
/// unwinds, so nothing calls this; it only satisfies the link. If something did call it, it
/// traps (`ud2`: the kernel ends the program).
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() -> ! {
    // SAFETY: `ud2` raises #UD and never continues.
    unsafe { asm!("ud2", options(noreturn, nomem, nostack)) }
}
