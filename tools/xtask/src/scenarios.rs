//! The QEMU test scenarios and the serial-console strings they rely on (the kernel's and
//! the stub's contract with this tool).

use crate::qemu::Machine;
use crate::system_image::ConfTweak;

/// Strings the kernel and the stub print on the serial port. Changing one here means
/// changing the program that prints it.
pub mod contract {
    /// The kernel's first line.
    pub const KERNEL_BANNER: &str = "PandaGen kernel";
    /// The kernel reports the boot loader's name and version (Limine bootloader-info).
    pub const BOOTLOADER: &str = "bootloader:";
    pub const SELFCHECK_PASS: &str = "selfcheck: PASS";
    pub const TEST_PASS: &str = "test: PASS";
    pub const TEST_FAIL: &str = "test: FAIL";
    /// Rust panic message prefix ("panicked at ...").
    pub const PANICKED: &str = "panicked";
    /// The exception handler's report.
    pub const EXCEPTION: &str = "EXCEPTION";
    pub const PAGE_FAULT: &str = "#PF";
    pub const RIP: &str = "RIP";
    pub const CR2: &str = "CR2";
    pub const BACKTRACE: &str = "backtrace";
    /// The stub, when the kernel file does not match the `#hash` in limine.conf.
    pub const STUB_HASH_MISMATCH: &str = "BLAKE2b mismatch";
    pub const STUB_REFUSING: &str = "refusing to boot";

    /// Kernel command lines that select an in-kernel test.
    pub const CMDLINE_TEST_BOOT: &str = "test=boot";
    pub const CMDLINE_TEST_FAULT: &str = "test=fault";

    /// QEMU exit statuses through isa-debug-exit at port 0xf4: the kernel writes 0x10
    /// (pass) or 0x11 (fail) and QEMU exits with `(v << 1) | 1`.
    pub const EXIT_PASS: i32 = (0x10 << 1) | 1;
    pub const EXIT_FAIL: i32 = (0x11 << 1) | 1;
}

/// How a scenario is supposed to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The guest ends QEMU itself (isa-debug-exit) with this status.
    Exit(i32),
    /// The guest never exits by itself; pass as soon as the patterns matched, then kill it.
    KilledAfterPatterns,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub machine: Machine,
    pub cmdline: &'static str,
    pub tweak: ConfTweak,
    /// Substrings that must appear in the serial log, in this order.
    pub expect: &'static [&'static str],
    /// Substrings that fail the scenario wherever they appear.
    pub forbid: &'static [&'static str],
    pub end: End,
}

use contract::*;

const BOOT_EXPECT: &[&str] = &[KERNEL_BANNER, BOOTLOADER, SELFCHECK_PASS, TEST_PASS];
const BOOT_FORBID: &[&str] = &[PANICKED, EXCEPTION];

/// Every scenario, in the order they are started.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "boot-q35",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::None,
            expect: BOOT_EXPECT,
            forbid: BOOT_FORBID,
            end: End::Exit(EXIT_PASS),
        },
        Scenario {
            name: "boot-pc",
            machine: Machine::Pc,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::None,
            expect: BOOT_EXPECT,
            forbid: BOOT_FORBID,
            end: End::Exit(EXIT_PASS),
        },
        Scenario {
            name: "stub-rejects-bad-hash",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::WrongKernelHash,
            expect: &[STUB_HASH_MISMATCH, STUB_REFUSING],
            forbid: &[KERNEL_BANNER],
            end: End::KilledAfterPatterns,
        },
        Scenario {
            name: "exception-report",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_FAULT,
            tweak: ConfTweak::None,
            expect: &[EXCEPTION, PAGE_FAULT, RIP, CR2, BACKTRACE, TEST_FAIL],
            forbid: &[],
            end: End::Exit(EXIT_FAIL),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_file_safe() {
        let all = all();
        let names: HashSet<_> = all.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), all.len());
        for n in names {
            assert!(n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        }
    }

    #[test]
    fn every_scenario_expects_something_and_exit_codes_match_the_port_protocol() {
        assert_eq!(EXIT_PASS, 33);
        assert_eq!(EXIT_FAIL, 35);
        for s in all() {
            assert!(!s.expect.is_empty(), "{}", s.name);
            for f in s.forbid {
                assert!(
                    !s.expect.contains(f),
                    "{} both expects and forbids {f}",
                    s.name
                );
            }
        }
    }
}
