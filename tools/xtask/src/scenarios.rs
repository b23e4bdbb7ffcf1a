//! The QEMU test scenarios: what each boots and what its serial log must show, as whole lines
//! built from the messages the kernel and the stub print ([`bootlog::msg`], one definition
//! shared with them) and the kernel's parsed `state:` records.

use bootlog::harness::{EXIT_FAIL, EXIT_PASS};
use bootlog::msg::*;
use bootlog::state::StateKind::{self, Exited, Failed, Ready, Refused, Skipped};

use crate::corrupt::Corruption;
use crate::fs_scenarios::Driver;
use crate::qemu::{Attach, Machine};
use crate::serial_log::{Pattern, StateCheck};
use crate::system_image::ConfTweak;
use crate::vboot_scenarios::{vboot_scenarios, Signing, Tamper};

/// Kernel command lines that select an in-kernel test.
pub const CMDLINE_TEST_BOOT: &str = "test=boot";
pub const CMDLINE_TEST_FAULT: &str = "test=fault";
pub const CMDLINE_TEST_SMAP: &str = "test=smap";
pub const CMDLINE_TEST_PERSIST: &str = "test=persist";
pub const CMDLINE_TEST_DISK: &str = "test=disk";

/// How a scenario is supposed to end: the guest ends QEMU itself (isa-debug-exit, ACPI
/// power-off) with this status, so the whole log is seen before the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Exit(i32),
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

/// Type `input` on the serial console once `after` appears (after the previous step's cue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleStep {
    pub after: &'static str,
    pub input: Typed,
}

/// A second boot of the same image file (after the first passed), with its own expectations:
/// what the first boot wrote must still be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondBoot {
    pub expect: Vec<Pattern>,
    pub end: End,
    /// What to type on the console during this boot.
    pub console: &'static [ConsoleStep],
    /// Boot another system on the same user-data region: before this boot, the image's system
    /// part is replaced by an image built from this description with these keys.
    pub replace: Option<(&'static str, Signing)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub machine: Machine,
    /// QEMU's `-cpu` model; `None`: its default (`qemu64` under TCG: no SMEP, SMAP or UMIP).
    pub cpu: Option<&'static str>,
    pub cmdline: &'static str,
    pub tweak: ConfTweak,
    /// Boot a copy of the good image with this fault instead of the good image.
    pub corruption: Option<Corruption>,
    /// Lines that must appear in the serial log, in this order.
    pub expect: Vec<Pattern>,
    /// Texts that fail the scenario wherever they appear.
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
    /// A test of the test: the expectations are a normal check that this image must FAIL, on
    /// the state records; the scenario passes when they fail that way.
    pub check_must_fail: bool,
    /// Size of the image's user-data region.
    pub data_size: u64,
    /// Run this host-driven scenario instead of one boot checked against `expect`.
    pub driver: Option<Driver>,
    /// How the image is signed and what its kernel trusts.
    pub signing: Signing,
    /// Boot a copy of the good image changed by someone without the signing key.
    pub tamper: Option<Tamper>,
    /// A two-slot image whose slot B is packed from this system description (`None`: one slot).
    pub slot_b: Option<&'static str>,
    /// A third image, built from this description with these keys beside the image
    /// (`suite_images::third_image`), for a driver that updates twice.
    pub third_image: Option<(&'static str, Signing)>,
    /// Boot with the spec's plain QEMU command (`-bios OVMF_CODE.fd`, no variable store,
    /// QEMU's default memory) plus only what the harness needs (serial to a file, debug exit).
    pub spec_command: bool,
    /// Texts that `cargo xtask inspect`'s report of the image file must hold after the last
    /// boot (checked on the host; empty: not run).
    pub inspect_after: &'static [&'static str],
    /// The network cards (empty: QEMU's default NIC for the machine).
    pub nics: &'static [crate::qemu::Nic],
    /// Boot over the network: the boot files are a TFTP root (`build-netboot`) served on the
    /// first NIC, which OVMF PXE-boots (`drives` is then usually empty).
    pub netboot: bool,
}

impl Scenario {
    /// A `test=boot` boot of the default system from a virtio disk on q35, ending in `test:
    /// PASS`; the other scenarios change what differs.
    pub fn boot(name: &'static str, expect: Vec<Pattern>) -> Scenario {
        Scenario {
            name,
            machine: Machine::Q35,
            cpu: None,
            cmdline: CMDLINE_TEST_BOOT,
            tweak: ConfTweak::None,
            corruption: None,
            expect,
            forbid: BOOT_FORBID,
            end: End::Exit(EXIT_PASS),
            drives: VIRTIO_IMAGE,
            second_boot: None,
            system: crate::description::DEFAULT_PATH,
            console: &[],
            check_must_fail: false,
            data_size: crate::suite::TEST_DATA_SIZE,
            driver: None,
            signing: Signing::Development,
            tamper: None,
            slot_b: None,
            third_image: None,
            spec_command: false,
            inspect_after: &[],
            nics: &[],
            netboot: false,
        }
    }
}

/// A line (a kernel line's message) that is exactly `text`.
pub fn line(text: &str) -> Pattern {
    Pattern::Line(text.into())
}

/// A line (a kernel line's message) that starts with `start`.
pub fn starts(start: &str) -> Pattern {
    shape(start, "", "")
}

/// A line (a kernel line's message) that ends with `end` (a component's own text, whichever
/// way it reached the log: through the logger service or the kernel's fallback).
pub fn ends(end: &str) -> Pattern {
    shape("", "", end)
}

