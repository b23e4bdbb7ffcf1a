//! What happens after a CPU exception's entry stub: print the report, then resume (#BP) or stop.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{backtrace, serial};
use crate::fatal::{self, Outcome};
pub use crate::fault_report::ExceptionFrame;
use crate::fault_report::{self, vector, FaultAddress, KernelBounds};
use crate::memory::paging;

/// Set while a report is being written: a fault inside the report (say, in the backtrace) must
/// not recurse into another full report.
static REPORTING: AtomicBool = AtomicBool::new(false);

/// `core::fmt::Write` onto the serial port, through the lock-breaking path (the fault may have
/// interrupted a writer holding the lock), and the log's mirror (the screen).
struct EmergencySerial;

impl fmt::Write for EmergencySerial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::klog::emergency(format_args!("{s}"));
        // The report's first lines become the crash record's summary (cut at its size).
        let _ = fmt::Write::write_str(&mut crate::crash::Note, s);
        Ok(())
    }
}

/// Called by the common exception stub (see `idt.rs`) with the saved state. Returns only for
/// #BP, after which the stub restores the registers and `iretq`s to the instruction after `int3`.
pub extern "C" fn exception_dispatch(frame: &ExceptionFrame) {
    // Read CR2 first: nothing below may fault, but if something did it would overwrite it.
    let cr2 = (frame.vector == vector::PAGE_FAULT).then(x86_64::registers::control::Cr2::read_raw);
    // A fault in a program (ring 3) ends only that program. NMI, #DF and #MC are about the
    // machine, not the program that happened to run, so they keep the fatal report.
    let machine = matches!(
        frame.vector,
        vector::NMI | vector::DOUBLE_FAULT | vector::MACHINE_CHECK
    );
    if frame.cs & 3 == 3 && !machine {
        // Does not return once the process core has registered its handler.
        super::hooks::user_fault(frame, cr2);
    }
    if REPORTING.swap(true, Ordering::SeqCst) {
        serial::write_fmt_emergency(format_args!(
            "EXCEPTION: vector {} ({}) at RIP {:#018x} while reporting an earlier exception\r\n",
            frame.vector,
            fault_report::vector_info(frame.vector).mnemonic,
            frame.rip
        ));
        fatal::stop(Outcome::Fail);
    }
    // Whether CR2 is a user page, so the report can name SMAP/SMEP (a page-table walk through
    // the HHDM: it cannot fault).
    let fault = cr2.map(|cr2| FaultAddress {
        cr2,
        user_page: paging::translate(cr2).map(|m| m.user),
    });
    if frame.vector != vector::BREAKPOINT {
        crate::crash::begin(bootslots::crash::Kind::Exception);
    }
    let stacks = backtrace::stacks();
    let bounds = KernelBounds {
        text: backtrace::text(),
        stacks: &stacks,
    };
    let _ = fault_report::write_report(
        &mut EmergencySerial,
        frame,
        fault,
        &bounds,
        backtrace::reader(),
    );
    if frame.vector == vector::BREAKPOINT {
        crate::klog::emergency(format_args!("  resuming after #BP\r\n"));
        REPORTING.store(false, Ordering::SeqCst);
        return;
    }
    fatal::stop(Outcome::Fail);
}
