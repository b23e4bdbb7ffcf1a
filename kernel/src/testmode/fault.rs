//! `test=fault`: a page fault on purpose; the exception report must appear (and ends the run).

use crate::arch::cpu;

/// Reads the unmapped probe address (`arch::cpu::trigger_page_fault`).
pub(super) fn run() -> ! {
    log::info!(
        "test=fault: reading unmapped address {:#x} on purpose",
        cpu::FAULT_PROBE_ADDRESS
    );
    cpu::trigger_page_fault()
}
