//! How a boot ends: idle, halt after a failure, or (in test mode) leave QEMU with a status.
//! What it prints goes to COM1 and the screen (`klog::emergency`); after a panic or a kernel
//! exception report it saves the crash record (`crate::crash`) first.

use core::fmt::{self, Write};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::{cpu, qemu_exit};
use crate::klog::emergency;

static TEST_MODE: AtomicBool = AtomicBool::new(false);

/// Turns on test mode: outcomes leave QEMU through isa-debug-exit instead of halting.
pub fn enable_test_exit() {
    TEST_MODE.store(true, Ordering::Relaxed);
}

/// Whether the kernel was booted with `test=…`.
pub fn test_mode() -> bool {
    TEST_MODE.load(Ordering::Relaxed)
}

/// The end of a test run or of a failed boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

/// Stops the kernel. In test mode, prints `test: PASS`/`test: FAIL` and exits QEMU; if the
/// exit device is missing, says so loudly and halts. Outside test mode, halts.
pub fn stop(outcome: Outcome) -> ! {
    if outcome == Outcome::Fail {
        // After a panic or exception report: the crash record, before QEMU's test exit.
        crate::crash::save();
    }
    if test_mode() {
        let (verdict, code) = match outcome {
            Outcome::Pass => (bootlog::msg::TEST_PASS, qemu_exit::ExitCode::Pass),
            Outcome::Fail => (bootlog::msg::TEST_FAIL, qemu_exit::ExitCode::Fail),
        };
        emergency(format_args!("{verdict}\r\n"));
        qemu_exit::exit(code);
        emergency(format_args!(
            "test: ERROR: the isa-debug-exit device is missing, so the test result cannot reach \
             the harness: run QEMU with `-device isa-debug-exit,iobase={:#x},iosize=0x04`\r\n",
            qemu_exit::PORT
        ));
    } else if outcome == Outcome::Fail {
        emergency(format_args!(
            "kernel halted after a failure (see above)\r\n"
        ));
    }
    cpu::halt_forever()
}

/// What a panic says: `kernel panicked at <file>:<line>:<col>: <message>`.
struct Panicked<'a>(&'a PanicInfo<'a>);

impl fmt::Display for Panicked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.location() {
            Some(loc) => write!(
                f,
                "kernel panicked at {}:{}:{}: {}",
                loc.file(),
                loc.line(),
                loc.column(),
                self.0.message()
            ),
            None => write!(f, "kernel panicked: {}", self.0.message()),
        }
    }
}

/// The panic handler's body: message and location on serial (and in the crash record's
/// summary), then [`stop`] with a failure.
pub fn panic(info: &PanicInfo<'_>) -> ! {
    x86_64::instructions::interrupts::disable();
    let us = crate::time::uptime_us();
    let what = Panicked(info);
    crate::crash::begin(bootslots::crash::Kind::Panic);
    let _ = write!(crate::crash::Note, "{what}");
    emergency(format_args!(
        "[{:5}.{:06}] PANIC {what}\r\n",
        us / 1_000_000,
        us % 1_000_000
    ));
    stop(Outcome::Fail)
}
