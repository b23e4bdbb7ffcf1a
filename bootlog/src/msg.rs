//! Messages the kernel and the stub print and the scenarios match, each defined once.
//!
//! A kernel message is what follows the log line's prefix ([`crate::line`]). Constants named
//! `*_START` begin a message whose rest varies (sizes, times, addresses); `*_END` end one; the
//! others are a whole message. Lines the kernel writes without a prefix (the test verdict, the
//! exception report) and the stub's lines are whole lines.

/// The banner: `PandaGen kernel 0.1.0 | bootloader: NAME VERSION | firmware: ...`.
pub const BANNER_START: &str = "PandaGen kernel ";
/// What follows the kernel version in the banner: the boot loader's name (Limine
/// bootloader-info response).
pub const BANNER_BOOTLOADER: &str = " | bootloader: ";

/// The boot self-check passed (the list of checks follows in parentheses).
pub const SELFCHECK_PASS_START: &str = "selfcheck: PASS (";
pub const SELFCHECK_FAIL_START: &str = "selfcheck: FAIL: ";
/// The CPU protections the self-check line ends with, in this order, each followed by
/// [`PROTECTION_ON`] or [`PROTECTION_OFF`], joined by `, ` (`..., SMEP on, SMAP on, UMIP on)`).
pub const PROTECTIONS: [&str; 3] = ["SMEP", "SMAP", "UMIP"];
pub const PROTECTION_ON: &str = " on";
pub const PROTECTION_OFF: &str = " off";

/// The test verdict, a whole line without a prefix, right before the kernel leaves QEMU.
pub const TEST_PASS: &str = "test: PASS";
pub const TEST_FAIL: &str = "test: FAIL";

/// Rust's panic message (the kernel's panic line contains it).
pub const PANICKED: &str = "panicked";
/// The exception report's first line (no prefix): `EXCEPTION: vector 14 (#PF Page Fault) ...`.
pub const EXCEPTION_START: &str = "EXCEPTION: vector ";
/// The report's page-fault header, registers, faulting address and backtrace lines.
pub const EXCEPTION_PAGE_FAULT_START: &str = "EXCEPTION: vector 14 (#PF Page Fault)";
pub const EXCEPTION_RIP_START: &str = "  RIP ";
pub const EXCEPTION_CR2_START: &str = "  CR2 ";
pub const EXCEPTION_BACKTRACE: &str = "  backtrace:";
/// How the report decodes a page fault of ring 0 on a present user page: data access (SMAP)
/// and instruction fetch (SMEP). It ends the bracketed error-code decoding, after `: `.
pub const EXCEPTION_SMAP: &str = "supervisor access to a user page (SMAP)";
pub const EXCEPTION_SMEP: &str = "supervisor instruction fetch from a user page (SMEP)";

/// `test=smap`: the kernel reads a user page outside any user copy (the report must follow),
/// or says in one line that the CPU has no SMAP.
pub const SMAP_TEST_START: &str = "test=smap: reading user page ";
pub const SMAP_TEST_UNAVAILABLE: &str =
    "test=smap: the CPU has no SMAP (use -cpu max): cannot test";

/// The image disk (its description follows, then possibly [`SAME_AS_MODULE_END`]).
pub const IMAGE_FOUND_START: &str = "image: found PANDAGEN image on disk ";
/// Ends [`IMAGE_FOUND_START`]'s message when the disk carries the boot module's image.
pub const SAME_AS_MODULE_END: &str = " (same image as the boot module)";
/// No disk carries the module's image: the kernel runs from the module in RAM.
pub const FROM_MODULE_START: &str = "image: running from the boot module (";
pub const FROM_MODULE_RAM_END: &str = "; the user-data region lives in RAM: nothing will persist";
/// A disk that was checked and is not the image: `image: disk LOCATION: no PANDAGEN ...`.
pub const DISK_START: &str = "image: disk ";
pub const NOT_THE_IMAGE_END: &str = ": no PANDAGEN superblock, not the image";
/// A disk whose block 0 has the magic but does not decode, passed over for the boot module:
/// `image: disk LOC has the PANDAGEN magic ... (ERROR): not the boot module's image; using X`.
pub const UNDECODABLE_MIDDLE: &str = " has the PANDAGEN magic but its superblock does not decode (";
pub const PASSED_OVER_MIDDLE: &str = ": not the boot module's image; using ";
/// What [`PASSED_OVER_MIDDLE`] names when no disk carries the module's image.
pub const USING_THE_MODULE: &str = "the module";
/// The whole image verified (sizes and times follow).
pub const IMAGE_VERIFIED_START: &str = "image: verified: ";
/// `image: start order: a, b, c` (`init_sequence` joined by `, `).
pub const START_ORDER_START: &str = "image: start order: ";
/// The kernel refused the image; the rest is the error's Display.
pub const IMAGE_FAIL_START: &str = "image: FAIL: ";
/// The refusal when no disk has the magic (and there is no module).
pub const NO_IMAGE_START: &str = "no disk carries a PANDAGEN superblock";

