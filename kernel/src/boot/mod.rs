//! Kernel entry: read the boot loader's answers and the command line (entering a test mode
//! first), bring up arch, memory and the screen, print the banner, run the self-check, find
//! and verify the system image, open the user-data region, start the components, then idle.
//! The `test=` modes end the run at their stage (see `crate::testmode`).

pub mod info;
pub mod requests;
pub mod screen;
pub mod slots;
pub mod start;

use crate::arch::{self, backtrace, cpu, entry, protection};
use crate::cmdline::{self, TestMode};
use crate::fatal::{self, Outcome};
use crate::memory::{self, paging};
use crate::{devices, image, klog, process, selfcheck, testmode, time, userdata};
use alloc::vec::Vec;
use bootlog::msg::{
    BANNER_BOOTLOADER, BANNER_START, BOOT_COUNT_START, IMAGE_FAIL_START, SELFCHECK_FAIL_START,
    SELFCHECK_PASS_START, VBOOT_REFUSED_START,
};
use bootproto::memmap;
use bootslots::journal::Outcome as JournalOutcome;

/// The `module_string` that marks the system image among the boot modules (limine.conf).
pub const SYSTEM_IMAGE_MODULE: &str = bootproto::files::MODULE_STRING;

/// The Rust entry point, reached from `_start` (arch/entry.rs) on the boot loader's stack.
/// Each step below stops the kernel (or, in a test mode, ends the run) if it cannot go on.
pub extern "C" fn kmain() -> ! {
    time::mark_entry();
    arch::serial::init();
    klog::init(cmdline::LogLevel::Info);
    let info = info::collect();
    let cmd = command_line_and_test_mode(&info);
    let (map, hhdm) = arch_and_memory(&info);
    screen::bring_up(info.framebuffer, map.entries());
    banner(&info, map.entries(), hhdm);
    let check = run_selfcheck(&info, map);
    testmode::after_selfcheck(cmd.test, check.is_ok());
    if check.is_err() {
        fatal::stop(Outcome::Fail);
    }

    arch::power::init(info.rsdp);
    let keyboard = cmd.keyboard.unwrap_or_default();
    devices::usb_input::set_layout(keyboard);
    let probe = devices::probe();
    devices::ps2::init(keyboard);
    for source in [
        devices::ps2::read_available,
        devices::usb_input::read_available,
    ] {
        if !process::console_read::register_source(source) {
            log::warn!("keyboard: no room for another console input source");
        }
    }
    let network = start::hand_over_network(devices::net::bring_up(&probe.pci));
    let mut disks = probe.disks;
    let (verified, booting) = verify_image(&info, map.entries(), &mut disks, cmd.slot);
    keyboard_layout(cmd.keyboard, &verified.manifest);
    let journal = open_user_data(
        &mut disks[verified.disk],
        &verified,
        booting.as_ref(),
        cmd.test,
    );

    let binaries = start::read_binaries(&mut disks[verified.disk], &verified);
    let image_disk = disks.swap_remove(verified.disk);
    let as_expected = start::start_components(
        image_disk,
        &verified,
        binaries,
        network,
        journal,
        booting.as_ref(),
    );
    log::info!(
        "boot complete after {} ms; idling",
        time::uptime_us() / 1000
    );
    log::info!("{}", crate::process::switch_stats());
    screen::report();
    testmode::after_components(cmd.test, as_expected);
    // Idle: the components keep running (the scheduler runs them while this task halts).
    crate::process::wait_until(u64::MAX, &mut || false);
    cpu::halt_forever()
}

/// The keyboards' layout once the manifest is known (`crate::keyboard_layout`): one line.
fn keyboard_layout(cmdline: Option<drivers::ps2::Layout>, manifest: &loader::Manifest) {
    let choice = crate::keyboard_layout::choose(cmdline, manifest.keyboard_layout.as_deref());
    if choice.is_warning() {
        log::warn!("{choice}");
    } else {
        log::info!("{choice}");
    }
    devices::set_keyboard_layout(choice.layout);
}

/// Reads the kernel command line (defaults if it does not parse), enters the test mode it
/// asks for first (so that anything failing from here on reaches the harness), sets the log
/// level, and stops if the boot loader does not speak base revision 3.
fn command_line_and_test_mode(info: &info::BootInfo) -> cmdline::Cmdline {
    let cmd = match cmdline::parse(info.cmdline) {
        Ok(cmd) => cmd,
        Err(e) => {
            log::error!(
                "kernel command line {:?}: {e}; booting with defaults",
                info.cmdline
            );
            cmdline::Cmdline::default()
        }
    };
    testmode::setup(cmd.test);
    klog::set_level(cmd.log_level);

    if !info.base_revision_supported {
        log::error!(
            "boot loader {} {} does not support Limine base revision 3 (it loaded revision {:?}): \
             boot with Limine 8.x or later, or with the PandaGen stub",
            info.bootloader_name,
            info.bootloader_version,
            info.loaded_base_revision
        );
        fatal::stop(Outcome::Fail);
    }
    cmd
}

