//! The QEMU test scenarios and the serial-console strings they rely on (the kernel's and
//! the stub's contract with this tool).

use crate::corrupt::Corruption;
use crate::qemu::{Attach, Machine};
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
    /// The kernel found its image on a disk (followed by the disk's description).
    pub const IMAGE_FOUND: &str = "image: found PANDAGEN image on ";
    /// The kernel matched the disk against the boot module's image id (follows IMAGE_FOUND and the
    /// disk's description on the same line).
    pub const SAME_AS_MODULE: &str = "(same image as the boot module)";
    /// No disk carries the boot module's image: the kernel runs from the module (RAM block device).
    pub const FROM_MODULE: &str = "image: running from the boot module (";
    pub const FROM_MODULE_RAM: &str = "the user-data region lives in RAM: nothing will persist";
    /// The kernel verified the whole image (superblock, manifest, graph, layout, checksums).
    pub const IMAGE_VERIFIED: &str = "image: verified";
    /// The start order: `init_sequence` joined by ", " (system/pandagen.json's; a unit test keeps
    /// the two in step).
    pub const START_ORDER: &str =
        "image: start order: services_storage, services_logger, services_network, cli_console";
    /// The kernel rejected the image; the rest of the line is the `loader::LoadError`'s Display.
    pub const IMAGE_FAIL: &str = "image: FAIL: ";
    /// No disk has the PANDAGEN magic.
    pub const NO_IMAGE: &str = "no disk carries a PANDAGEN superblock";
    /// The kernel's line for a disk it checked that is not the image.
    pub const NOT_THE_IMAGE: &str = "no PANDAGEN superblock, not the image";
    /// What follows IMAGE_FOUND when the image is on a virtio disk / the first AHCI port.
    pub const ON_VIRTIO: &str = "virtio-blk";
    pub const ON_AHCI_PORT0: &str = "port 0 ahci";
    /// The boot counter kept in the user-data region (the line after verification).
    pub const BOOT_COUNT_1: &str = "boot count: 1 (";
    pub const BOOT_COUNT_2: &str = "boot count: 2 (";
    /// `test=persist`: the record written at one boot is checked at the next.
    pub const CMDLINE_TEST_PERSIST: &str = "test=persist";
    pub const PERSIST_FRESH: &str = "persist: no record from an earlier boot";
    pub const PERSIST_WROTE_1: &str = "persist: wrote and flushed generation 1";
    pub const PERSIST_INTACT_1: &str = "persist: generation 1 from the previous boot is intact";
    pub const PERSIST_WROTE_2: &str = "persist: wrote and flushed generation 2";
    /// `test=disk`: read/write/flush on every non-image disk, with throughput per controller.
    pub const CMDLINE_TEST_DISK: &str = "test=disk";
    pub const DISK_WRITE_OK: &str = "and read back the 64 KiB pattern";
    pub const DISK_THROUGHPUT: &str = "test=disk: controller";
    /// The supervisor's state table header (rows follow, in init_sequence order).
    pub const STATE_TABLE: &str = "supervisor: NAME ";
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

/// A disk of a scenario: the scenario's image, or a blank disk (8 MiB of zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveRole {
    Image(Attach),
    Blank(Attach),
}

/// The image alone on a virtio disk: the default.
pub const VIRTIO_IMAGE: &[DriveRole] = &[DriveRole::Image(Attach::Virtio)];

/// What a console step types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// This text, then Enter.
    Line(&'static str),
    /// `count` copies of `byte`, then Enter (an over-long line).
    Repeat { byte: u8, count: usize },
}

impl Typed {
    /// The bytes sent on the serial line.
    pub fn bytes(self) -> Vec<u8> {
        let mut out = match self {
            Typed::Line(text) => text.as_bytes().to_vec(),
            Typed::Repeat { byte, count } => vec![byte; count],
        };
        out.push(b'\r');
        out
    }
}

/// Type `input` on the serial console once `after` appears (after the previous step's match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleStep {
    pub after: &'static str,
    pub input: Typed,
}