/// Every verified-boot line starts with this (banner, check summary).
pub const VBOOT_START: &str = "verified boot: ";
/// The banner's mark of a kernel that trusts the development key.
pub const VBOOT_DEVELOPMENT: &str = "development key: do not ship";
/// The banner when the kernel carries no key ring (not packed by `cargo xtask`).
pub const VBOOT_NO_RING: &str =
    "verified boot: no key ring enrolled in this kernel: signatures are not checked";
/// After [`IMAGE_FAIL_START`]: the image refused under `enforce`; the rest is the refusal.
pub const VBOOT_REFUSED_START: &str = "verified boot (enforce): ";
/// An entry refused under `enforce`; the rest is the refusal.
pub const VBOOT_ENTRY_REFUSED_START: &str = "verified boot (enforce): refusing ";
/// A refusal let through under `permissive`: this, the refusal, [`VBOOT_PERMISSIVE_END`].
pub const VBOOT_PERMISSIVE_START: &str = "verified boot (permissive): ";
/// The end of a permissive warning.
pub const VBOOT_PERMISSIVE_END: &str = "; booting anyway";
/// The name of the rollback refusal (an image older than the committed security epoch).
pub const VBOOT_ROLLBACK: &str = "ROLLBACK";
/// After a boot in which every entry came up: the security record was committed.
pub const VBOOT_COMMITTED_START: &str = "verified boot: committed security epoch ";
/// A two-slot image: the booted slot boots; this, the slot, the reason and the metadata.
pub const SLOTS_BOOTING_START: &str = "booting slot ";
/// The booted slot cannot boot (verification failed, tries exhausted, not bootable): this,
/// the slot, why, and which slot boots next.
pub const SLOTS_LEAVING_START: &str = "cannot boot slot ";
/// A trial boot (a slot not yet successful, or the one-shot trial) did not come up.
pub const SLOTS_TRIAL_FAILED_START: &str = "trial failed: slot ";
/// The booted slot came up and is now marked successful.
pub const SLOTS_MARKED_START: &str = "marked successful: slot ";
/// The check's summary line: this, then the signing key's id.
pub const VBOOT_CHECKED_START: &str = "verified boot: manifest signed by ";

/// The boot counter line: `PandaGen ready | boot count: N (kept in ...)`.
pub const BOOT_COUNT_START: &str = "PandaGen ready | boot count: ";

/// The crash record (`bootslots::crash`): written by a dying kernel after its panic or
/// exception report (a line without a prefix, like the report), shown at the next boot.
pub const CRASH_SAVED: &str = "crash record saved in the user-data region";
pub const CRASH_NOT_SAVED_START: &str = "crash record not saved: ";
/// The next boot's warning: this, the record's headline, [`LAST_BOOT_ENDED_END`].
pub const LAST_BOOT_ENDED_START: &str = "the last boot ended with ";
pub const LAST_BOOT_ENDED_END: &str = " (the console's lastcrash shows the record)";
/// A crash record that does not read back: this, then the reason.
pub const CRASH_DAMAGED_START: &str = "userdata: the crash record is damaged: ";
/// `test=crash`'s deliberate kernel panic message.
pub const TEST_CRASH_PANIC: &str = "test=crash: a deliberate kernel panic";