/// A line (a kernel line's message) that starts with `start`, has `middle`, ends with `end`.
pub fn shape(start: &str, middle: &str, end: &str) -> Pattern {
    Pattern::Shape {
        start: start.into(),
        middle: middle.into(),
        end: end.into(),
    }
}

/// The kernel's `state:` records: exactly these (name, state, how the detail starts).
pub fn states(list: &[(&str, StateKind, &str)]) -> Pattern {
    Pattern::States(
        list.iter()
            .map(|(name, state, detail)| StateCheck {
                name: (*name).into(),
                state: *state,
                detail_start: (*detail).into(),
            })
            .collect(),
    )
}

/// `image: start order: a, b, c`.
pub fn start_order(names: &[&str]) -> Pattern {
    line(&format!("{START_ORDER_START}{}", names.join(", ")))
}

/// system/pandagen.json's start order and its entries' states after a boot (a unit test keeps
/// both in step with the description).
pub const DEFAULT_ORDER: &[&str] = &[
    "text_renderer_host",
    "services_storage",
    "services_fs_view",
    "services_editor_vi",
    "services_logger",
    "services_network",
    "status_http",
    "cli_console",
];
pub fn default_states() -> Pattern {
    // Every service keeps serving (the network service also without a NIC: it answers
    // `LinkDown`).
    states(&[
        ("text_renderer_host", Ready, ""),
        ("services_storage", Ready, ""),
        ("services_fs_view", Ready, ""),
        ("services_editor_vi", Ready, ""),
        ("services_logger", Ready, ""),
        ("services_network", Ready, ""),
        ("status_http", Ready, ""),
        ("cli_console", Ready, ""),
    ])
}

const BOOT_FORBID: &[&str] = &[PANICKED, EXCEPTION_START, IMAGE_FAIL_START];
pub const MODULE_BOOT_FORBID: &[&str] = &[
    PANICKED,
    EXCEPTION_START,
    IMAGE_FAIL_START,
    IMAGE_FOUND_START,
];
const CORRUPT_FORBID: &[&str] = &[IMAGE_VERIFIED_START, PANICKED, EXCEPTION_START];

/// The end of the self-check line: which of SMEP, SMAP and UMIP are on (`on` for each).
pub fn protections_end(on: [bool; 3]) -> String {
    let list: Vec<String> = PROTECTIONS
        .iter()
        .zip(on)
        .map(|(name, on)| format!("{name}{}", if on { PROTECTION_ON } else { PROTECTION_OFF }))
        .collect();
    format!(", {})", list.join(", "))
}

/// The self-check line with SMEP, SMAP and UMIP all on (`-cpu max`) or all off (QEMU's
/// default `qemu64` under TCG).
fn selfcheck_protections(on: bool) -> Pattern {
    shape(SELFCHECK_PASS_START, "", &protections_end([on; 3]))
}

/// The kernel banner naming the boot loader.
fn banner() -> Pattern {
    shape(BANNER_START, BANNER_BOOTLOADER, "")
}

/// A good boot from a disk that carries the boot module's image.
fn boot_expect() -> Vec<Pattern> {
    vec![
        banner(),
        starts(SELFCHECK_PASS_START),
        shape(IMAGE_FOUND_START, "", SAME_AS_MODULE_END),
        starts(IMAGE_VERIFIED_START),
        start_order(DEFAULT_ORDER),
        starts(BOOT_COUNT_START),
        default_states(),
        line(TEST_PASS),
    ]
}

/// [`boot_expect`] with the self-check line naming SMEP, SMAP and UMIP all on or all off.
fn boot_expect_protections(on: bool) -> Vec<Pattern> {
    boot_expect()
        .into_iter()
        .map(|p| {
            if p == starts(SELFCHECK_PASS_START) {
                selfcheck_protections(on)
            } else {
                p
            }
        })
        .collect()
}

/// Booted from a CD-ROM or a USB stick, which the kernel cannot read: it runs from the module.
pub fn module_boot_expect() -> Vec<Pattern> {
    vec![
        banner(),
        starts(SELFCHECK_PASS_START),
        shape(FROM_MODULE_START, "", FROM_MODULE_RAM_END),
        starts(IMAGE_VERIFIED_START),
        start_order(DEFAULT_ORDER),
        default_states(),
        line(TEST_PASS),
    ]
}

/// The part of the kernel's `image: FAIL: ...` line that only this fault's error produces (the
/// `loader::LoadError` Display text; for a bad magic, the kernel's own "no disk" message).
pub fn corruption_substring(c: Corruption) -> &'static str {
    match c {
        Corruption::BadMagic => NO_IMAGE_START,
        Corruption::WrongVersion => "format version 2 is not supported",
        Corruption::Truncated => "image is truncated",
        Corruption::ManifestNotJson => "manifest: not JSON at byte 0",
        Corruption::ManifestOverLimit => "`services_logger`: `capabilities` has more than 16 items",
        Corruption::ServiceBytesChanged => "`services_network` at block",
        Corruption::DependencyCycle => "dependency cycle through `services_logger`",
        Corruption::UnknownInInitSequence => {
            "`services_spreadsheet` is neither a service nor a component"
        }
        Corruption::ManifestDamaged => "image id is not derived from this manifest",
        Corruption::SuperblockDamaged => "block 0 is damaged",
    }
}