/// Calibrates the TSC, loads GDT/TSS/IDT (`arch::init`) and sets up memory over the boot
/// loader's map and HHDM. Returns the map and the HHDM offset.
fn arch_and_memory(info: &info::BootInfo) -> (&info::MemoryMap, u64) {
    match time::calibrate() {
        Some(hz) => log::info!(
            "TSC runs at {}.{:03} MHz (measured against the PIT)",
            hz / 1_000_000,
            (hz / 1_000) % 1_000
        ),
        None => log::warn!("no PIT answer: TSC assumed at 1 GHz, log times are approximate"),
    }

    backtrace::set_boot_stack(requests::STACK_SIZE);
    arch::init();
    log::info!("GDT, TSS and IDT loaded (exceptions 0-31 handled)");

    let Some(hhdm) = info.hhdm_offset else {
        log::error!("the boot loader gave no HHDM response: cannot reach physical memory; use a Limine-protocol boot loader");
        fatal::stop(Outcome::Fail);
    };
    let Some(map) = info.memory_map.as_ref() else {
        log::error!("the boot loader gave no memory map: cannot manage memory; use a Limine-protocol boot loader");
        fatal::stop(Outcome::Fail);
    };
    match memory::init(map.entries(), hhdm) {
        Ok(stats) => log::info!("memory ready: {stats}"),
        Err(e) => {
            log::error!("memory setup failed: {e}");
            fatal::stop(Outcome::Fail);
        }
    }
    (map, hhdm)
}

/// The self-check over the boot loader's answers and the live page tables; logs its line.
fn run_selfcheck(info: &info::BootInfo, map: &info::MemoryMap) -> Result<(), selfcheck::Failure> {
    let facts = selfcheck::Facts {
        hhdm_offset: info.hhdm_offset,
        memory_map: Some(map.entries()),
        memory_map_dropped: map.dropped,
        executable_address: info.executable_address,
        link_base: entry::link_base(),
        entry_rsp: entry::entry_rsp(),
        stack_size_requested: requests::STACK_SIZE,
        stack_size_answered: info.stack_size_answered,
        code_address: kmain as *const () as u64,
        data_address: entry::data_probe_address(),
    };
    let check = selfcheck::run(&facts, &paging::ActiveTables);
    match check {
        Ok(()) => log::info!(
            "{SELFCHECK_PASS_START}HHDM maps usable memory, memory map sorted and disjoint, executable at its link address, lower half unmapped, {} KiB stack honoured, W^X, {})",
            requests::STACK_SIZE / 1024,
            protection::active()
        ),
        Err(e) => log::error!("{SELFCHECK_FAIL_START}{e}"),
    }
    check
}

/// Finds the system image (on a disk, or the boot module) and verifies it against the running
/// kernel; on a two-slot disk, judges the booted slot (which may reset to the other). Stops if
/// there is no image that verifies.
fn verify_image(
    info: &info::BootInfo,
    map: &[memmap::Entry],
    disks: &mut Vec<devices::Disk>,
    slot: Option<bootslots::Slot>,
) -> (image::VerifiedBoot, Option<slots::Booting>) {
    let kernel_file = info
        .executable_file
        .and_then(|(addr, size)| memory::boot_loader_bytes(map, addr, size));
    let module = info
        .modules
        .iter()
        .flatten()
        .find(|m| m.string == SYSTEM_IMAGE_MODULE)
        .and_then(|m| memory::boot_loader_bytes(map, m.addr, m.size));
    let picked = image::pick(disks, module, slot).unwrap_or_else(|e| image_failed(disks, &e));
    let result = image::verify(disks, &picked, kernel_file);
    let booting = picked.slots.map(|slot_disk| {
        let failure = result.as_ref().err().map(|e| slots::Failure {
            line: alloc::format!("{e}"),
            at: e.failed_at(),
        });
        let via_stub = info.bootloader_name == bootproto::STUB_NAME;
        slots::judge(
            &mut disks[picked.disk],
            slot_disk,
            failure.as_ref(),
            via_stub,
        )
    });
    match result {
        Ok(v) => (v, booting),
        Err(e) => image_failed(disks, &e),
    }
}

/// Logs why the image cannot be used, journals a verified-boot refusal, and stops.
fn image_failed(disks: &mut [devices::Disk], e: &image::ImageError) -> ! {
    log::error!("{IMAGE_FAIL_START}{e}");
    if let image::ImageError::Signature(refused) = e {
        journal_refusal(&mut disks[refused.disk], refused);
    }
    fatal::stop(Outcome::Fail);
}

