//! Test runs only: when the kernel command line asks for a test (`test=...`) and the stub
//! refuses to boot, it leaves QEMU through the isa-debug-exit device with the failure status
//! instead of waiting for a key, so the harness sees the end of the run (and can prove that
//! no kernel line followed the refusal). On any other boot nothing here runs.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

use bootlog::harness;

static TEST_RUN: AtomicBool = AtomicBool::new(false);

/// Records whether the chosen entry's kernel command line asks for a test.
pub fn set_from_cmdline(cmdline: &str) {
    TEST_RUN.store(harness::is_test_cmdline(cmdline), Ordering::Relaxed);
}

/// Records whether a limine.conf the stub refuses (its hash is not the enrolled one) asks for a
/// test. Its cmdline is trusted for this alone: it decides only whether the refusal ends with an
/// `out` to the isa-debug-exit port (ignored on a PC) before the stub waits for a key.
pub fn set_from_refused_config(conf: &[u8]) {
    let entry = core::str::from_utf8(conf)
        .ok()
        .and_then(|text| bootproto::config::parse(text).ok())
        .and_then(|conf| conf.first_entry().ok().map(|e| e.cmdline.clone()));
    if let Some(cmdline) = entry {
        set_from_cmdline(&cmdline);
    }
}

/// In a test run: says so and asks QEMU to exit with the failure status. Returns when this is
/// not a test run, or when no isa-debug-exit device answered.
pub fn leave_qemu_failed() {
    if !TEST_RUN.load(Ordering::Relaxed) {
        return;
    }
    crate::shout!("{}", bootlog::msg::STUB_TEST_EXIT);
    // SAFETY: an `out` to the isa-debug-exit port either ends the VM (QEMU with the device the
    // harness configures) or is ignored by the chipset (port 0xf4 is unassigned on PCs); it
    // touches no memory, and this runs only on a `test=` boot, which only the harness makes.
    unsafe {
        asm!(
            "out dx, eax",
            in("dx") harness::EXIT_PORT,
            in("eax") harness::EXIT_VALUE_FAIL,
            options(nomem, nostack, preserves_flags)
        );
    }
}
