//! PandaGen's boot stub: a small UEFI application that reads limine.conf, verifies and loads a
//! Limine-protocol kernel (base revision 3) and hands over exactly as Limine would, so the kernel
//! cannot tell the two apart. It implements the subset of the protocol documented in
//! docs/bootstub.md; unknown requests get no response, as with Limine.
#![no_std]
#![no_main]

extern crate alloc;

mod clock;
mod console;
mod enrolled;
mod error;
mod files;
mod handoff;
mod load;
mod memmap_build;
mod memory;
mod net;
mod paging;
mod platform;
mod responses;
mod slots;
mod test_exit;

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bootproto::config::{self, Config, Entry, PathSpec, Resource, Timeout};
use bootproto::memmap::{self, Entry as MemEntry};
use bootproto::requests::{self, Scan};
use uefi::boot::{self, MemoryType};
use uefi::mem::memory_map::MemoryMap;
use uefi::prelude::*;

use error::StubError;
use files::{BootVolume, PagedFile};
use memory::{alloc_pages, Arena, PAGE};
use paging::{PageTables, NO_EXECUTE, WRITABLE};
use responses::{BootFacts, FileInfo};

/// Name and version reported in the bootloader-info response.
pub const NAME: &str = bootproto::STUB_NAME;
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
fn read_verified(
    vol: &mut BootVolume,
    spec: &PathSpec,
    what: &'static str,
) -> Result<PagedFile, StubError> {
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
    let file = vol.read_to_pages(&spec.path, memory::executable_type(), what)?;
    let bytes = file.bytes;
    if let Some(expected) = &spec.blake2b {
        bootproto::hash::verify(bytes, expected).map_err(|mismatch| StubError::HashMismatch {
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
    Ok(file)
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

/// Reads limine.conf, checks it against the hash enrolled in this binary (if any), parses it,
/// sets up the serial mirror it asks for, and logs the banner.
fn read_config(
    vol: &mut BootVolume,
    console: Result<(), console::ConOutError>,
) -> Result<Config, StubError> {
    let (conf_path, conf_bytes) = vol.find_config()?;
    // The enrolled hash is checked on the exact bytes read, before anything in them is used.
    let checked = enrolled::check(&conf_path, &conf_bytes)
        .inspect_err(|_| test_exit::set_from_refused_config(&conf_bytes))?;
    let text = core::str::from_utf8(&conf_bytes).map_err(|_| StubError::ConfigNotText)?;
    let conf = config::parse(text).map_err(StubError::Config)?;
    console::set_serial(conf.serial);
    say!("bootstub: {NAME} {VERSION} (Limine protocol, base revision {BASE_REVISION}); config {conf_path}");
    if let Err(e) = console {
        say!("bootstub: cannot tell whether the firmware console reaches a serial port: {e}; writing COM1 too, so a line may show twice there");
    }
    if checked {
        say!("{}", bootlog::msg::STUB_CONFIG_HASH_MATCHED);
    } else {
        say!("{}", bootlog::msg::STUB_CONFIG_NOT_ENROLLED);
    }
    Ok(conf)
}

/// The entry to boot and its kernel path; only `protocol: limine`. On a two-slot image, the
/// entry of the slot the metadata chooses; otherwise the first entry with a protocol.
fn chosen_entry(conf: &Config) -> Result<(&Entry, &PathSpec), StubError> {
    let entry = match slots::chosen_entry(&conf.entries).and_then(|i| conf.entries.get(i)) {
        Some(entry) => entry,
        None => conf.first_entry().map_err(StubError::Config)?,
    };
    let protocol = entry.protocol.clone().unwrap_or_default();
    if !protocol.eq_ignore_ascii_case("limine") {
        return Err(StubError::UnsupportedProtocol(protocol));
    }
    let kernel_spec = entry.kernel_path.as_ref().ok_or(StubError::NoKernelPath)?;
    Ok((entry, kernel_spec))
}

/// A module file copied to "executable and modules" memory, with what limine.conf said of it.
struct KeptModule {
    phys: u64,
    size: u64,
    path: String,
    string: String,
}

impl KeptModule {
    fn info(&self) -> FileInfo<'_> {
        FileInfo {
            phys: self.phys,
            size: self.size,
            path: &self.path,
            string: &self.string,
        }
    }
}

/// Reads (and verifies) every module of `entry` and keeps it where the kernel will find it.
fn keep_modules(vol: &mut BootVolume, entry: &Entry) -> Result<Vec<KeptModule>, StubError> {
    let mut kept = Vec::new();
    for m in &entry.modules {
        let file = read_verified(vol, &m.path, "a module")?;
        kept.push(KeptModule {
            phys: file.phys,
            size: file.bytes.len() as u64,
            path: m.path.path.clone(),
            string: m.string.clone(),
        });
    }
    Ok(kept)
}

/// Loads the kernel's segments from the kernel file (which stays where it was read, for the
/// executable-file response).
fn place_kernel(kernel_bytes: &[u8]) -> Result<load::LoadedKernel, StubError> {
    let kernel = load::load_kernel(kernel_bytes)?;
    say!(
        "bootstub: kernel: {} segments at {:#x} (physical {:#x}), entry {:#x}",
        kernel.exe.segments.len(),
        kernel.virt_base,
        kernel.phys_base,
        kernel.exe.entry
    );
    Ok(kernel)
}

/// Answers the base-revision tag: the kernel's revision if it is ours, ours if it asks for a
/// later one; anything earlier (or no tag) is refused.
fn accept_base_revision(kernel: &mut load::LoadedKernel, scan: &Scan) -> Result<(), StubError> {
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
    Ok(())
}

/// Room for the final memory map: the firmware's map grows a little with our allocations,
/// and normalisation can split entries (at most two more per entry).
fn memmap_capacity() -> Result<usize, StubError> {
    let firmware_entries = boot::memory_map(MemoryType::LOADER_DATA)
        .map_err(|e| StubError::OutOfMemory {
            what: "the memory map",
            status: e.status(),
        })?
        .len();
    Ok(firmware_entries * 2 + 64)
}

/// Allocates the kernel's boot stack; returns its top as an HHDM address.
fn alloc_stack(stack_size: u64) -> Result<u64, StubError> {
    let stack_pages = (stack_size / PAGE) as usize;
    let (stack_phys, _) = alloc_pages(stack_pages, MemoryType::LOADER_DATA, "the kernel stack")?;
    Ok(HHDM + stack_phys + stack_size)
}

/// Writes the hand-off GDT and its GDTR into the arena; returns the GDTR's offset.
fn build_gdt(arena: &mut Arena) -> Result<usize, StubError> {
    let gdt = arena.alloc(handoff::GDT.len() * 8, 16)?;
    for (i, d) in handoff::GDT.iter().enumerate() {
        arena.put_u64(gdt + i * 8, *d);
    }
    let gdtr = arena.alloc(10, 16)?;
    arena.put_u16(gdtr, (handoff::GDT.len() * 8 - 1) as u16);
    arena.put_u64(gdtr + 2, arena.virt(gdt));
    Ok(gdtr)
}

/// What the responses are made from, besides the kernel and the arena.
fn boot_facts<'a>(
    vol: &BootVolume,
    entry: &'a Entry,
    kernel_file: FileInfo<'a>,
    modules: &'a [FileInfo<'a>],
    framebuffer: Option<responses::FramebufferInfo>,
) -> BootFacts<'a> {
    BootFacts {
        hhdm: HHDM,
        bootloader_name: NAME,
        bootloader_version: VERSION,
        cmdline: &entry.cmdline,
        kernel_file,
        modules,
        partition_index: vol.partition_index,
        mbr_disk_id: vol.mbr_disk_id,
        framebuffer,
        rsdp_phys: platform::rsdp(),
        unix_time: platform::unix_time(),
    }
}