/// A second boot of the same image file (after the first passed), with its own expectations:
/// what the first boot wrote must still be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondBoot {
    pub expect: &'static [&'static str],
    pub end: End,
    /// What to type on the console during this boot.
    pub console: &'static [ConsoleStep],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub machine: Machine,
    pub cmdline: &'static str,
    pub tweak: ConfTweak,
    /// Boot a copy of the good image with this fault instead of the good image.
    pub corruption: Option<Corruption>,
    /// Substrings that must appear in the serial log, in this order.
    pub expect: &'static [&'static str],
    /// Substrings that fail the scenario wherever they appear.
    pub forbid: &'static [&'static str],
    pub end: End,
    /// The disks, in the order QEMU attaches them.
    pub drives: &'static [DriveRole],
    /// Boot the same image again afterwards (persistence).
    pub second_boot: Option<SecondBoot>,
    /// The system description the image is packed from (relative to the repository root).
    pub system: &'static str,
    /// What to type on the serial console (the serial line is then a socket, not a file).
    pub console: &'static [ConsoleStep],
}

use contract::*;

const BOOT_EXPECT: &[&str] = &[
    KERNEL_BANNER,
    BOOTLOADER,
    SELFCHECK_PASS,
    IMAGE_FOUND,
    SAME_AS_MODULE,
    IMAGE_VERIFIED,
    START_ORDER,
    // Every seed component started in order and signalled READY: the storage, logger and
    // console services keep serving; the network service has nothing to do yet and exits.
    STATE_TABLE,
    "services_storage",
    "ready",
    "services_logger",
    "ready",
    "services_network",
    "exited(0)",
    "cli_console",
    "ready",
    TEST_PASS,
];
const BOOT_FORBID: &[&str] = &[PANICKED, EXCEPTION, IMAGE_FAIL];
/// Booted from a CD-ROM or a USB stick, which the kernel cannot read: it runs from the module.
const MODULE_BOOT_EXPECT: &[&str] = &[
    KERNEL_BANNER,
    SELFCHECK_PASS,
    FROM_MODULE,
    FROM_MODULE_RAM,
    IMAGE_VERIFIED,
    START_ORDER,
    STATE_TABLE,
    "services_storage",
    "ready",
    "services_logger",
    "ready",
    "services_network",
    "exited(0)",
    "cli_console",
    "ready",
    TEST_PASS,
];
const MODULE_BOOT_FORBID: &[&str] = &[PANICKED, EXCEPTION, IMAGE_FAIL, IMAGE_FOUND];
const CORRUPT_FORBID: &[&str] = &[IMAGE_VERIFIED, PANICKED, EXCEPTION];

/// The part of the kernel's `image: FAIL: ...` line that only this fault's error produces (the
/// `loader::LoadError` Display text; for a bad magic, the kernel's own "no disk" message).
pub fn corruption_substring(c: Corruption) -> &'static str {
    match c {
        Corruption::BadMagic => NO_IMAGE,
        Corruption::WrongVersion => "format version 2 is not supported",
        Corruption::Truncated => "image is truncated",
        Corruption::ManifestNotJson => "manifest: not JSON at byte 0",
        Corruption::ManifestOverLimit => "`services_logger`: `capabilities` has more than 16 items",
        Corruption::ServiceBytesChanged => "`services_network` at block",
        Corruption::DependencyCycle => "dependency cycle through `services_logger`",
        Corruption::UnknownInInitSequence => {
            "`services_editor_vi` is neither a service nor a component"
        }
        Corruption::ManifestDamaged => "image id is not derived from this manifest",
        Corruption::SuperblockDamaged => "block 0 is damaged",
    }
}

/// A corruption scenario: `corrupt-<name>` boots the bad image and expects its error, then `test: FAIL`.
fn corrupt(c: Corruption) -> Scenario {
    // Leaked once per scenario list: the expectations are built from the substring above.
    let name: &'static str = Box::leak(format!("corrupt-{}", c.name()).into_boxed_str());
    let expect: &'static [&'static str] = Box::leak(Box::new([
        KERNEL_BANNER,
        IMAGE_FAIL,
        corruption_substring(c),
        TEST_FAIL,
    ]));
    Scenario {
        name,
        machine: Machine::Q35,
        cmdline: CMDLINE_TEST_BOOT,
        // Without a boot module, so the kernel has only the damaged disk to go by (with one, a
        // disk whose image id differs from the module's is passed over for the module).
        tweak: ConfTweak::NoModule,
        corruption: Some(c),
        expect,
        forbid: CORRUPT_FORBID,
        end: End::Exit(EXIT_FAIL),
        drives: VIRTIO_IMAGE,
        second_boot: None,
        system: crate::description::DEFAULT_PATH,
        console: &[],
    }
}