/// `test=persist`: the record one boot writes is checked at the next.
pub const PERSIST_FRESH_START: &str = "persist: no record from an earlier boot";
pub const PERSIST_INTACT_START: &str = "persist: generation ";
pub const PERSIST_INTACT_END: &str = " from the previous boot is intact";
pub const PERSIST_WROTE_START: &str = "persist: wrote and flushed generation ";

/// `test=disk`: the pattern check on a non-image disk, and the per-controller throughput line.
pub const DISK_TEST_START: &str = "test=disk: ";
pub const DISK_PATTERN_MIDDLE: &str = " KiB pattern at LBA ";
pub const DISK_PATTERN_END: &str = ": identical";
pub const DISK_THROUGHPUT_START: &str = "test=disk: controller ";

/// `test=unplug`: writes to a USB disk until the harness unplugs it (`device_del`); the first
/// failed write must name the error, and the next request must fail too.
pub const UNPLUG_WRITING_START: &str = "test=unplug: writing to ";
pub const UNPLUG_FAILED_START: &str = "test=unplug: write failed after ";
pub const UNPLUG_NEXT_FAILED_START: &str = "test=unplug: the next request failed too: ";

/// `test=boot`: an entry whose state is not what the image expects
/// (`test=boot: NAME is STATE, the image expects EXPECTED`).
pub const UNMET_START: &str = "test=boot: ";
pub const UNMET_MIDDLE: &str = ", the image expects ";

/// Free frames before the start sequence, and once every process has ended (printed only
/// then); each is followed by the number alone, so a test can compare them.
pub const FRAMES_BEFORE_START: &str = "memory: frames free before the start sequence: ";
pub const FRAMES_AFTER_ALL_ENDED: &str = "memory: frames free once every process has ended: ";

/// Why the kernel stopped a process that grew past its `memory_limit` (its state then reads
/// `failed` with the detail `killed: memory limit reached`).
pub const MEMORY_LIMIT_REACHED: &str = "memory limit reached";

/// The stub's prefix on every line it prints.
pub const STUB_PREFIX: &str = "bootstub: ";
/// The stub's last line before it jumps to the kernel.
pub const STUB_ENTERING_KERNEL_START: &str = "bootstub: entering kernel at ";
/// The stub's line when it cannot boot (its error follows).
pub const STUB_CANNOT_BOOT_START: &str = "bootstub: cannot boot: ";
/// The stub's error when a file's BLAKE2b hash is not the one limine.conf pins.
pub const STUB_HASH_MISMATCH_START: &str = "BLAKE2b mismatch for ";
pub const STUB_REFUSING_END: &str = ", refusing to boot";
/// The stub's line when limine.conf hashes to the BLAKE2b-512 enrolled in its binary.
pub const STUB_CONFIG_HASH_MATCHED: &str =
    "bootstub: limine.conf matches the BLAKE2b-512 hash enrolled in this boot loader";
/// The stub's line when its binary has no config hash enrolled (an empty slot).
pub const STUB_CONFIG_NOT_ENROLLED: &str =
    "bootstub: no config hash enrolled: limine.conf is not checked";
/// The stub's error when limine.conf is not the config whose hash is enrolled in the stub: this
/// start, the config's path and both digests, [`STUB_CONFIG_HASH_ACTION`], [`STUB_REFUSING_END`].
pub const STUB_CONFIG_HASH_MISMATCH_START: &str =
    "limine.conf is not the config enrolled in this boot loader: ";
pub const STUB_CONFIG_HASH_ACTION: &str =
    "; put back the limine.conf the image was built with, or rebuild the image to enroll the new one";
/// The stub, booted with a `test=` kernel command line, leaves QEMU instead of waiting for a key.
pub const STUB_TEST_EXIT: &str = "bootstub: test mode: leaving QEMU with the failure status";

/// `screen: handed to text_renderer_host (1280x800)`: the kernel gave the screen to a process
/// (FRAMEBUFFER_MAP); from then on that process draws it.
pub const SCREEN_HANDED_START: &str = "handed to ";
/// `screen: taken back from pid 3, which ended (0 bytes it had not read were dropped)`: the
/// screen's owner ended; the kernel draws again.
pub const SCREEN_TAKEN_BACK_START: &str = "taken back from pid ";
