//! Small CPU helpers: halting, time-stamp counter, control registers.

/// Stops this CPU for good: interrupts off, `hlt` in a loop.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no memory effects; it is available on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Current stack pointer.
#[inline(always)]
pub fn rsp() -> u64 {
    let value: u64;
    // SAFETY: copying rsp into a register has no side effects.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Current frame pointer.
#[inline(always)]
pub fn rbp() -> u64 {
    let value: u64;
    // SAFETY: copying rbp into a register has no side effects.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// A lower-half address: unmapped under the Limine protocol (revision 3).
pub const FAULT_PROBE_ADDRESS: u64 = 0x1000;

/// Reads [`FAULT_PROBE_ADDRESS`] to provoke a page fault (the `test=fault` scenario).
pub fn trigger_page_fault() -> ! {
    // SAFETY: the read targets the unmapped lower half, so it faults before anything is read;
    // the page-fault handler reports and never returns here.
    let value = unsafe { core::ptr::read_volatile(FAULT_PROBE_ADDRESS as *const u64) };
    panic!("reading {FAULT_PROBE_ADDRESS:#x} did not fault (read {value:#x}): the lower half is mapped");
}