const AHCI_BOOT_EXPECT: &[&str] = &[
    KERNEL_BANNER,
    SELFCHECK_PASS,
    IMAGE_FOUND,
    ON_AHCI_PORT0,
    IMAGE_VERIFIED,
    START_ORDER,
    BOOT_COUNT_1,
    TEST_PASS,
];
const PERSIST_FIRST: &[&str] = &[
    IMAGE_VERIFIED,
    BOOT_COUNT_1,
    PERSIST_FRESH,
    PERSIST_WROTE_1,
    TEST_PASS,
];
const PERSIST_SECOND: SecondBoot = SecondBoot {
    expect: &[
        IMAGE_VERIFIED,
        BOOT_COUNT_2,
        PERSIST_INTACT_1,
        PERSIST_WROTE_2,
        TEST_PASS,
    ],
    end: End::Exit(EXIT_PASS),
    console: &[],
};

/// Components as isolated programs: each fault kind ends only its component (dependents
/// skipped, independents still start), liveness (a start timeout, preemption of spinners),
/// and security (bad syscall arguments, capability checks at load and at run time).
fn component_scenarios() -> Vec<Scenario> {
    let with = |name, system, expect| Scenario {
        name,
        machine: Machine::Q35,
        cmdline: CMDLINE_TEST_BOOT,
        tweak: ConfTweak::None,
        corruption: None,
        expect,
        forbid: BOOT_FORBID,
        end: End::Exit(EXIT_PASS),
        drives: VIRTIO_IMAGE,
        second_boot: None,
        system,
        console: &[],
    };
    vec![
        with(
            "components-faults",
            "system/tests/faults.json",
            &[
                "killed: #UD invalid opcode at RIP",
                "killed: #DE divide error at RIP",
                "killed: stack overflow (guard page) at RIP",
                "killed: #PF page fault at RIP",
                "killed: #GP general protection fault at RIP",
                STATE_TABLE,
                "t_invalid_opcode",
                "failed(#UD invalid opcode at RIP",
                "dep_invalid_opcode",
                "skipped(because t_invalid_opcode failed)",
                "t_divide",
                "failed(#DE divide error at RIP",
                "dep_divide",
                "skipped(because t_divide failed)",
                "t_stack_overflow",
                "failed(stack overflow (guard page) at RIP",
                "dep_stack_overflow",
                "skipped(because t_stack_overflow failed)",
                "t_pagefault",
                "failed(#PF page fault at RIP",
                "t_gpfault",
                "failed(#GP general protection fault at RIP",
                "t_independent",
                "exited(0)",
                "dep_pagefault",
                "skipped(because t_pagefault failed)",
                "dep_gpfault",
                "skipped(because t_gpfault failed)",
                TEST_PASS,
            ],
        ),
        with(
            "components-liveness",
            "system/tests/liveness.json",
            &[
                "t_never_ready failed: timeout after 1000 ms",
                STATE_TABLE,
                "t_never_ready",
                "failed(timeout after 1000 ms)",
                "dep_never_ready",
                "skipped(because t_never_ready failed)",
                "t_spin_a",
                "ready",
                "t_spin_b",
                "ready",
                "t_independent",
                "exited(0)",
                "t_after_spin",
                "exited(0)",
                TEST_PASS,
            ],
        ),
        with(
            "components-security",
            "system/tests/security.json",
            &[
                "services_storage: mounted",
                "t_bad_syscall: kernel refused the bad pointer",
                "t_userdata_denied: refused: denied",
                STATE_TABLE,
                "services_storage",
                "ready",
                "cli_console",
                "ready",
                "t_bad_syscall",
                "exited(0)",
                "t_userdata_denied",
                "exited(0)",
                "t_teleport",
                "refused(capability teleport: unknown capability kind",
                "dep_teleport",
                "skipped(because t_teleport was refused)",
                "t_independent",
                "exited(0)",
                TEST_PASS,
            ],
        ),
        with(
            "components-ipc",
            "system/tests/ipc.json",
            &[
                "image: start order: t_echo_server, t_echo_client, t_crash_server, t_crash_client",
                "t_echo_client: echo OK",
                "t_echo_client: call to crash_api refused: denied",
                "t_echo_client: call to no_such_api refused: not found",
                "t_crash_client: provider gone: the provider exited or faulted",
                STATE_TABLE,
                "t_echo_server",
                "ready",
                "t_echo_client",
                "exited(0)",
                "t_crash_server",
                "failed(#PF page fault",
                "t_crash_client",
                "exited(0)",
                TEST_PASS,
            ],
        ),
    ]
}

