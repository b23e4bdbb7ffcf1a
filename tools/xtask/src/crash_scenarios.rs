//! The crash record across two boots of one image: the first boot panics on purpose
//! (`test=crash`) and saves the record; the second (same command line: `test=crash` goes on
//! when it finds a record) warns `the last boot ended with ...` once and the console's
//! `lastcrash` prints the record.

use bootlog::harness::EXIT_FAIL;
use bootlog::msg::{
    BOOT_COUNT_START, CRASH_DAMAGED_START, CRASH_NOT_SAVED_START, CRASH_SAVED, EXCEPTION_START,
    LAST_BOOT_ENDED_END, LAST_BOOT_ENDED_START, TEST_CRASH_PANIC, TEST_FAIL,
};

use crate::scenarios::{
    at_prompt, ends, line, shape, starts, typed, ConsoleStep, End, Scenario, SecondBoot,
};

/// The kernel command line of both boots.
pub const CMDLINE_TEST_CRASH: &str = "test=crash";

/// The headline of boot 1's record, up to the uptime.
const HEADLINE_START: &str = "a kernel panic in boot #1, ";

/// The panic line's message up to the location (the summary of the record).
const PANICKED_AT: &str = "kernel panicked at ";

/// The second boot's console: the record, then power off.
const SECOND: &[ConsoleStep] = &[at_prompt("lastcrash"), at_prompt("poweroff")];

/// `crash-record`: see the module documentation.
pub fn crash_scenarios() -> Vec<Scenario> {
    let second = vec![
        shape(BOOT_COUNT_START, "2 (", ""),
        shape(
            &format!("{LAST_BOOT_ENDED_START}{HEADLINE_START}"),
            PANICKED_AT,
            &format!("{TEST_CRASH_PANIC}{LAST_BOOT_ENDED_END}"),
        ),
        typed("lastcrash"),
        shape(HEADLINE_START, PANICKED_AT, TEST_CRASH_PANIC),
        line("first shown at boot #2"),
        line("last kernel log lines before it:"),
        // The record's last log line is boot 1's last before the panic.
        shape("  [", "boot complete after ", "; idling"),
        typed("poweroff"),
        line("powering off..."),
    ];
    vec![Scenario {
        cmdline: CMDLINE_TEST_CRASH,
        forbid: &[CRASH_NOT_SAVED_START, CRASH_DAMAGED_START, EXCEPTION_START],
        end: End::Exit(EXIT_FAIL),
        second_boot: Some(SecondBoot {
            expect: second,
            // ACPI power-off: QEMU exits on its own with status 0.
            end: End::Exit(0),
            console: SECOND,
            replace: None,
        }),
        ..Scenario::boot(
            "crash-record",
            vec![
                shape(BOOT_COUNT_START, "1 (", ""),
                starts("boot complete after "),
                ends(TEST_CRASH_PANIC),
                line(CRASH_SAVED),
                line(TEST_FAIL),
            ],
        )
    }]
}
