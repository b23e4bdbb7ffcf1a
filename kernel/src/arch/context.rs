//! Task switching: saving one kernel stack's callee-saved state and resuming another's, the
//! first entry of a new task into ring 3, and loading an address space (CR3).
//!
//! A task that is not running is described by one number, its saved kernel stack pointer;
//! the stack below it holds, from the top of the saved area: r15, r14, r13, r12, rbx, rbp and
//! the address to return to (see [`switch`]).

use super::gdt;

// `pandagen_switch_context(save: *mut u64 /* rdi */, load: u64 /* rsi */)`: pushes the
// callee-saved registers (the SysV ABI lets the caller assume the others are clobbered),
// stores rsp at `save`, switches to `load` and pops what that task pushed when it switched
// away, returning into it.
//
// `pandagen_user_start`: where a new task's first switch returns to. Its stack then holds an
// `iretq` frame for ring 3 (see `prepare_user_entry`). It lets the process core finish the
// switch (`task_started`), clears every register so nothing of the kernel leaks to the
// program, and enters ring 3.
core::arch::global_asm!(
    ".pushsection .text.pandagen_context, \"ax\"",
    ".global pandagen_switch_context",
    "pandagen_switch_context:",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rdi], rsp",
    "    mov rsp, rsi",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    "",
    ".global pandagen_user_start",
    "pandagen_user_start:",
    // rsp points at the 5-quadword iret frame (8 mod 16): realign for the call.
    "    sub rsp, 8",
    "    call {started}",
    "    add rsp, 8",
    "    xor eax, eax",
    "    xor ebx, ebx",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor esi, esi",
    "    xor edi, edi",
    "    xor ebp, ebp",
    "    xor r8d, r8d",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    xor r12d, r12d",
    "    xor r13d, r13d",
    "    xor r14d, r14d",
    "    xor r15d, r15d",
    "    iretq",
    ".popsection",
    started = sym super::hooks::task_started,
);

unsafe extern "C" {
    fn pandagen_switch_context(save: *mut u64, load: u64);
    fn pandagen_user_start();
}

/// Saves the current task's state (its stack pointer goes to `*save`) and resumes the task
/// whose stack pointer is `load`. Returns when some later switch resumes the current task.
///
/// # Safety
/// 1. Interrupts are disabled and no spin lock is held (the resumed task may take it).
/// 2. `save` is valid for a write of a `u64` and stays so until the switch is done.
/// 3. `load` is a stack pointer saved by this function or made by [`prepare_user_entry`],
///    of a task that is not running, on a kernel stack that is mapped.
/// 4. The address space (CR3) and TSS.RSP0 / syscall stack are already the resumed task's.
pub unsafe fn switch(save: *mut u64, load: u64) {
    // SAFETY: conditions 1-4 above are the caller's; the assembly preserves the callee-saved
    // registers across the call as the ABI requires (they are restored when this task is
    // resumed), and everything else is caller-saved.
    unsafe { pandagen_switch_context(save, load) }
}

/// RFLAGS a program starts with: IF set (so it can be preempted), bit 1 (always 1).
const USER_RFLAGS: u64 = 0x202;

/// Writes the initial frame of a new task onto the empty kernel stack whose top is
/// `kernel_top`: [`switch`] to the returned stack pointer enters ring 3 at `entry` with `rsp`
/// = `user_stack` and all other registers zero.
///
/// # Safety
/// 1. `kernel_top` is the 16-byte aligned top of a mapped, writable kernel stack of at least
///    128 bytes that nothing else uses.
pub unsafe fn prepare_user_entry(kernel_top: u64, entry: u64, user_stack: u64) -> u64 {
    let words: [u64; 12] = [
        // Popped by `pandagen_switch_context`: r15, r14, r13, r12, rbx, rbp.
        0,
        0,
        0,
        0,
        0,
        0,
        // Its `ret` goes here.
        pandagen_user_start as *const () as u64,
        // The iretq frame: rip, cs, rflags, rsp, ss.
        entry,
        u64::from(gdt::USER_CODE),
        USER_RFLAGS,
        user_stack,
        u64::from(gdt::USER_DATA),
    ];
    let start = kernel_top - core::mem::size_of_val(&words) as u64;
    // SAFETY: (1) the 96 bytes below `kernel_top` are mapped, writable and unused (condition
    // 1); (2) `start` is 8-byte aligned because `kernel_top` is 16-byte aligned; (3) u64 has
    // no invalid values.
    unsafe { core::ptr::copy_nonoverlapping(words.as_ptr(), start as *mut u64, words.len()) };
    start
}

/// The physical address of the active PML4.
pub fn current_root() -> u64 {
    x86_64::registers::control::Cr3::read_raw()
        .0
        .start_address()
        .as_u64()
}

/// Makes the tables rooted at physical `root` the active address space (unless they are
/// already), flushing the TLB's non-global entries.
///
/// # Safety
/// 1. `root` is the physical address of a PML4 whose upper half maps the kernel exactly as
///    the current one does (the kernel's own, or a process PML4 copied from it), so the code,
///    stack and data in use stay mapped.
pub unsafe fn load_root(root: u64) {
    if current_root() == root {
        return;
    }
    // SAFETY: condition 1: the kernel stays mapped identically; the lower half changes, and
    // the kernel holds no references into it (user memory is reached through the HHDM).
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack, preserves_flags));
    }
}