/// The refusal of a damaged image: its own error on the `image: FAIL:` line, then the verdict.
fn refusal(substring: &str) -> Vec<Pattern> {
    vec![
        banner(),
        shape(IMAGE_FAIL_START, substring, ""),
        line(TEST_FAIL),
    ]
}

/// A corruption scenario: `corrupt-<name>` boots the bad image and expects its error, then `test: FAIL`.
fn corrupt(c: Corruption) -> Scenario {
    // Leaked once per scenario list: the name is built from the fault's.
    let name: &'static str = Box::leak(format!("corrupt-{}", c.name()).into_boxed_str());
    Scenario {
        // Without a boot module, so the kernel has only the damaged disk to go by (with one, a
        // disk whose image id differs from the module's is passed over for the module).
        tweak: ConfTweak::NoModule,
        corruption: Some(c),
        forbid: CORRUPT_FORBID,
        end: End::Exit(EXIT_FAIL),
        ..Scenario::boot(name, refusal(corruption_substring(c)))
    }
}

/// Components as isolated programs: each fault kind ends only its component (dependents
/// skipped, independents still start), liveness (a start timeout, preemption of spinners),
/// security (bad syscall arguments, capability checks at load and at run time) and IPC.
fn component_scenarios() -> Vec<Scenario> {
    let with = |name, system, expect| Scenario {
        system,
        ..Scenario::boot(name, expect)
    };
    let killed = |name: &str, pid: u32, fault: &str| {
        shape(
            &format!("process {name} (pid {pid}) killed: {fault} at RIP "),
            "",
            "",
        )
    };
    vec![
        with(
            "components-faults",
            "system/tests/faults.json",
            vec![
                killed("t_invalid_opcode", 1, "#UD invalid opcode"),
                killed("t_divide", 2, "#DE divide error"),
                killed("t_stack_overflow", 3, "stack overflow (guard page)"),
                killed("t_pagefault", 4, "#PF page fault"),
                ends("t_trigger_pagefault: pagefault_api's provider faulted, as it must"),
                killed("t_gpfault", 5, "#GP general protection fault"),
                ends("t_trigger_gpfault: gpfault_api's provider faulted, as it must"),
                states(&[
                    ("t_invalid_opcode", Failed, "#UD invalid opcode at RIP"),
                    (
                        "dep_invalid_opcode",
                        Skipped,
                        "because t_invalid_opcode failed",
                    ),
                    ("t_divide", Failed, "#DE divide error at RIP"),
                    ("dep_divide", Skipped, "because t_divide failed"),
                    (
                        "t_stack_overflow",
                        Failed,
                        "stack overflow (guard page) at RIP",
                    ),
                    (
                        "dep_stack_overflow",
                        Skipped,
                        "because t_stack_overflow failed",
                    ),
                    ("t_pagefault", Failed, "#PF page fault at RIP"),
                    ("t_gpfault", Failed, "#GP general protection fault at RIP"),
                    ("t_independent", Exited(0), ""),
                    ("t_trigger_pagefault", Exited(0), ""),
                    ("t_trigger_gpfault", Exited(0), ""),
                    ("dep_pagefault", Skipped, "because t_pagefault failed"),
                    ("dep_gpfault", Skipped, "because t_gpfault failed"),
                ]),
                line(TEST_PASS),
            ],
        ),
        with(
            "components-liveness",
            "system/tests/liveness.json",
            vec![
                line("t_never_ready failed: timeout after 1000 ms; killing it"),
                states(&[
                    ("t_never_ready", Failed, "timeout after 1000 ms"),
                    ("dep_never_ready", Skipped, "because t_never_ready failed"),
                    ("t_spin_a", Ready, ""),
                    ("t_spin_b", Ready, ""),
                    ("t_independent", Exited(0), ""),
                    ("t_after_spin", Exited(0), ""),
                ]),
                line(TEST_PASS),
            ],
        ),
        with(
            "components-security",
            "system/tests/security.json",
            vec![
                // The test image's region is blank: the storage service makes the filesystem.
                shape(
                    "",
                    &format!("services_storage: {}", storage_server::msg::FORMATTED),
                    " ms",
                ),
                ends("t_bad_syscall: kernel refused the bad pointer: bad length"),
                ends("t_bad_syscall: all 10 bad calls refused"),
                ends("t_userdata_denied: refused: denied"),
                ends("t_power_denied: REBOOT refused: denied"),
                ends("t_power_denied: POWEROFF refused: denied"),
                states(&[
                    ("services_storage", Ready, ""),
                    ("cli_console", Ready, ""),
                    ("t_bad_syscall", Exited(0), ""),
                    ("t_userdata_denied", Exited(0), ""),
                    ("t_power_denied", Exited(0), ""),
                    (
                        "t_teleport",
                        Refused,
                        "capability teleport: unknown capability kind",
                    ),
                    ("dep_teleport", Skipped, "because t_teleport was refused"),
                    ("t_independent", Exited(0), ""),
                ]),
                line(TEST_PASS),
            ],
        ),
        // The screen's handover: the owner gets the framebuffer and the kernel's replay, a
        // second map is Busy, an entry without `framebuffer` is Denied both calls, and the
        // kernel takes the screen back when the owner exits.
        with(
            "components-screen",
            "system/tests/screen.json",
            vec![
                ends("t_screen_denied: FRAMEBUFFER_MAP refused: denied"),
                ends("t_screen_denied: SCREEN_READ refused: denied"),
                starts(&format!("{SCREEN_HANDED_START}t_screen_owner (")),
                ends("t_screen_owner: a second FRAMEBUFFER_MAP refused: in use by another process"),
                shape("", "t_screen_owner: screen taken: ", " bytes of replay"),
                starts(SCREEN_TAKEN_BACK_START),
                states(&[
                    ("t_screen_denied", Exited(0), ""),
                    ("t_screen_owner", Exited(0), ""),
                ]),
                line(TEST_PASS),
            ],
        ),
        with(
            "components-ipc",
            "system/tests/ipc.json",
            vec![
                start_order(&[
                    "t_echo_server",
                    "t_echo_client",
                    "t_crash_server",
                    "t_crash_client",
                ]),
                ends("t_echo_client: echo OK"),
                ends("t_echo_client: call to crash_api refused: denied"),
                ends("t_echo_client: call to no_such_api refused: not found"),
                ends("t_crash_client: provider gone: the provider exited or faulted"),
                states(&[
                    ("t_echo_server", Ready, ""),
                    ("t_echo_client", Exited(0), ""),
                    ("t_crash_server", Failed, "#PF page fault"),
                    ("t_crash_client", Exited(0), ""),
                ]),
                line(TEST_PASS),
            ],
        ),
    ]
}