/// The last lines before the jump: what was answered, and where the kernel starts.
fn log_handoff(answered: &responses::Answered, entry: u64, stack_top: u64, table_pages: usize) {
    say!(
        "bootstub: answered {:?}; no response to {:?}",
        answered.answered,
        answered.unanswered
    );
    say!(
        "{}{:#x}: stack {} KiB at {:#x}, HHDM {HHDM:#x}, {} page-table pages",
        bootlog::msg::STUB_ENTERING_KERNEL_START,
        entry,
        answered.stack_size / 1024,
        stack_top,
        table_pages
    );
}

/// Reads limine.conf and the files it names, loads the kernel, answers its requests, builds
/// the hand-off state and jumps; returns only with why it cannot boot.
fn boot_kernel(
    console: Result<(), console::ConOutError>,
) -> Result<core::convert::Infallible, StubError> {
    let mut vol = BootVolume::open()?;
    let conf = read_config(&mut vol, console)?;
    let (entry, kernel_spec) = chosen_entry(&conf)?;
    test_exit::set_from_cmdline(&entry.cmdline);
    countdown(&conf.timeout, entry);

    let kernel_read = read_verified(&mut vol, kernel_spec, "the kernel file")?;
    let kernel_bytes = kernel_read.bytes;
    let module_files = keep_modules(&mut vol, entry)?;
    let modules: Vec<FileInfo<'_>> = module_files.iter().map(KeptModule::info).collect();
    let mut kernel = place_kernel(kernel_bytes)?;
    let scan = requests::scan(kernel.image).map_err(StubError::Requests)?;
    accept_base_revision(&mut kernel, &scan)?;

    let framebuffer = platform::framebuffer();
    let kernel_file = FileInfo {
        phys: kernel_read.phys,
        size: kernel_bytes.len() as u64,
        path: &kernel_spec.path,
        string: &entry.cmdline,
    };
    let facts = boot_facts(&vol, entry, kernel_file, &modules, framebuffer);

    let capacity = memmap_capacity()?;
    let arena_pages = 16 + (capacity * 32).div_ceil(PAGE as usize) + modules.len();
    let mut arena = Arena::new(arena_pages, HHDM)?;
    let answered = responses::answer(
        &mut kernel,
        &scan.requests,
        &facts,
        &mut arena,
        2 * capacity + 2,
    )?;
    let stack_top = alloc_stack(answered.stack_size)?;
    let gdtr = build_gdt(&mut arena)?;

    let mut tables = PageTables::new()?;
    map_hhdm(&mut tables, framebuffer.as_ref())?;
    map_kernel(&mut tables, &kernel)?;
    let temp_cr3 = tables.with_identity(&handoff::stage1_pages())?;

    let scratch = memmap_build::MemmapScratch::new(capacity);
    let fb_entry = framebuffer.map(|fb| MemEntry {
        base: fb.phys,
        length: fb.size.next_multiple_of(PAGE),
        kind: memmap::FRAMEBUFFER,
    });

    log_handoff(&answered, kernel.exe.entry, stack_top, tables.tables);
    let h = handoff::Handoff {
        temp_cr3,
        final_cr3: tables.pml4,
        stack_top,
        entry: kernel.exe.entry,
        stage2_virt: HHDM + handoff::stage2_phys(),
        gdtr_virt: arena.virt(gdtr),
    };
    exit_and_enter(&h, &mut arena, answered.memmap.as_ref(), scratch, fb_entry)
}

