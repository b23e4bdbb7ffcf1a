//! Kernel entry: read the boot loader's answers, bring up arch and memory, print the banner,
//! run the self-check, then idle (or finish the requested test).

pub mod info;
pub mod requests;
pub mod start;

use crate::arch::{self, backtrace, cpu, entry, protection};
use crate::cmdline::{self, TestMode};
use crate::fatal::{self, Outcome};
use crate::memory::{self, paging};
use crate::{devices, image, klog, selfcheck, time, userdata};
use bootlog::msg::{
    BANNER_BOOTLOADER, BANNER_START, BOOT_COUNT_START, IMAGE_FAIL_START, SELFCHECK_FAIL_START,
    SELFCHECK_PASS_START, SMAP_TEST_START, SMAP_TEST_UNAVAILABLE,
};
use bootproto::memmap;

/// The `module_string` that marks the system image among the boot modules (limine.conf).
pub const SYSTEM_IMAGE_MODULE: &str = "pandagen-system-image";

/// The Rust entry point, reached from `_start` (arch/entry.rs) on the boot loader's stack.
pub extern "C" fn kmain() -> ! {
    time::mark_entry();
    arch::serial::init();
    klog::init(cmdline::LogLevel::Info);
    let info = info::collect();

    // Test mode first, so that anything failing from here on reaches the harness.
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
    if cmd.test != TestMode::Off {
        fatal::enable_test_exit();
    }
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
    let stats = match memory::init(map.entries(), hhdm) {
        Ok(stats) => stats,
        Err(e) => {
            log::error!("memory setup failed: {e}");
            fatal::stop(Outcome::Fail);
        }
    };
    log::info!("memory ready: {stats}");

    banner(&info, map.entries(), hhdm);

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

    match cmd.test {
        TestMode::Off | TestMode::Boot | TestMode::Persist => {}
        TestMode::Fault => {
            log::info!(
                "test=fault: reading unmapped address {:#x} on purpose",
                cpu::FAULT_PROBE_ADDRESS
            );
            cpu::trigger_page_fault();
        }
        TestMode::Smap => smap_test(),
        TestMode::Disk => fatal::stop(if crate::devices::disk_test() && check.is_ok() {
            Outcome::Pass
        } else {
            Outcome::Fail
        }),
    }
    if check.is_err() {
        fatal::stop(Outcome::Fail);
    }

    arch::power::init(info.rsdp);
    let probe = devices::probe();
    let network = start::network_devices(&probe.pci);
    let mut disks = probe.disks;
    let kernel_file = info
        .executable_file
        .and_then(|(addr, size)| memory::boot_loader_bytes(map.entries(), addr, size));
    let module = info
        .modules
        .iter()
        .flatten()
        .find(|m| m.string == SYSTEM_IMAGE_MODULE)
        .and_then(|m| memory::boot_loader_bytes(map.entries(), m.addr, m.size));
    let verified = match image::find_and_verify(&mut disks, kernel_file, module) {
        Ok(v) => v,
        Err(e) => {
            log::error!("{IMAGE_FAIL_START}{e}");
            fatal::stop(Outcome::Fail);
        }
    };

    let disk = &mut disks[verified.disk];
    let disk_name = disk.location.clone();
    let mut region = match userdata::boot::open(&mut *disk.device, &verified.superblock) {
        Ok(r) => r,
        Err(e) => {
            log::error!("userdata: cannot open the user-data region on disk {disk_name}: {e}");
            fatal::stop(Outcome::Fail);
        }
    };
    match userdata::boot::count_boot(&mut region) {
        Ok(n) => {
            crate::process::set_boot_count(n);
            log::info!(
            "{BOOT_COUNT_START}{n} (kept in the user-data region, {} blocks from block {} on disk {disk_name})",
            region.blocks(),
            region.start()
        )
        }
        Err(e) => log::warn!("userdata: the boot counter could not be updated: {e}"),
    }
    if cmd.test == TestMode::Persist {
        fatal::stop(if userdata::boot::persist_test(&mut region) {
            Outcome::Pass
        } else {
            Outcome::Fail
        });
    }

    let binaries = start::read_binaries(&mut disks[verified.disk], &verified.manifest);
    let image_disk = disks.swap_remove(verified.disk);
    let as_expected = start::start_components(image_disk, &verified, binaries, network);
    log::info!(
        "boot complete after {} ms; idling",
        time::uptime_us() / 1000
    );
    log::info!("{}", crate::process::switch_stats());
    if cmd.test == TestMode::Boot {
        fatal::stop(if as_expected {
            Outcome::Pass
        } else {
            Outcome::Fail
        });
    }
    // Idle: the components keep running (the scheduler runs them while this task halts).
    crate::process::wait_until(u64::MAX, &mut || false);
    cpu::halt_forever()
}

/// A throwaway user page's address for `test=smap` (any lower-half page would do).
const SMAP_PROBE_PAGE: u64 = 0x40_0000;

/// `test=smap`: maps a user page in a throwaway address space and reads it from the kernel,
/// outside any user copy. With SMAP on, the read faults and the exception report (naming SMAP)
/// ends the run with `test: FAIL`; everything else fails here with the reason.
fn smap_test() -> ! {
    if !protection::active().smap {
        log::error!("{SMAP_TEST_UNAVAILABLE}");
        fatal::stop(Outcome::Fail);
    }
    let made = memory::with_frames(|frames| {
        let mut space = memory::user::AddressSpace::new(frames)?;
        space
            .map_new_page(
                SMAP_PROBE_PAGE,
                paging::PageFlags {
                    writable: false,
                    executable: false,
                    user: true,
                },
                |bytes| bytes[..8].copy_from_slice(&0x5a5a_5a5a_5a5a_5a5a_u64.to_le_bytes()),
                frames,
            )
            .map(|()| space)
    });
    let space = match made {
        Some(Ok(space)) => space,
        Some(Err(e)) => {
            log::error!("test=smap: cannot map the user page: {e}");
            fatal::stop(Outcome::Fail);
        }
        None => {
            log::error!("test=smap: memory is not initialised");
            fatal::stop(Outcome::Fail);
        }
    };
    log::info!("{SMAP_TEST_START}{SMAP_PROBE_PAGE:#x} from the kernel, outside any user copy");
    match protection::read_user_page_directly(&space, SMAP_PROBE_PAGE) {
        Ok(value) => log::error!(
            "test=smap: read {value:#x} from user page {SMAP_PROBE_PAGE:#x} without a fault: SMAP did not stop it"
        ),
        Err(e) => log::error!("test=smap: {e}"),
    }
    fatal::stop(Outcome::Fail)
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
    if let Some((w, h, bpp)) = info.framebuffer {
        log::info!("framebuffer: {w}x{h}, {bpp} bpp");
    }
    if let Some(rsdp) = info.rsdp {
        log::info!("ACPI RSDP at physical {rsdp:#x}");
    }
    if let Some(t) = info.boot_unix_time {
        log::info!("date at boot: {t} (Unix time)");
    }
    if let Some((addr, size)) = info.executable_file {
        log::info!(
            "kernel file: {size} bytes at {addr:#x}; {} module(s)",
            info.module_count
        );
    }
}