const PROMPT: &str = "pandagen> ";

/// Types `line` at the next prompt.
const fn at_prompt(line: &'static str) -> ConsoleStep {
    ConsoleStep {
        after: PROMPT,
        input: Typed::Line(line),
    }
}

const CONSOLE_FIRST_BOOT: &[ConsoleStep] = &[
    at_prompt("help"),
    at_prompt("services"),
    at_prompt("write notes.txt hello from the test"),
    at_prompt("cat notes.txt"),
    at_prompt("write gone.txt temporary"),
    at_prompt("rm gone.txt"),
    at_prompt("ls"),
    at_prompt("frobnicate"),
    ConsoleStep {
        after: PROMPT,
        input: Typed::Repeat {
            byte: b'A',
            count: 10 * 1024,
        },
    },
    at_prompt("bootcount"),
    at_prompt("poweroff"),
];

const CONSOLE_SECOND_BOOT: &[ConsoleStep] = &[
    at_prompt("cat notes.txt"),
    at_prompt("bootcount"),
    at_prompt("rm notes.txt"),
    at_prompt("ls"),
    at_prompt("poweroff"),
];

/// The interactive console over the serial line, and persistence of its files across a
/// reboot of the same image.
fn console_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        name: "console",
        machine: Machine::Q35,
        cmdline: "",
        tweak: ConfTweak::None,
        corruption: None,
        expect: &[
            "PandaGen console",
            "commands:",
            "write <file> <text...>",
            "services_storage",
            "ready",
            "cli_console",
            "ready",
            "wrote 19 bytes to notes.txt",
            "cat notes.txt",
            "hello from the test",
            "wrote 9 bytes to gone.txt",
            "removed gone.txt",
            "notes.txt",
            "error: unknown command 'frobnicate' (try 'help')",
            "error: line too long (max 256)",
            "boot count: 1",
            "poweroff",
        ],
        forbid: &[PANICKED, EXCEPTION, IMAGE_FAIL],
        // ACPI power-off: QEMU exits on its own with status 0.
        end: End::Exit(0),
        drives: VIRTIO_IMAGE,
        second_boot: Some(SecondBoot {
            expect: &[
                "PandaGen console",
                "cat notes.txt",
                "hello from the test",
                "boot count: 2",
                "removed notes.txt",
                "(no files)",
                "poweroff",
            ],
            end: End::Exit(0),
            console: CONSOLE_SECOND_BOOT,
        }),
        system: crate::description::DEFAULT_PATH,
        console: CONSOLE_FIRST_BOOT,
    }]
}

