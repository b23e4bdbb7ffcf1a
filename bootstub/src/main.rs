//! PandaGen's boot stub: a small UEFI application that reads limine.conf, verifies and loads a
//! Limine-protocol kernel (base revision 3) and hands over exactly as Limine would, so the kernel
//! cannot tell the two apart. It implements the subset of the protocol documented in
//! docs/bootstub.md; unknown requests get no response, as with Limine.
#![no_std]
#![no_main]

extern crate alloc;

mod console;
mod error;
mod files;
mod handoff;
mod load;
mod memmap_build;
mod memory;
mod paging;
mod platform;
mod responses;
mod test_exit;

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bootproto::config::{self, Entry, PathSpec, Resource, Timeout};
use bootproto::memmap::{self, Entry as MemEntry};
use bootproto::requests;
use uefi::boot::{self, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::prelude::*;

use error::StubError;
use files::BootVolume;
use memory::{alloc_pages, Arena, PAGE};
use paging::{PageTables, NO_EXECUTE, WRITABLE};
use responses::{BootFacts, FileInfo};

/// Name and version reported in the bootloader-info response.
pub const NAME: &str = "PandaGen bootstub";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Where the higher-half direct map starts (Limine's offset with 4-level paging).
pub const HHDM: u64 = 0xffff_8000_0000_0000;
/// The only base revision this stub implements.
const BASE_REVISION: u64 = 3;

#[entry]
fn main() -> Status {
    if uefi::helpers::init().is_err() {
        return Status::ABORTED;
    }
    // The firmware watchdog would reset the machine after 5 minutes at a prompt.
    let _ = boot::set_watchdog_timer(0, 0x10000, None);
    let console = console::init();
    match boot_kernel(console) {
        Ok(never) => match never {},
        Err(e) => {
            shout!("{}{e}", bootlog::msg::STUB_CANNOT_BOOT_START);
            test_exit::leave_qemu_failed();
            shout!("bootstub: press any key to return to the firmware");
            platform::wait_for_key();
            Status::LOAD_ERROR
        }
    }
}

/// Reads a file named by limine.conf and checks its pinned BLAKE2b hash, if any.
fn read_verified(vol: &mut BootVolume, spec: &PathSpec) -> Result<Vec<u8>, StubError> {
    let shown: String = alloc::format!("{spec}");
    let Resource::Boot { partition } = spec.resource;
    if let Some(p) = partition {
        if vol.partition_index != 0 && p != vol.partition_index {
            return Err(StubError::UnsupportedPartition {
                path: shown,
                partition: p,
            });
        }
    }
    let bytes = vol.read(&spec.path)?;
    if let Some(expected) = &spec.blake2b {
        bootproto::hash::verify(&bytes, expected).map_err(|mismatch| StubError::HashMismatch {
            path: shown.clone(),
            mismatch: alloc::boxed::Box::new(mismatch),
        })?;
        say!("bootstub: {shown}: {} bytes, BLAKE2b verified", bytes.len());
    } else {
        say!(
            "bootstub: {shown}: {} bytes (no hash pinned in limine.conf)",
            bytes.len()
        );
    }
    Ok(bytes)
}

fn countdown(timeout: &Timeout, entry: &Entry) {
    match timeout {
        Timeout::Seconds(0) => {}
        Timeout::Seconds(n) => {
            say!(
                "bootstub: booting \"{}\" in {n} s (press any key to boot now)",
                entry.name
            );
            for _ in 0..n * 10 {
                if platform::key_pressed() {
                    break;
                }
                boot::stall(Duration::from_millis(100));
            }
        }
        Timeout::Never => {
            say!(
                "bootstub: press any key to boot \"{}\" (timeout: no)",
                entry.name
            );
            platform::wait_for_key();
        }
    }
}

fn boot_kernel(
    console: Result<(), console::ConOutError>,
) -> Result<core::convert::Infallible, StubError> {
    let mut vol = BootVolume::open()?;
    let (conf_path, conf_bytes) = vol.find_config()?;
    let text = core::str::from_utf8(&conf_bytes).map_err(|_| StubError::ConfigNotText)?;
    let conf = config::parse(text).map_err(StubError::Config)?;
    console::set_serial(conf.serial);
    say!("bootstub: {NAME} {VERSION} (Limine protocol, base revision {BASE_REVISION}); config {conf_path}");
    if let Err(e) = console {
        say!("bootstub: cannot tell whether the firmware console reaches a serial port: {e}; writing COM1 too, so a line may show twice there");
    }

    let entry = conf.first_entry().map_err(StubError::Config)?;
    let protocol = entry.protocol.clone().unwrap_or_default();
    if !protocol.eq_ignore_ascii_case("limine") {
        return Err(StubError::UnsupportedProtocol(protocol));
    }
    let kernel_spec = entry.kernel_path.as_ref().ok_or(StubError::NoKernelPath)?;
    test_exit::set_from_cmdline(&entry.cmdline);
    countdown(&conf.timeout, entry);

    let kernel_bytes = read_verified(&mut vol, kernel_spec)?;
    let mut module_files = Vec::new();
    for m in &entry.modules {
        let bytes = read_verified(&mut vol, &m.path)?;
        let phys = load::keep_file(&bytes, "a module")?;
        module_files.push((
            phys,
            bytes.len() as u64,
            m.path.path.clone(),
            m.string.clone(),
        ));
    }
    let modules: Vec<FileInfo<'_>> = module_files
        .iter()
        .map(|(phys, size, path, string)| FileInfo {
            phys: *phys,
            size: *size,
            path,
            string,
        })
        .collect();

    let mut kernel = load::load_kernel(&kernel_bytes)?;
    let kernel_file_phys = load::keep_file(&kernel_bytes, "the kernel file")?;
    say!(
        "bootstub: kernel: {} segments at {:#x} (physical {:#x}), entry {:#x}",
        kernel.exe.segments.len(),
        kernel.virt_base,
        kernel.phys_base,
        kernel.exe.entry
    );

    let scan = requests::scan(kernel.image).map_err(StubError::Requests)?;
    match &scan.base_revision {
        Some(tag) if tag.requested == BASE_REVISION => {
            // Supported: the third word becomes 0 and the second holds the revision used.
            requests::write_u64(kernel.image, tag.offset + 16, 0);
            requests::write_u64(kernel.image, tag.offset + 8, BASE_REVISION);
        }
        Some(tag) if tag.requested > BASE_REVISION => {
            say!(
                "bootstub: kernel asks for base revision {}; booting with {BASE_REVISION}",
                tag.requested
            );
            requests::write_u64(kernel.image, tag.offset + 8, BASE_REVISION);
        }
        other => {
            let asked = other.as_ref().map_or(0, |t| t.requested);
            return Err(StubError::UnsupportedRevision(asked));
        }
    }

    let framebuffer = platform::framebuffer();
    let facts = BootFacts {
        hhdm: HHDM,
        bootloader_name: NAME,
        bootloader_version: VERSION,
        cmdline: &entry.cmdline,
        kernel_file: FileInfo {
            phys: kernel_file_phys,
            size: kernel_bytes.len() as u64,
            path: &kernel_spec.path,
            string: &entry.cmdline,
        },
        modules: &modules,
        partition_index: vol.partition_index,
        mbr_disk_id: vol.mbr_disk_id,
        framebuffer,
        rsdp_phys: platform::rsdp(),
        unix_time: platform::unix_time(),
    };

    // Room for the final memory map: the firmware's map grows a little with our allocations,
    // and normalisation can split entries (at most two more per entry).
    let firmware_entries = boot::memory_map(MemoryType::LOADER_DATA)
        .map_err(|e| StubError::OutOfMemory {
            what: "the memory map",
            status: e.status(),
        })?
        .len();
    let capacity = firmware_entries * 2 + 64;
    let arena_pages = 16 + (capacity * 32).div_ceil(PAGE as usize) + modules.len();
    let mut arena = Arena::new(arena_pages, HHDM)?;
    let answered = responses::answer(
        &mut kernel,
        &scan.requests,
        &facts,
        &mut arena,
        2 * capacity + 2,
    )?;

    let stack_pages = (answered.stack_size / PAGE) as usize;
    let (stack_phys, _) = alloc_pages(stack_pages, MemoryType::LOADER_DATA, "the kernel stack")?;
    let stack_top = HHDM + stack_phys + answered.stack_size;

    let gdt = arena.alloc(handoff::GDT.len() * 8, 16)?;
    for (i, d) in handoff::GDT.iter().enumerate() {
        arena.put_u64(gdt + i * 8, *d);
    }
    let gdtr = arena.alloc(10, 16)?;
    arena.put_u16(gdtr, (handoff::GDT.len() * 8 - 1) as u16);
    arena.put_u64(gdtr + 2, arena.virt(gdt));

    let mut tables = PageTables::new()?;
    map_hhdm(&mut tables, framebuffer.as_ref())?;
    map_kernel(&mut tables, &kernel)?;
    let temp_cr3 = tables.with_identity(&handoff::stage1_pages())?;

    let mut scratch = memmap_build::MemmapScratch {
        raw: Vec::leak(alloc::vec![MemEntry { base: 0, length: 0, kind: 0 }; capacity]),
        bounds: Vec::leak(alloc::vec![0u64; 2 * capacity + 2]),
        out: Vec::leak(alloc::vec![MemEntry { base: 0, length: 0, kind: 0 }; 2 * capacity + 2]),
    };
    let fb_entry = framebuffer.map(|fb| MemEntry {
        base: fb.phys,
        length: fb.size.next_multiple_of(PAGE),
        kind: memmap::FRAMEBUFFER,
    });

    say!(
        "bootstub: answered {:?}; no response to {:?}",
        answered.answered,
        answered.unanswered
    );
    say!(
        "{}{:#x}: stack {} KiB at {:#x}, HHDM {HHDM:#x}, {} page-table pages",
        bootlog::msg::STUB_ENTERING_KERNEL_START,
        kernel.exe.entry,
        answered.stack_size / 1024,
        stack_top,
        tables.tables
    );

    let h = handoff::Handoff {
        temp_cr3,
        final_cr3: tables.pml4,
        stack_top,
        entry: kernel.exe.entry,
        stage2_virt: HHDM + handoff::stage2_phys(),
        gdtr_virt: arena.virt(gdtr),
    };

    // SAFETY: nothing of the firmware's boot services is used after this point: the console
    // switches to COM1 only, and every buffer needed later was allocated above.
    let final_map = unsafe { boot::exit_boot_services(None) };
    console::firmware_gone();
    let (count, dropped) = memmap_build::build(&final_map, fb_entry, &mut scratch);
    if let Some(slot) = &answered.memmap {
        responses::fill_memmap(&mut arena, slot, &scratch.out[..count]);
    }
    if dropped > 0 {
        shout!("bootstub: warning: {dropped} firmware memory-map entries did not fit and were left out");
    }
    // SAFETY: boot services are exited; `tables` maps the kernel (map_kernel), the HHDM over
    // all bootloader-reclaimable memory holding the stack, GDT and stage 2 (map_hhdm), and the
    // temporary tables identity-map stage 1 (with_identity), as `enter` requires.
    unsafe { handoff::enter(&h) }
}

/// Maps the HHDM over usable, bootloader-reclaimable, executable-and-modules and framebuffer
/// memory, as base revision 3 does (nothing else: no MMIO, no reserved ranges).
fn map_hhdm(
    tables: &mut PageTables,
    fb: Option<&responses::FramebufferInfo>,
) -> Result<(), StubError> {
    let map = boot::memory_map(MemoryType::LOADER_DATA).map_err(|e| StubError::OutOfMemory {
        what: "the memory map",
        status: e.status(),
    })?;
    let mut ranges: Vec<(u64, u64)> = map
        .entries()
        .filter(|d| memmap::hhdm_covered(memmap::from_efi(d.ty.0)))
        .map(|d| (d.phys_start, d.phys_start + d.page_count * PAGE))
        .collect();
    if let Some(fb) = fb {
        ranges.push((
            fb.phys & !(PAGE - 1),
            (fb.phys + fb.size).next_multiple_of(PAGE),
        ));
    }
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    for (start, end) in merged {
        tables.map_range(HHDM + start, start, end - start, WRITABLE)?;
    }
    Ok(())
}

/// Maps each PT_LOAD segment page by page with its own permissions (W^X as the ELF says).
fn map_kernel(tables: &mut PageTables, kernel: &load::LoadedKernel) -> Result<(), StubError> {
    let mut pages: Vec<(u64, bool, bool)> = Vec::new();
    for seg in &kernel.exe.segments {
        let mut page = seg.vaddr & !(PAGE - 1);
        let end = (seg.vaddr + seg.mem_size).next_multiple_of(PAGE);
        while page < end {
            match pages.iter_mut().find(|p| p.0 == page) {
                // Two segments sharing a page get the union of their permissions.
                Some(p) => {
                    p.1 |= seg.flags.write;
                    p.2 |= seg.flags.exec;
                }
                None => pages.push((page, seg.flags.write, seg.flags.exec)),
            }
            page += PAGE;
        }
    }
    for (virt, write, exec) in pages {
        let flags = if write { WRITABLE } else { 0 } | if exec { 0 } else { NO_EXECUTE };
        tables.map_4k(virt, kernel.phys_of(virt), flags)?;
    }
    Ok(())
}
