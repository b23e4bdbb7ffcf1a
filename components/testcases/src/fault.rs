//! CPU exceptions on purpose. Each is raised by inline assembly, so the compiler can neither
//! reject nor optimise away the faulting instruction. Those that should never return still
//! return if the kernel lets the instruction through, so the caller can report that.

use core::arch::asm;
use core::hint::black_box;

/// The unmapped address [`page_fault`] writes to (the first page is never mapped).
pub const UNMAPPED: u64 = 0x10;

/// Writes to [`UNMAPPED`]: #PF (vector 14), write to a not-present page.
pub fn page_fault() {
    // SAFETY: the store goes to the first page, which is never mapped in a component, so it
    // traps instead of changing memory; should it complete anyway it touches no memory Rust
    // knows about.
    unsafe {
        asm!(
            "mov qword ptr [{addr}], {value}",
            addr = in(reg) black_box(UNMAPPED),
            value = in(reg) 0x5041_4e44_4147_454e_u64,
            options(nostack),
        );
    }
}

/// Executes `hlt`, privileged in ring 3: #GP (vector 13, error code 0). In ring 0 it would
/// simply wait for the next interrupt and return.
pub fn general_protection() {
    // SAFETY: `hlt` touches no memory; in ring 3 it traps, in ring 0 it returns after the
    // next interrupt.
    unsafe { asm!("hlt", options(nomem, nostack)) }
}

/// Executes `ud2`: #UD (vector 6). Never returns (the instruction always traps).
pub fn invalid_opcode() -> ! {
    // SAFETY: `ud2` always raises #UD; it touches no memory and does not fall through.
    unsafe { asm!("ud2", options(nomem, nostack, noreturn)) }
}

/// Divides 1 by a register holding 0: #DE (vector 0).
pub fn divide_error() {
    // SAFETY: `div` only reads and writes registers (declared); dividing by zero traps.
    unsafe {
        asm!(
            "div {divisor:e}",
            divisor = in(reg) black_box(0u32),
            inout("eax") 1u32 => _,
            inout("edx") 0u32 => _,
            options(nomem, nostack),
        );
    }
}

/// Size of each [`stack_overflow`] frame's buffer: under a page, so consecutive frames cannot
/// step over a guard page, and large enough to get there quickly.
pub const FRAME_BYTES: usize = 3 * 1024;

/// Recurses without end, each frame holding (and writing) a [`FRAME_BYTES`] buffer, until the
/// stack runs into the unmapped guard page below it: #PF (vector 14) near the stack's bottom.
/// Returns only if the stack never ends (the depth is a `u64`).
#[inline(never)]
pub fn stack_overflow(depth: u64) -> u64 {
    let mut frame = [0u8; FRAME_BYTES];
    frame.fill(depth as u8);
    let frame = black_box(&mut frame);
    // An end the compiler cannot see through, so the recursion is neither unconditional
    // (a lint) nor turned into a loop.
    if depth == black_box(u64::MAX) {
        return 0;
    }
    let below = stack_overflow(depth + 1);
    // Use the frame after the call, so it must stay alive across it.
    below.wrapping_add(u64::from(frame[(depth as usize) % FRAME_BYTES]))
}