/// Memory that always comes back: a 1 GiB `.bss` refused at load, a process stopped at its
/// `memory_limit`, one refused by a full machine; the next entry still starts, and the free
/// frames once they have all ended equal those before.
fn memory_scenarios() -> Vec<Scenario> {
    vec![Scenario {
        system: "system/tests/memory.json",
        ..Scenario::boot(
            "components-memory",
            vec![
                line("[t_grow_limit] t_grow: grown by 4 MiB"),
                shape(
                    "process t_grow_limit (pid ",
                    ") stopped: MEMORY_GROW of 1024 KiB would take it past its memory_limit of 8192 KiB (",
                    " KiB in use)",
                ),
                shape("[t_grow_machine] t_grow: refused after ", "", " MiB: no memory left"),
                states(&[
                    (
                        "t_huge_bss",
                        Failed,
                        "cannot start: its segments and stack need more than its memory_limit of 65536 KiB (",
                    ),
                    ("t_grow_limit", Failed, "killed: memory limit reached"),
                    ("t_grow_machine", Failed, "exited with code 1 before ready"),
                    ("t_independent", Exited(0), ""),
                ]),
                Pattern::Same {
                    first: FRAMES_BEFORE_START.into(),
                    second: FRAMES_AFTER_ALL_ENDED.into(),
                },
                line(TEST_PASS),
            ],
        )
    }]
}

/// x87/SSE/AVX state per process (system/tests/fpu.json): two programs keep their register
/// values across thousands of YIELDs, two more while preempted in favour of each other, and a
/// program started after them finds the clean state, not theirs. On QEMU's default CPU the
/// kernel saves with FXSAVE (no AVX); with `-cpu max`, XSAVEOPT with AVX state, and the
/// programs check the upper halves of YMM0-15 too. Each pair's `_a` is ahead of its `_b`
/// (started first, and it needs fewer yields or preemptions), so the lines come in this order.
fn fpu_scenarios() -> Vec<Scenario> {
    let fpu = |name, cpu, regs: &str| {
        let kept = |who: &str, n: u32| {
            ends(&format!(
                "{who}: registers kept across {n} preemptions ({regs}XMM0-15, ST0-7, FCW, MXCSR)"
            ))
        };
        Scenario {
            system: "system/tests/fpu.json",
            cpu,
            ..Scenario::boot(
                name,
                vec![
                    start_order(&[
                        "t_fpu_yield_a",
                        "t_fpu_yield_b",
                        "t_fpu_keep_a",
                        "t_fpu_keep_b",
                        "t_fpu_clean",
                    ]),
                    shape("", "t_fpu_yield_a: registers kept across 1000 yields (", ""),
                    shape("", "t_fpu_yield_b: registers kept across 2000 yields (", ""),
                    kept("t_fpu_keep_a", 5),
                    kept("t_fpu_keep_b", 10),
                    shape(
                        "",
                        &format!("t_fpu_clean: registers clean at start ({regs}XMM0-15, "),
                        "MXCSR 0x1f80)",
                    ),
                    states(&[
                        ("t_fpu_yield_a", Exited(0), ""),
                        ("t_fpu_yield_b", Exited(0), ""),
                        ("t_fpu_keep_a", Ready, ""),
                        ("t_fpu_keep_b", Exited(0), ""),
                        ("t_fpu_clean", Exited(0), ""),
                    ]),
                    line(TEST_PASS),
                ],
            )
        }
    };
    vec![
        fpu("components-fpu", None, ""),
        fpu("components-fpu-cpu-max", Some("max"), "YMM0-15, "),
    ]
}

/// Tests of the boot check itself, on an image whose console exits 1 before READY: the
/// normal boot check must fail on the state records, and the kernel's `test=boot` must say
/// which entry is not where the image expects it and exit with the failure status.
fn broken_component_scenarios() -> Vec<Scenario> {
    const SYSTEM: &str = "system/tests/broken_console.json";
    vec![
        Scenario {
            system: SYSTEM,
            check_must_fail: true,
            ..Scenario::boot("boot-check-catches-broken-console", boot_expect())
        },
        Scenario {
            system: SYSTEM,
            end: End::Exit(EXIT_FAIL),
            ..Scenario::boot(
                "test-boot-catches-broken-console",
                vec![
                    states(&[
                        ("text_renderer_host", Ready, ""),
                        ("services_storage", Ready, ""),
                        ("services_fs_view", Ready, ""),
                        ("services_editor_vi", Ready, ""),
                        ("services_logger", Ready, ""),
                        ("services_network", Ready, ""),
                        ("status_http", Ready, ""),
                        ("cli_console", Failed, "exited with code 1 before ready"),
                    ]),
                    line(&format!(
                        "{UNMET_START}cli_console is failed(exited with code 1 before ready){UNMET_MIDDLE}up"
                    )),
                    line(TEST_FAIL),
                ],
            )
        },
    ]
}