/// Records a boot verified boot refused in the journal on the image's disk.
fn journal_refusal(disk: &mut devices::Disk, refused: &image::Refused) {
    let written =
        userdata::boot::open(&mut *disk.device, &refused.superblock).and_then(|mut region| {
            let mut stored = userdata::boot::read_journal(&mut region)?;
            let boot = stored.journal.next_boot_number();
            let reason = alloc::format!("{}", refused.error);
            let reason = reason.strip_prefix(VBOOT_REFUSED_START).unwrap_or(&reason);
            stored.start(boot, JournalOutcome::Refused, reason);
            userdata::boot::write_journal(&mut region, &mut stored)
        });
    if let Err(e) = written {
        log::warn!("userdata: the refusal could not be written to the boot journal: {e}");
    }
}

/// Opens the user-data region on the image's disk, counts this boot (the count goes to
/// `sysinfo`, for the BOOTCOUNT call), records it in the boot journal (returned, for the
/// outcome), then hands the region to `test=persist`.
fn open_user_data(
    disk: &mut devices::Disk,
    verified: &image::VerifiedBoot,
    booting: Option<&slots::Booting>,
    mode: TestMode,
) -> Option<userdata::journal::Stored> {
    let disk_name = disk.location.clone();
    let mut region = match userdata::boot::open(&mut *disk.device, &verified.region) {
        Ok(r) => r,
        Err(e) => {
            log::error!("userdata: cannot open the user-data region on disk {disk_name}: {e}");
            fatal::stop(Outcome::Fail);
        }
    };
    match userdata::boot::count_boot(&mut region) {
        Ok(n) => {
            crate::sysinfo::SYSINFO.set_boot_count(n);
            log::info!(
                "{BOOT_COUNT_START}{n} (kept in the user-data region, {} blocks from block {} on disk {disk_name})",
                region.blocks(),
                region.start()
            );
        }
        Err(e) => log::warn!("userdata: the boot counter could not be updated: {e}"),
    }
    let boot = crate::sysinfo::SYSINFO.boot_count().unwrap_or(0);
    userdata::boot::show_last_crash(&mut region, boot);
    let journal = start_journal(&mut region, booting);
    testmode::after_userdata(mode, &mut region);
    journal
}

/// Adds this boot (`started`, or the slot choice) to the boot journal and publishes it for
/// BOOTLOG.
fn start_journal(
    region: &mut userdata::boot::DiskRegion<'_>,
    booting: Option<&slots::Booting>,
) -> Option<userdata::journal::Stored> {
    let started = userdata::boot::read_journal(region).and_then(|mut stored| {
        // The journal numbers its own records (a refused boot is one too, though it does not
        // reach the boot counter).
        let number = stored.journal.next_boot_number();
        match booting {
            Some(b) => stored.push(slots::record(number, b)),
            None => stored.start(number, JournalOutcome::Started, ""),
        }
        userdata::boot::write_journal(region, &mut stored).map(|()| stored)
    });
    match started {
        Ok(stored) => {
            crate::sysinfo::SYSINFO.set_boot_journal(stored.lines());
            Some(stored)
        }
        Err(e) => {
            log::warn!("userdata: the boot journal could not be updated: {e}");
            None
        }
    }
}

/// The boot banner: who booted us, on what firmware, with how much memory, and how.
fn banner(info: &info::BootInfo, map: &[memmap::Entry], hhdm: u64) {
    let usable = memmap::total_of(map, memmap::USABLE);
    log::info!(
        "{BANNER_START}{}{BANNER_BOOTLOADER}{} {} | firmware: {}",
        env!("CARGO_PKG_VERSION"),
        info.bootloader_name,
        info.bootloader_version,
        info.firmware
    );
    log::info!(
        "usable memory: {} MiB ({} bytes in {} map entries) | HHDM offset: {hhdm:#x}",
        usable / (1024 * 1024),
        usable,
        map.len()
    );
    log::info!("kernel command line: {:?}", info.cmdline);
    log::info!("{}", image::signatures::banner_line());
    if let Some(fb) = info.framebuffer {
        log::info!("framebuffer: {}x{}, {} bpp", fb.width, fb.height, fb.bpp);
    }
    if let Some(rsdp) = info.rsdp {
        log::info!("ACPI RSDP at physical {rsdp:#x}");
    }
    if let Some(t) = info.boot_unix_time {
        crate::time::set_boot_unix_time(t);
        log::info!("date at boot: {t} (Unix time)");
    }
    if let Some((addr, size)) = info.executable_file {
        log::info!(
            "kernel file: {size} bytes at {addr:#x}; {} module(s)",
            info.module_count
        );
    }
}