/// AHCI and the write path: the spec's plain command on q35, an AHCI card on pc, disk choice
/// among several disks, persistence across boots on both controllers, and write throughput.
fn disk_scenarios() -> Vec<Scenario> {
    let boot = |name, machine, expect, drives| Scenario {
        name,
        machine,
        cmdline: CMDLINE_TEST_BOOT,
        tweak: ConfTweak::None,
        corruption: None,
        expect,
        forbid: BOOT_FORBID,
        end: End::Exit(EXIT_PASS),
        drives,
        second_boot: None,
        system: crate::description::DEFAULT_PATH,
        console: &[],
    };
    let persist = |name, drives| Scenario {
        cmdline: CMDLINE_TEST_PERSIST,
        expect: PERSIST_FIRST,
        second_boot: Some(PERSIST_SECOND),
        system: crate::description::DEFAULT_PATH,
        console: &[],
        ..boot(name, Machine::Q35, PERSIST_FIRST, drives)
    };
    vec![
        boot(
            "boot-q35-ahci",
            Machine::Q35,
            AHCI_BOOT_EXPECT,
            &[DriveRole::Image(Attach::Ahci)],
        ),
        boot(
            "boot-pc-ahci",
            Machine::Pc,
            AHCI_BOOT_EXPECT,
            &[DriveRole::Image(Attach::Ahci)],
        ),
        boot(
            "two-disks-blank-first",
            Machine::Q35,
            &[
                NOT_THE_IMAGE,
                IMAGE_FOUND,
                ON_VIRTIO,
                IMAGE_VERIFIED,
                TEST_PASS,
            ],
            &[
                DriveRole::Blank(Attach::Virtio),
                DriveRole::Image(Attach::Virtio),
            ],
        ),
        boot(
            "two-disks-mixed-controllers",
            Machine::Q35,
            &[
                NOT_THE_IMAGE,
                IMAGE_FOUND,
                ON_AHCI_PORT0,
                IMAGE_VERIFIED,
                TEST_PASS,
            ],
            &[
                DriveRole::Blank(Attach::Virtio),
                DriveRole::Image(Attach::Ahci),
            ],
        ),
        persist("persist-virtio", &[DriveRole::Image(Attach::Virtio)]),
        persist("persist-ahci", &[DriveRole::Image(Attach::Ahci)]),
        Scenario {
            cmdline: CMDLINE_TEST_DISK,
            ..boot(
                "disk-throughput",
                Machine::Q35,
                &[
                    DISK_WRITE_OK,
                    DISK_WRITE_OK,
                    DISK_THROUGHPUT,
                    DISK_THROUGHPUT,
                    TEST_PASS,
                ],
                &[
                    DriveRole::Image(Attach::Virtio),
                    DriveRole::Blank(Attach::Virtio),
                    DriveRole::Blank(Attach::Ahci),
                ],
            )
        },
    ]
}

/// Booting anywhere UEFI boots: the ISO as a CD-ROM on both machines, the disk image as a USB
/// stick, and a damaged module (the boot loader loads it, its hash being pinned over the damaged
/// bytes; the kernel must refuse it). The kernel has no CD or USB driver: it runs from the module.
fn module_scenarios() -> Vec<Scenario> {
    let boot = |name, machine, drives| Scenario {
        name,
        machine,
        cmdline: CMDLINE_TEST_BOOT,
        tweak: ConfTweak::None,
        corruption: None,
        expect: MODULE_BOOT_EXPECT,
        forbid: MODULE_BOOT_FORBID,
        end: End::Exit(EXIT_PASS),
        drives,
        second_boot: None,
        system: crate::description::DEFAULT_PATH,
        console: &[],
    };
    vec![
        boot("iso-q35", Machine::Q35, &[DriveRole::Image(Attach::Cdrom)]),
        boot("iso-pc", Machine::Pc, &[DriveRole::Image(Attach::Cdrom)]),
        boot("usb-stick", Machine::Q35, &[DriveRole::Image(Attach::Usb)]),
        Scenario {
            tweak: ConfTweak::CorruptModule,
            expect: &[
                KERNEL_BANNER,
                IMAGE_FAIL,
                // The same error as the disk scenario corrupt-service-bytes-changed.
                "`services_network` at block",
                TEST_FAIL,
            ],
            forbid: CORRUPT_FORBID,
            end: End::Exit(EXIT_FAIL),
            ..boot(
                "corrupt-module",
                Machine::Q35,
                &[DriveRole::Image(Attach::Usb)],
            )
        },
    ]
}

