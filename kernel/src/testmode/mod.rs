//! The `test=` modes (`docs/testing.md`), in one place. The boot path (`boot::kmain`) calls
//! [`setup`] once the command line is read and then one hook per stage; each hook returns at
//! once unless its mode is the one requested, and a mode that ends at that stage leaves QEMU
//! with `test: PASS` or `test: FAIL` (through [`fatal::stop`]).
//!
//! The probes that need `unsafe` (reading an unmapped address, touching a user page outside a
//! user copy) stay in `arch`; this module only calls them.

mod disk;
mod fault;
mod smap;
mod unplug;

use crate::cmdline::TestMode;
use crate::fatal::{self, Outcome};
use crate::userdata::boot::DiskRegion;

/// Pass or fail, from a check's result.
fn outcome(passed: bool) -> Outcome {
    if passed {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

/// Any test mode: every outcome from here on leaves QEMU (isa-debug-exit) instead of halting,
/// so that anything failing reaches the harness.
pub fn setup(mode: TestMode) {
    if mode != TestMode::Off {
        fatal::enable_test_exit();
    }
}

/// After the self-check (`selfcheck_passed`): `test=fault`, `test=smap`, `test=disk` and
/// `test=unplug` run here and never return.
pub fn after_selfcheck(mode: TestMode, selfcheck_passed: bool) {
    match mode {
        TestMode::Off
        | TestMode::Boot
        | TestMode::Persist
        | TestMode::Crash
        | TestMode::CrashFault => {}
        TestMode::Fault => fault::run(),
        TestMode::Smap => smap::run(),
        TestMode::Disk => fatal::stop(outcome(disk::run() && selfcheck_passed)),
        TestMode::Unplug => fatal::stop(outcome(unplug::run() && selfcheck_passed)),
    }
}

/// After the user-data region is open and the boot counted: `test=persist` checks (and
/// rewrites) the persistence record and ends here.
pub fn after_userdata(mode: TestMode, region: &mut DiskRegion<'_>) {
    if mode == TestMode::Persist {
        fatal::stop(outcome(crate::userdata::boot::persist_test(region)));
    }
}

/// After the components started (`as_expected`: each reached the state the manifest
/// expects): `test=boot` ends here; `test=crash` panics here (`test=crash-fault`: a page
/// fault) unless this boot found a crash record (then it goes on like a boot without a test
/// mode).
pub fn after_components(mode: TestMode, as_expected: bool) {
    let crashed_before = crate::sysinfo::SYSINFO.last_crash().is_some();
    match mode {
        TestMode::Boot => fatal::stop(outcome(as_expected)),
        TestMode::Crash if !crashed_before => panic!("{}", bootlog::msg::TEST_CRASH_PANIC),
        TestMode::CrashFault if !crashed_before => fault::run(),
        _ => {}
    }
}