/// Exits boot services, writes the final memory map into its response and jumps to the
/// kernel. `h` must come from [`boot_kernel`], which built every table and buffer it names.
fn exit_and_enter(
    h: &handoff::Handoff,
    arena: &mut Arena,
    memmap_slot: Option<&responses::MemmapSlot>,
    mut scratch: memmap_build::MemmapScratch,
    fb_entry: Option<MemEntry>,
) -> ! {
    // SAFETY: nothing of the firmware's boot services is used after this point: the console
    // switches to COM1 only, and every buffer needed later (arena, scratch, stack, tables) was
    // allocated by `boot_kernel` before this call.
    let final_map = unsafe { boot::exit_boot_services(None) };
    console::firmware_gone();
    let (count, dropped) = memmap_build::build(&final_map, fb_entry, &mut scratch);
    if let Some(slot) = memmap_slot {
        responses::fill_memmap(arena, slot, &scratch.out[..count]);
    }
    if dropped > 0 {
        shout!("bootstub: warning: {dropped} firmware memory-map entries did not fit and were left out");
    }
    // SAFETY: boot services are exited; `boot_kernel` built `h` from tables that map the kernel
    // (map_kernel) and the HHDM over all bootloader-reclaimable memory holding the stack, GDT
    // and stage 2 (map_hhdm), and from temporary tables that identity-map stage 1
    // (with_identity), as `enter` requires.
    unsafe { handoff::enter(h) }
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