/// Every scenario, in the order they are started.
pub fn all() -> Vec<Scenario> {
    let mut list = vec![
        Scenario {
            name: "boot-q35",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::None,
            corruption: None,
            expect: BOOT_EXPECT,
            forbid: BOOT_FORBID,
            end: End::Exit(EXIT_PASS),
            drives: VIRTIO_IMAGE,
            second_boot: None,
            system: crate::description::DEFAULT_PATH,
            console: &[],
        },
        Scenario {
            name: "boot-pc",
            machine: Machine::Pc,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::None,
            corruption: None,
            expect: BOOT_EXPECT,
            forbid: BOOT_FORBID,
            end: End::Exit(EXIT_PASS),
            drives: VIRTIO_IMAGE,
            second_boot: None,
            system: crate::description::DEFAULT_PATH,
            console: &[],
        },
        Scenario {
            name: "stub-rejects-bad-hash",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::WrongKernelHash,
            corruption: None,
            expect: &[STUB_HASH_MISMATCH, STUB_REFUSING],
            forbid: &[KERNEL_BANNER],
            end: End::KilledAfterPatterns,
            drives: VIRTIO_IMAGE,
            second_boot: None,
            system: crate::description::DEFAULT_PATH,
            console: &[],
        },
        Scenario {
            name: "exception-report",
            machine: Machine::Q35,
            cmdline: CMDLINE_TEST_FAULT,
            tweak: ConfTweak::None,
            corruption: None,
            expect: &[EXCEPTION, PAGE_FAULT, RIP, CR2, BACKTRACE, TEST_FAIL],
            forbid: &[],
            end: End::Exit(EXIT_FAIL),
            drives: VIRTIO_IMAGE,
            second_boot: None,
            system: crate::description::DEFAULT_PATH,
            console: &[],
        },
    ];
    list.extend(module_scenarios());
    list.extend(disk_scenarios());
    list.extend(component_scenarios());
    list.extend(console_scenarios());
    list.extend(Corruption::ALL.into_iter().map(corrupt));
    list
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
    fn start_order_matches_the_checked_in_description() {
        let root = crate::build::Workspace::locate().root;
        let text = std::fs::read_to_string(root.join(crate::description::DEFAULT_PATH)).unwrap();
        let d = crate::description::Description::parse(&text, "p").unwrap();
        assert_eq!(
            START_ORDER,
            format!("image: start order: {}", d.init_sequence.join(", "))
        );
    }

    #[test]
    fn at_least_eight_corruption_scenarios_each_with_its_own_error() {
        let all = all();
        let corrupt: Vec<_> = all.iter().filter(|s| s.corruption.is_some()).collect();
        assert!(corrupt.len() >= 8);
        let subs: HashSet<_> = corrupt.iter().map(|s| s.expect[2]).collect();
        assert_eq!(subs.len(), corrupt.len(), "substrings are distinct");
        for s in corrupt {
            assert_eq!(s.end, End::Exit(EXIT_FAIL));
            assert_eq!(s.expect.last(), Some(&TEST_FAIL));
            assert!(s.forbid.contains(&IMAGE_VERIFIED));
        }
    }

    #[test]
    fn module_scenarios_match_the_disk_fault() {
        let all = all();
        let find = |n: &str| all.iter().find(|s| s.name == n).unwrap().clone();
        let module = find("corrupt-module");
        let disk = find("corrupt-service-bytes-changed");
        assert_eq!(module.expect[2], disk.expect[2]);
        assert_eq!(module.expect[1], IMAGE_FAIL);
        assert_eq!(module.end, End::Exit(EXIT_FAIL));
        assert_eq!(module.tweak, ConfTweak::CorruptModule);
        assert_eq!(module.drives, &[DriveRole::Image(Attach::Usb)]);
        for n in ["iso-q35", "iso-pc", "usb-stick"] {
            let s = find(n);
            assert!(s.expect.contains(&FROM_MODULE) && s.forbid.contains(&IMAGE_FOUND));
            assert_eq!(s.end, End::Exit(EXIT_PASS));
        }
        // Disk corruption scenarios boot without a module (nothing to fall back to).
        assert!(all
            .iter()
            .filter(|s| s.corruption.is_some())
            .all(|s| s.tweak == ConfTweak::NoModule));
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