const PROMPT: &str = "pandagen> ";

/// Types `line` at the next prompt.
pub const fn at_prompt(line: &'static str) -> ConsoleStep {
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
    at_prompt("bootlog"),
    at_prompt("rm notes.txt"),
    at_prompt("ls"),
    at_prompt("poweroff"),
];

/// The console's echo of a typed command.
pub fn typed(command: &str) -> Pattern {
    line(&format!("{PROMPT}{command}"))
}

/// A row of the console's `services` table: name, then state as a column.
fn service_row(name: &str, state: &str) -> Pattern {
    shape(name, &format!("  {state}  "), "")
}

/// The interactive console over the serial line, and persistence of its files across a
/// reboot of the same image.
fn console_scenarios() -> Vec<Scenario> {
    let first = vec![
        line("PandaGen console. Type 'help' for the list of commands."),
        line("This is boot number 1."),
        typed("help"),
        line("commands:"),
        starts("  write <file> <text...>  "),
        typed("services"),
        service_row("services_storage", "ready"),
        service_row("services_logger", "ready"),
        service_row("services_network", "ready"),
        service_row("cli_console", "ready"),
        typed("write notes.txt hello from the test"),
        line("wrote 19 bytes to notes.txt"),
        typed("cat notes.txt"),
        line("hello from the test"),
        line("wrote 9 bytes to gone.txt"),
        line("removed gone.txt"),
        typed("ls"),
        line("notes.txt"),
        line("error: unknown command 'frobnicate' (try 'help')"),
        line("error: line too long (max 256)"),
        typed("bootcount"),
        line("boot count: 1"),
        typed("poweroff"),
        line("powering off..."),
    ];
    let second = vec![
        line("This is boot number 2."),
        typed("cat notes.txt"),
        line("hello from the test"),
        line("boot count: 2"),
        typed("bootlog"),
        // The boot journal, newest first: this boot (started or up, depending on timing),
        // then the first boot, which came up.
        line("#1: up (8 entries: 8 came up)"),
        line("removed notes.txt"),
        typed("ls"),
        line("(no files)"),
        line("powering off..."),
    ];
    vec![Scenario {
        cmdline: "",
        // ACPI power-off: QEMU exits on its own with status 0.
        end: End::Exit(0),
        second_boot: Some(SecondBoot {
            expect: second,
            end: End::Exit(0),
            console: CONSOLE_SECOND_BOOT,
            replace: None,
        }),
        console: CONSOLE_FIRST_BOOT,
        ..Scenario::boot("console", first)
    }]
}

/// The user-data filesystem against power cuts and from the host's side (see
/// [`crate::fs_scenarios`]); `expect` is what every boot's log must show first.
fn fs_scenarios() -> Vec<Scenario> {
    let driven = |name, driver, data_size| Scenario {
        cmdline: "",
        end: End::Exit(0),
        data_size,
        driver: Some(driver),
        ..Scenario::boot(
            name,
            vec![line(
                "PandaGen console. Type 'help' for the list of commands.",
            )],
        )
    };
    vec![
        driven(
            "fs-power-cut",
            Driver::PowerCut,
            crate::suite::TEST_DATA_SIZE,
        ),
        driven("fs-big-file", Driver::BigFile, 80 * crate::image::MIB),
        driven("fs-convert", Driver::Convert, 8 * crate::image::MIB),
    ]
}

/// The image disk on a virtio controller / on the first AHCI port.
fn found_on(controller: &str) -> Pattern {
    shape(IMAGE_FOUND_START, controller, "")
}
const ON_VIRTIO: &str = " virtio-blk: ";
const ON_AHCI_PORT0: &str = " port 0 ahci";
const ON_NVME: &str = " namespace 1 nvme";
const ON_IDE_PRIMARY_MASTER: &str = " primary master ide";
const ON_USB_PORT1: &str = " port 1 usb-msc";
/// A checked disk that is not the image.
fn not_the_image() -> Pattern {
    shape(DISK_START, "", NOT_THE_IMAGE_END)
}

