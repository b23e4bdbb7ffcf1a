//! Frame-pointer backtraces of the running kernel, reading only memory the page tables map.

use crate::fault_report;
use crate::memory::paging;

/// Reads the quadword at `addr` if it is mapped (the walker has already checked alignment and
/// that `addr` is in the higher half).
fn read_mapped(addr: u64) -> Option<u64> {
    paging::translate(addr)?;
    // SAFETY: (1) `addr` is 8-aligned (the walker only passes aligned frame pointers and
    // frame pointer + 8); (2) the active page tables map it, so the read cannot fault; (3) the
    // kernel only maps RAM in the higher half, so reading has no device side effects; (4) a
    // volatile read of a plain integer cannot create an invalid value.
    Some(unsafe { core::ptr::read_volatile(addr as *const u64) })
}

/// Walks the frame-pointer chain starting at (`rip`, `rbp`), calling `out(n, address)` for the
/// faulting instruction (`n` = 0) and each return address after it (at most
/// [`fault_report::MAX_FRAMES`] in all). See [`fault_report::walk_frames`] for when it stops.
pub fn walk(rip: u64, rbp: u64, out: &mut impl FnMut(usize, u64)) {
    fault_report::walk_frames(rip, rbp, read_mapped, out);
}

/// The memory reader the exception report uses for its backtrace.
pub fn reader() -> impl Fn(u64) -> Option<u64> {
    read_mapped
}
