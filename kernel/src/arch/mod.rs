//! Everything that touches the CPU or I/O ports directly. This is one of the two layers of the
//! kernel (with `memory`) where `unsafe` is allowed; every unsafe block says why it is sound.
#![allow(unsafe_code)]

/// The `push`es that save every general-purpose register but rsp (rax first, so r15 ends up
/// lowest): the layout at the start of `ExceptionFrame` and `lapic::InterruptFrame`. For the
/// interrupt and exception entry stubs (`global_asm!` templates accept it).
#[macro_export]
macro_rules! push_all_gprs {
    () => {
        "push rax\n push rbx\n push rcx\n push rdx\n push rsi\n push rdi\n push rbp\n push r8\n push r9\n push r10\n push r11\n push r12\n push r13\n push r14\n push r15"
    };
}

/// Clears RFLAGS.AC (bit 18) in an interrupt or exception entry stub: a program may have set
/// it (`popf`), and with AC set ring 0 is exempt from SMAP. `pushfq`/`popfq` rather than `clac`,
/// which faults (#UD) on a CPU without SMAP; `iretq` restores the interrupted code's own flags.
#[macro_export]
macro_rules! clear_ac {
    () => {
        "pushfq\n btr qword ptr [rsp], 18\n popfq"
    };
}

/// The `pop`s undoing [`push_all_gprs`].
#[macro_export]
macro_rules! pop_all_gprs {
    () => {
        "pop r15\n pop r14\n pop r13\n pop r12\n pop r11\n pop r10\n pop r9\n pop r8\n pop rbp\n pop rdi\n pop rsi\n pop rdx\n pop rcx\n pop rbx\n pop rax"
    };
}

pub mod acpi_tables;
pub mod backtrace;
pub mod context;
pub mod cpu;
pub mod entry;
pub mod exceptions;
pub mod fpu;
pub mod gdt;
pub mod hooks;
pub mod i8042;
pub mod idt;
pub mod ioapic;
pub mod lapic;
pub mod pit;
pub mod port;
pub mod power;
pub mod protection;
pub mod qemu_exit;
pub mod serial;
pub mod syscall;

/// Loads the kernel's own GDT (with a TSS) and an IDT covering every CPU exception, and turns
/// on the CPU protections the CPU has (SMEP, SMAP, UMIP: see [`protection`]) and x87/SSE/AVX
/// state for ring 3 (see [`fpu`]).
/// Must run once, early, on the boot CPU with interrupts disabled.
pub fn init() {
    gdt::init();
    idt::init();
    fpu::init();
    protection::init();
}