/// AHCI and the write path: the spec's plain command on q35, an AHCI card on pc, disk choice
/// among several disks, persistence across boots on both controllers, and write throughput.
fn disk_scenarios() -> Vec<Scenario> {
    let ahci_boot = || {
        vec![
            banner(),
            starts(SELFCHECK_PASS_START),
            found_on(ON_AHCI_PORT0),
            starts(IMAGE_VERIFIED_START),
            start_order(DEFAULT_ORDER),
            shape(BOOT_COUNT_START, "1 (", ""),
            default_states(),
            line(TEST_PASS),
        ]
    };
    let on = |name, machine, drives, expect| Scenario {
        machine,
        drives,
        ..Scenario::boot(name, expect)
    };
    let persist = |name, drives| Scenario {
        cmdline: CMDLINE_TEST_PERSIST,
        second_boot: Some(SecondBoot {
            expect: vec![
                starts(IMAGE_VERIFIED_START),
                shape(BOOT_COUNT_START, "2 (", ""),
                starts(&format!("{PERSIST_INTACT_START}1{PERSIST_INTACT_END} (")),
                starts(&format!("{PERSIST_WROTE_START}2")),
                line(TEST_PASS),
            ],
            end: End::Exit(EXIT_PASS),
            console: &[],
            replace: None,
        }),
        ..on(
            name,
            Machine::Q35,
            drives,
            vec![
                starts(IMAGE_VERIFIED_START),
                shape(BOOT_COUNT_START, "1 (", ""),
                starts(PERSIST_FRESH_START),
                starts(&format!("{PERSIST_WROTE_START}1")),
                line(TEST_PASS),
            ],
        )
    };
    let choice = |controller| {
        vec![
            not_the_image(),
            found_on(controller),
            starts(IMAGE_VERIFIED_START),
            default_states(),
            line(TEST_PASS),
        ]
    };
    vec![
        on(
            "boot-q35-ahci",
            Machine::Q35,
            &[DriveRole::Image(Attach::Ahci)],
            ahci_boot(),
        ),
        on(
            "boot-pc-ahci",
            Machine::Pc,
            &[DriveRole::Image(Attach::Ahci)],
            ahci_boot(),
        ),
        on(
            "two-disks-blank-first",
            Machine::Q35,
            &[
                DriveRole::Blank(Attach::Virtio),
                DriveRole::Image(Attach::Virtio),
            ],
            choice(ON_VIRTIO),
        ),
        on(
            "two-disks-mixed-controllers",
            Machine::Q35,
            &[
                DriveRole::Blank(Attach::Virtio),
                DriveRole::Image(Attach::Ahci),
            ],
            choice(ON_AHCI_PORT0),
        ),
        persist("persist-virtio", &[DriveRole::Image(Attach::Virtio)]),
        persist("persist-ahci", &[DriveRole::Image(Attach::Ahci)]),
        on(
            "boot-q35-nvme",
            Machine::Q35,
            &[DriveRole::Image(Attach::Nvme)],
            vec![
                found_on(ON_NVME),
                starts(IMAGE_VERIFIED_START),
                default_states(),
                line(TEST_PASS),
            ],
        ),
        persist("persist-nvme", &[DriveRole::Image(Attach::Nvme)]),
        // A USB stick on xHCI, as the card's "boot from USB" case: the kernel runs from the
        // stick (not the boot module) and keeps its user data there.
        {
            let mut s = persist("persist-usb-stick", &[DriveRole::Image(Attach::Usb)]);
            s.expect.insert(0, found_on(ON_USB_PORT1));
            s
        },
        // A 4Kn NVMe disk: the image laid out for 4096-byte sectors (the suite lays every image
        // out for the disk it is attached as), so that the firmware finds the boot partition and
        // the kernel keeps its user data on it.
        {
            let mut s = persist("persist-nvme-4kn", &[DriveRole::Image(Attach::Nvme4k)]);
            s.expect.insert(0, found_on(ON_NVME));
            s
        },
        // The spec's Option 1 command as a new user types it: machine pc, the disk on the
        // chipset's PIIX IDE controller, `-bios OVMF_CODE.fd`, 128 MiB. The image must be found
        // on the IDE disk (not run from the boot module) and keep its boot count and files.
        {
            let mut s = persist("persist-ide-spec-command", &[DriveRole::Image(Attach::Ide)]);
            s.machine = Machine::Pc;
            s.spec_command = true;
            s.expect.insert(0, found_on(ON_IDE_PRIMARY_MASTER));
            s
        },
        Scenario {
            cmdline: CMDLINE_TEST_DISK,
            ..on(
                "disk-throughput",
                Machine::Q35,
                &[
                    DriveRole::Image(Attach::Virtio),
                    DriveRole::Blank(Attach::Virtio),
                    DriveRole::Blank(Attach::Ahci),
                    DriveRole::Blank(Attach::Nvme),
                    DriveRole::Blank(Attach::Nvme4k),
                    DriveRole::Blank(Attach::Ide),
                    DriveRole::Blank(Attach::Usb),
                ],
                vec![
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    shape(DISK_TEST_START, DISK_PATTERN_MIDDLE, DISK_PATTERN_END),
                    starts(DISK_THROUGHPUT_START),
                    starts(DISK_THROUGHPUT_START),
                    starts(DISK_THROUGHPUT_START),
                    // IDE and USB are probed last, in this order, so their lines come last.
                    shape(DISK_THROUGHPUT_START, " (ide): read ", ""),
                    shape(DISK_THROUGHPUT_START, " (usb-msc): read ", ""),
                    line(TEST_PASS),
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
        machine,
        forbid: MODULE_BOOT_FORBID,
        drives,
        ..Scenario::boot(name, module_boot_expect())
    };
    vec![
        boot("iso-q35", Machine::Q35, &[DriveRole::Image(Attach::Cdrom)]),
        boot("iso-pc", Machine::Pc, &[DriveRole::Image(Attach::Cdrom)]),
        // A USB stick on a controller the kernel does not drive (EHCI): the firmware boots
        // from it, the kernel runs from the module.
        boot(
            "usb-stick-ehci",
            Machine::Q35,
            &[DriveRole::Image(Attach::UsbEhci)],
        ),
        // A disk with the magic whose block 0 does not decode must not win over a good module.
        Scenario {
            corruption: Some(Corruption::SuperblockDamaged),
            expect: vec![
                banner(),
                shape(
                    DISK_START,
                    UNDECODABLE_MIDDLE,
                    &format!("{PASSED_OVER_MIDDLE}{USING_THE_MODULE}"),
                ),
                shape(FROM_MODULE_START, "", FROM_MODULE_RAM_END),
                starts(IMAGE_VERIFIED_START),
                start_order(DEFAULT_ORDER),
                default_states(),
                line(TEST_PASS),
            ],
            ..boot("module-beats-damaged-disk", Machine::Q35, VIRTIO_IMAGE)
        },
        Scenario {
            tweak: ConfTweak::CorruptModule,
            // The same error as the disk scenario corrupt-service-bytes-changed.
            expect: refusal(corruption_substring(Corruption::ServiceBytesChanged)),
            forbid: CORRUPT_FORBID,
            end: End::Exit(EXIT_FAIL),
            ..boot(
                "corrupt-module",
                Machine::Q35,
                &[DriveRole::Image(Attach::UsbEhci)],
            )
        },
    ]
}

/// Every scenario, in the order they are started.
pub fn all() -> Vec<Scenario> {
    let mut list = vec![
        // QEMU's default CPU under TCG (qemu64) has none of SMEP, SMAP, UMIP: the boot passes
        // and the self-check line says they are off.
        // It also shows that the stub checked limine.conf against the hash enrolled in it.
        Scenario::boot(
            "boot-q35",
            [line(STUB_CONFIG_HASH_MATCHED)]
                .into_iter()
                .chain(boot_expect_protections(false))
                .collect(),
        ),
        // `-cpu max` has all three: the kernel turns them on and the system still boots.
        Scenario {
            cpu: Some("max"),
            ..Scenario::boot("boot-q35-cpu-max", boot_expect_protections(true))
        },
        Scenario {
            machine: Machine::Pc,
            ..Scenario::boot("boot-pc", boot_expect())
        },
        // The stub refuses a kernel whose hash differs from the pinned one; on a `test=` boot it
        // then leaves QEMU with the failure status, so the whole log is seen: no kernel line.
        Scenario {
            tweak: ConfTweak::WrongKernelHash,
            forbid: &[BANNER_START, STUB_ENTERING_KERNEL_START],
            end: End::Exit(EXIT_FAIL),
            ..Scenario::boot(
                "stub-rejects-bad-hash",
                vec![
                    shape(
                        &format!("{STUB_CANNOT_BOOT_START}{STUB_HASH_MISMATCH_START}"),
                        "",
                        STUB_REFUSING_END,
                    ),
                    line(STUB_TEST_EXIT),
                ],
            )
        },
        // limine.conf's command line was changed after its hash was enrolled into the stub: the
        // stub refuses the config before using anything in it, and leaves QEMU (no kernel line).
        Scenario {
            tweak: ConfTweak::EditedConf,
            forbid: &[
                BANNER_START,
                STUB_ENTERING_KERNEL_START,
                STUB_CONFIG_HASH_MATCHED,
            ],
            end: End::Exit(EXIT_FAIL),
            ..Scenario::boot(
                "stub-edited-conf",
                vec![
                    shape(
                        &format!("{STUB_CANNOT_BOOT_START}{STUB_CONFIG_HASH_MISMATCH_START}"),
                        STUB_CONFIG_HASH_ACTION,
                        STUB_REFUSING_END,
                    ),
                    line(STUB_TEST_EXIT),
                ],
            )
        },
        Scenario {
            cmdline: CMDLINE_TEST_FAULT,
            forbid: &[],
            end: End::Exit(EXIT_FAIL),
            ..Scenario::boot(
                "exception-report",
                vec![
                    starts(EXCEPTION_PAGE_FAULT_START),
                    starts(EXCEPTION_RIP_START),
                    starts(EXCEPTION_CR2_START),
                    line(EXCEPTION_BACKTRACE),
                    line(TEST_FAIL),
                ],
            )
        },
        // The kernel reads a user page outside any user copy: with SMAP on (`-cpu max`) that
        // is a page fault whose report names SMAP.
        Scenario {
            cpu: Some("max"),
            cmdline: CMDLINE_TEST_SMAP,
            forbid: &[PANICKED, SMAP_TEST_UNAVAILABLE],
            end: End::Exit(EXIT_FAIL),
            ..Scenario::boot(
                "smap-report",
                vec![
                    selfcheck_protections(true),
                    starts(SMAP_TEST_START),
                    shape(
                        EXCEPTION_PAGE_FAULT_START,
                        "",
                        &format!(": {EXCEPTION_SMAP}]"),
                    ),
                    starts(EXCEPTION_RIP_START),
                    starts(EXCEPTION_CR2_START),
                    line(EXCEPTION_BACKTRACE),
                    line(TEST_FAIL),
                ],
            )
        },
    ];
    list.extend(module_scenarios());
    list.extend(disk_scenarios());
    list.extend(component_scenarios());
    list.extend(fpu_scenarios());
    list.extend(memory_scenarios());
    list.extend(broken_component_scenarios());
    list.extend(console_scenarios());
    list.extend(Corruption::ALL.into_iter().map(corrupt));
    list.extend(vboot_scenarios());
    list.extend(crate::slot_scenarios::slot_scenarios());
    list.extend(crate::update_scenarios::update_scenarios());
    list.extend(crate::screen_scenarios::screen_scenarios());
    list.extend(crate::usb_scenarios::usb_scenarios());
    list.extend(crate::keyboard_scenarios::keyboard_scenarios());
    list.extend(crate::http_scenarios::http_scenarios());
    list.extend(crate::editor_scenarios::editor_scenarios());
    list.extend(crate::crash_scenarios::crash_scenarios());
    list.extend(crate::net_scenarios::net_scenarios());
    list.extend(crate::net_scenarios::netboot_scenarios());
    // The longest ones first, so that they overlap the others.
    list.splice(0..0, fs_scenarios());
    list.splice(0..0, crate::http_get_scenarios::http_get_scenarios());
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::description::Description;
    use std::collections::HashSet;

    fn description(path: &str) -> Description {
        let root = crate::build::Workspace::locate().root;
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        Description::parse(&text, path).unwrap()
    }

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
    fn default_start_order_matches_the_checked_in_description() {
        let d = description(crate::description::DEFAULT_PATH);
        assert_eq!(DEFAULT_ORDER, d.init_sequence.as_slice());
    }

    /// Every state-record expectation names exactly the entries of its system, in table order
    /// (init_sequence, then the rest), with the states the description expects of them.
    #[test]
    fn state_expectations_match_each_description() {
        for s in all() {
            let d = description(s.system);
            let mut order: Vec<String> = d.init_sequence.clone();
            for e in d.services.iter().chain(&d.components) {
                if !order.contains(&e.name) {
                    order.push(e.name.clone());
                }
            }
            let patterns = s
                .expect
                .iter()
                .chain(s.second_boot.iter().flat_map(|b| &b.expect));
            for p in patterns {
                let Pattern::States(list) = p else { continue };
                let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
                assert_eq!(names, order, "{}", s.name);
                for c in list {
                    let e = d
                        .services
                        .iter()
                        .chain(&d.components)
                        .find(|e| e.name == c.name)
                        .unwrap();
                    let expected = e
                        .expected_state
                        .as_deref()
                        .map_or(bootlog::state::Expected::Up, |w| {
                            bootlog::state::Expected::parse(w).unwrap()
                        });
                    // A scenario that must fail the check may expect what the image does not.
                    assert!(
                        s.check_must_fail
                            || s.end == End::Exit(EXIT_FAIL)
                            || expected.admits(c.state),
                        "{}: {} expects {expected}, the scenario {}",
                        s.name,
                        c.name,
                        c.state
                    );
                }
            }
        }
    }

    #[test]
    fn at_least_eight_corruption_scenarios_each_with_its_own_error() {
        let all = all();
        let corrupt: Vec<_> = all
            .iter()
            .filter(|s| s.corruption.is_some() && s.tweak == ConfTweak::NoModule)
            .collect();
        assert!(corrupt.len() >= 8);
        let subs: HashSet<String> = corrupt.iter().map(|s| s.expect[1].to_string()).collect();
        assert_eq!(subs.len(), corrupt.len(), "errors are distinct");
        for s in corrupt {
            assert_eq!(s.end, End::Exit(EXIT_FAIL));
            assert_eq!(s.expect.last(), Some(&line(TEST_FAIL)));
            assert!(s.forbid.contains(&IMAGE_VERIFIED_START));
        }
    }

    #[test]
    fn module_scenarios_match_the_disk_fault() {
        let all = all();
        let find = |n: &str| all.iter().find(|s| s.name == n).unwrap().clone();
        let module = find("corrupt-module");
        let disk = find("corrupt-service-bytes-changed");
        assert_eq!(module.expect, disk.expect);
        assert_eq!(module.end, End::Exit(EXIT_FAIL));
        assert_eq!(module.tweak, ConfTweak::CorruptModule);
        assert_eq!(module.drives, &[DriveRole::Image(Attach::UsbEhci)]);
        for n in ["iso-q35", "iso-pc", "usb-stick-ehci"] {
            let s = find(n);
            assert!(s.forbid.contains(&IMAGE_FOUND_START));
            assert_eq!(s.expect, module_boot_expect());
            assert_eq!(s.end, End::Exit(EXIT_PASS));
        }
        // Disk corruption scenarios boot without a module (nothing to fall back to), except
        // the one that shows the module winning over a damaged disk.
        for s in all.iter().filter(|s| s.corruption.is_some()) {
            let passes = s.end == End::Exit(EXIT_PASS);
            assert_eq!(s.tweak == ConfTweak::NoModule, !passes, "{}", s.name);
            assert_eq!(passes, s.name == "module-beats-damaged-disk", "{}", s.name);
        }
    }

    /// Every boot that passes checks every entry's state record, and the boot scenarios on
    /// other disks use the same check as boot-q35's.
    #[test]
    fn every_passing_boot_checks_the_state_records() {
        for s in all() {
            let has_states = s.expect.iter().any(|p| matches!(p, Pattern::States(_)));
            let boots_components = s.cmdline == CMDLINE_TEST_BOOT && s.corruption.is_none();
            if boots_components && s.end == End::Exit(EXIT_PASS) {
                assert!(has_states, "{}", s.name);
            }
        }
        let all = all();
        let caught = all.iter().find(|s| s.check_must_fail).unwrap();
        assert_eq!(
            caught.expect,
            boot_expect(),
            "the test of the test uses the normal check"
        );
    }

    #[test]
    fn every_scenario_expects_something() {
        for s in all() {
            assert!(!s.expect.is_empty(), "{}", s.name);
        }
    }
}
