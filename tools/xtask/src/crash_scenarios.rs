//! The crash record across two boots of one image: the first boot crashes the kernel on
//! purpose (`test=crash`: a panic; `test=crash-fault`: a page fault, the exception report's
//! path) and saves the record; the second (same command line: the mode goes on when it finds
//! a record) warns `the last boot ended with ...` once, and the console's `lastcrash` prints
//! the record; then `cargo xtask inspect` of the image shows it.

use bootlog::harness::EXIT_FAIL;
use bootlog::msg::{
    BOOT_COUNT_START, CRASH_DAMAGED_START, CRASH_NOT_SAVED_START, CRASH_SAVED, EXCEPTION_CR2_START,
    EXCEPTION_PAGE_FAULT_START, EXCEPTION_RIP_START, EXCEPTION_START, LAST_BOOT_ENDED_END,
    LAST_BOOT_ENDED_START, PANICKED, TEST_CRASH_PANIC, TEST_FAIL,
};

use crate::scenarios::{
    at_prompt, ends, line, shape, starts, typed, ConsoleStep, End, Scenario, SecondBoot,
};
use crate::serial_log::Pattern;

/// The second boot's console: the record, then power off.
const SECOND: &[ConsoleStep] = &[at_prompt("lastcrash"), at_prompt("poweroff")];

/// What differs between the panic and the fault.
struct Crash {
    name: &'static str,
    cmdline: &'static str,
    /// The report's line in boot 1.
    report: Pattern,
    /// The record's headline: how it starts, what it holds, how it ends.
    headline: (&'static str, &'static str, &'static str),
    /// The record's lines between `first shown` and the log lines.
    summary_rest: Vec<Pattern>,
    /// The record's last log line (boot 1's last before the crash).
    last_line: Pattern,
    forbid: &'static [&'static str],
    /// What `cargo xtask inspect` of the image shows after both boots.
    inspect: &'static [&'static str],
}

/// `crash-record` (a panic) and `crash-record-fault` (a kernel page fault).
pub fn crash_scenarios() -> Vec<Scenario> {
    vec![
        scenario(Crash {
            name: "crash-record",
            cmdline: "test=crash",
            report: ends(TEST_CRASH_PANIC),
            headline: (
                "a kernel panic in boot #1, ",
                "s after kernel entry: kernel panicked at ",
                TEST_CRASH_PANIC,
            ),
            summary_rest: Vec::new(),
            last_line: shape("  [", "boot complete after ", "; idling"),
            forbid: &[CRASH_NOT_SAVED_START, CRASH_DAMAGED_START, EXCEPTION_START],
            inspect: &[
                "crash record:\n  a kernel panic in boot #1, ",
                "test=crash: a deliberate kernel panic\n  first shown at boot #2\n",
                "; idling\n",
            ],
        }),
        scenario(Crash {
            name: "crash-record-fault",
            cmdline: "test=crash-fault",
            report: starts(EXCEPTION_PAGE_FAULT_START),
            headline: (
                "a kernel exception in boot #1, ",
                "s after kernel entry: ",
                "",
            ),
            summary_rest: vec![starts(EXCEPTION_RIP_START), starts(EXCEPTION_CR2_START)],
            last_line: shape(
                "  [",
                "test=fault: reading unmapped address ",
                " on purpose",
            ),
            forbid: &[CRASH_NOT_SAVED_START, CRASH_DAMAGED_START, PANICKED],
            inspect: &[
                "crash record:\n  a kernel exception in boot #1, ",
                " s after kernel entry: EXCEPTION: vector 14 (#PF Page Fault)",
                "\n  first shown at boot #2\n    RIP 0x",
            ],
        }),
    ]
}

fn scenario(c: Crash) -> Scenario {
    let (start, middle, end) = c.headline;
    let middle = if end.is_empty() {
        format!("{middle}{EXCEPTION_PAGE_FAULT_START}")
    } else {
        middle.to_string()
    };
    let mut second = vec![
        shape(BOOT_COUNT_START, "2 (", ""),
        shape(
            &format!("{LAST_BOOT_ENDED_START}{start}"),
            &middle,
            &format!("{end}{LAST_BOOT_ENDED_END}"),
        ),
        typed("lastcrash"),
        shape(start, &middle, end),
        line("first shown at boot #2"),
    ];
    second.extend(c.summary_rest);
    second.extend([
        line("last kernel log lines before it:"),
        c.last_line,
        typed("poweroff"),
        line("powering off..."),
    ]);
    Scenario {
        cmdline: c.cmdline,
        inspect_after: c.inspect,
        forbid: c.forbid,
        end: End::Exit(EXIT_FAIL),
        second_boot: Some(SecondBoot {
            expect: second,
            // ACPI power-off: QEMU exits on its own with status 0.
            end: End::Exit(0),
            console: SECOND,
            replace: None,
        }),
        ..Scenario::boot(
            c.name,
            vec![
                shape(BOOT_COUNT_START, "1 (", ""),
                starts("boot complete after "),
                c.report,
                line(CRASH_SAVED),
                line(TEST_FAIL),
            ],
        )
    }
}
