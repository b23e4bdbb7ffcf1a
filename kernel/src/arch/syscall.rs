//! The `syscall` instruction's entry: MSR setup (EFER.SCE, STAR, LSTAR, SFMASK) and the
//! assembly that moves onto the calling task's kernel stack, saves the program's registers as
//! a [`SyscallFrame`], runs the process core's dispatcher and returns with `sysretq`.
//!
//! One CPU runs programs, so the kernel stack to switch to is a plain static that the
//! scheduler updates at every switch ([`set_kernel_stack`]); `syscall` masks interrupts
//! (SFMASK clears IF), so nothing can run between the entry and the switch of stacks.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::{Efer, EferFlags, Msr};

use super::gdt;

const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_FMASK: u32 = 0xc000_0084;

/// RFLAGS bits cleared on entry: TF, IF, DF, NT, AC. NT matters: a program can set it with
/// `popf`, and the kernel must never run with it (an `iretq` with NT set faults, and a task
/// switched to from a syscall may return to ring 3 through `iretq`). So does AC (bit 18): with
/// it set, ring 0 is exempt from SMAP (see `protection`).
const FMASK: u64 = (1 << 8) | (1 << 9) | (1 << 10) | (1 << 14) | (1 << 18);

/// Top of the running task's kernel stack (read by the entry stub).
static KERNEL_STACK_TOP: AtomicU64 = AtomicU64::new(0);
/// The program's rsp between entry and the push onto the kernel stack.
static USER_RSP_SCRATCH: AtomicU64 = AtomicU64::new(0);

/// The program's registers as the entry stub saves them, lowest address first. `rax` holds
/// the syscall number on entry and the result on return; `rcx`/`r11` are the program's rip
/// and rflags (what `syscall` put there).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyscallFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The program's rflags (saved `r11`).
    pub rflags: u64,
    /// Where the program continues (saved `rcx`).
    pub rip: u64,
    /// The program's stack pointer.
    pub rsp: u64,
}

const _: () = assert!(core::mem::size_of::<SyscallFrame>() == 16 * 8);

core::arch::global_asm!(
    ".pushsection .text.pandagen_syscall, \"ax\"",
    ".global pandagen_syscall_entry",
    "pandagen_syscall_entry:",
    "    mov [rip + {scratch}], rsp",
    "    mov rsp, [rip + {kstack}]",
    "    push qword ptr [rip + {scratch}]",
    "    push rcx",
    "    push r11",
    "    push rax",
    "    push rbx",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rbp",
    "    push r8",
    "    push r9",
    "    push r10",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    // 16 quadwords below a 16-byte aligned top: aligned for the call. rbp (saved above) is
    // the program's: cleared, so a backtrace from the kernel ends at this frame instead of
    // walking the program's frames.
    "    xor ebp, ebp",
    "    mov rdi, rsp",
    "    cld",
    "    call {dispatch}",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rbp",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rbx",
    "    pop rax",
    "    pop r11",
    "    pop rcx",
    // The dispatcher only returns here with a canonical lower-half rcx (it ends the program
    // otherwise), so sysretq cannot fault in ring 0 with the program's rsp loaded.
    "    pop rsp",
    "    sysretq",
    ".popsection",
    scratch = sym USER_RSP_SCRATCH,
    kstack = sym KERNEL_STACK_TOP,
    dispatch = sym super::hooks::syscall,
);

unsafe extern "C" {
    fn pandagen_syscall_entry();
}

/// Sets the kernel stack the next `syscall` runs on (the running task's).
pub fn set_kernel_stack(top: u64) {
    KERNEL_STACK_TOP.store(top, Ordering::Relaxed);
}

/// Enables `syscall`/`sysret`: kernel CS/SS from STAR[47:32] (kernel code, kernel data =
/// code + 8), user CS/SS from STAR[63:48] (user data = base + 8, user code = base + 16, which
/// is why the GDT has user data before user code), entry at the stub above, and the
/// [`FMASK`] flags cleared on entry.
pub fn init() {
    const _: () = assert!(gdt::KERNEL_DATA == gdt::KERNEL_CODE + 8);
    const _: () = assert!(gdt::USER_CODE == gdt::USER_DATA + 8);
    let sysret_base = u64::from(gdt::USER_DATA - 8);
    let star = (sysret_base << 48) | (u64::from(gdt::KERNEL_CODE) << 32);
    // SAFETY: (1) STAR names the GDT's kernel and user segments in the order syscall/sysret
    // need (checked above); (2) LSTAR points at the entry stub, which switches to a kernel
    // stack before touching memory through rsp; (3) FMASK clears IF, so the stub's static
    // scratch slot cannot be reentered; (4) setting EFER.SCE only enables the instruction.
    unsafe {
        Msr::new(IA32_STAR).write(star);
        Msr::new(IA32_LSTAR).write(pandagen_syscall_entry as *const () as u64);
        Msr::new(IA32_FMASK).write(FMASK);
        Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}
