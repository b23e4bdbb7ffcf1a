//! Everything that touches the CPU or I/O ports directly. This is one of the two layers of the
//! kernel (with `memory`) where `unsafe` is allowed; every unsafe block says why it is sound.
#![allow(unsafe_code)]

pub mod backtrace;
pub mod context;
pub mod cpu;
pub mod entry;
pub mod exceptions;
pub mod gdt;
pub mod idt;
pub mod lapic;
pub mod pit;
pub mod port;
pub mod power;
pub mod qemu_exit;
pub mod serial;
pub mod syscall;

/// Loads the kernel's own GDT (with a TSS) and an IDT covering every CPU exception.
/// Must run once, early, on the boot CPU with interrupts disabled.
pub fn init() {
    gdt::init();
    idt::init();
}
