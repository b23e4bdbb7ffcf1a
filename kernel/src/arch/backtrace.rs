//! Frame-pointer backtraces of the running kernel: only frames on a kernel stack whose return
//! address is kernel code, reading only kernel-stack memory the page tables map.

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::fault_report::{self, KernelBounds};
use crate::memory::{kstack, paging};

unsafe extern "C" {
    /// First byte of the kernel image (its code starts there), defined by linker.ld.
    static __kernel_start: u8;
    /// One past the kernel's code, defined by linker.ld.
    static __text_end: u8;
}

/// The boot stack (the one the boot loader handed over, which the boot task keeps), once
/// [`set_boot_stack`] ran; empty before.
static BOOT_STACK_START: AtomicU64 = AtomicU64::new(0);
static BOOT_STACK_END: AtomicU64 = AtomicU64::new(0);

/// Records the boot stack: `size` bytes below the entry stack pointer's top (the boot loader
/// entered with a return address of 0 pushed, so the top is 8 bytes above `entry_rsp`).
pub fn set_boot_stack(size: u64) {
    let top = super::entry::entry_rsp().saturating_add(8);
    BOOT_STACK_START.store(top.saturating_sub(size), Ordering::Relaxed);
    BOOT_STACK_END.store(top, Ordering::Relaxed);
}

/// The kernel's code.
pub fn text() -> Range<u64> {
    core::ptr::addr_of!(__kernel_start) as u64..core::ptr::addr_of!(__text_end) as u64
}

/// Every kernel stack: the task stacks' area, the boot stack and the IST stacks.
pub fn stacks() -> [Range<u64>; 4] {
    let area =
        kstack::AREA_START..kstack::AREA_START + kstack::SLOT_SIZE * kstack::MAX_STACKS as u64;
    let boot = BOOT_STACK_START.load(Ordering::Relaxed)..BOOT_STACK_END.load(Ordering::Relaxed);
    let [double_fault, nmi_mce] = super::gdt::ist_stacks();
    [area, boot, double_fault, nmi_mce]
}

/// Reads the quadword at `addr` if it is 8-aligned, on a kernel stack and mapped.
fn read_stack_word(stacks: &[Range<u64>], addr: u64) -> Option<u64> {
    let bounds = KernelBounds { text: 0..0, stacks };
    if !addr.is_multiple_of(8) || !bounds.on_stack(addr, 8) {
        return None;
    }
    paging::translate(addr)?;
    // SAFETY: (1) `addr` is 8-aligned (checked above); (2) the active page tables map it, so
    // the read cannot fault; (3) it lies on a kernel stack (checked above): the task stacks'
    // area holds only allocator frames, the boot stack is RAM the boot loader gave, the IST
    // stacks are in the kernel's .bss; all RAM, so the read has no device side effects (the
    // MMIO window and every other mapping are refused before this point); (4) a volatile read
    // of a plain integer cannot create an invalid value, whatever the stack holds.
    Some(unsafe { core::ptr::read_volatile(addr as *const u64) })
}

/// Walks the frame-pointer chain starting at (`rip`, `rbp`), calling `out(n, address)` for the
/// faulting instruction (`n` = 0) and each return address after it (at most
/// [`fault_report::MAX_FRAMES`] in all). See [`fault_report::walk_frames`] for when it stops.
pub fn walk(rip: u64, rbp: u64, out: &mut impl FnMut(usize, u64)) {
    let stacks = stacks();
    let bounds = KernelBounds {
        text: text(),
        stacks: &stacks,
    };
    fault_report::walk_frames(rip, rbp, &bounds, reader(), out);
}

/// The memory reader the exception report uses for its backtrace: kernel-stack words only.
pub fn reader() -> impl Fn(u64) -> Option<u64> {
    let stacks = stacks();
    move |addr| read_stack_word(&stacks, addr)
}
