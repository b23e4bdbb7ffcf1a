//! What the boot loader told us, copied out of the Limine responses into plain values.

use bootproto::memmap::Entry;
use limine::firmware_type::FirmwareType;
use limine::memory_map::EntryType;

use super::requests as req;

/// How many memory-map entries the kernel keeps (real PCs report well under 200).
pub const MAX_MEMMAP_ENTRIES: usize = 512;

/// The memory map, copied so later code does not hold on to boot-loader memory.
pub struct MemoryMap {
    entries: [Entry; MAX_MEMMAP_ENTRIES],
    len: usize,
    /// Entries the boot loader reported beyond [`MAX_MEMMAP_ENTRIES`] (dropped, and reported).
    pub dropped: usize,
}

impl MemoryMap {
    /// The entries, in the boot loader's order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries[..self.len]
    }
}

/// The boot loader's answers the kernel uses. `None` means "no response to that request".
pub struct BootInfo {
    pub base_revision_supported: bool,
    pub loaded_base_revision: Option<u64>,
    pub bootloader_name: &'static str,
    pub bootloader_version: &'static str,
    pub firmware: &'static str,
    pub hhdm_offset: Option<u64>,
    pub memory_map: Option<MemoryMap>,
    pub cmdline: &'static str,
    /// (physical base, virtual base) of the kernel image.
    pub executable_address: Option<(u64, u64)>,
    /// (address, size) of the kernel file as the boot loader read it.
    pub executable_file: Option<(u64, u64)>,
    pub stack_size_answered: bool,
    /// The first framebuffer.
    pub framebuffer: Option<FramebufferInfo>,
    pub rsdp: Option<u64>,
    pub boot_unix_time: Option<u64>,
    pub module_count: usize,
    /// The first [`MAX_MODULES`] modules the boot loader loaded.
    pub modules: [Option<ModuleInfo>; MAX_MODULES],
}

/// A framebuffer as the boot loader described it.
#[derive(Clone, Copy, Debug)]
pub struct FramebufferInfo {
    /// Its HHDM address.
    pub addr: u64,
    pub width: u64,
    pub height: u64,
    /// Bytes per row.
    pub pitch: u64,
    pub bpp: u16,
    /// Whether the memory model is RGB (the only one the protocol defines).
    pub rgb: bool,
    /// (size, shift) in bits of the red, green and blue channels.
    pub red: (u8, u8),
    pub green: (u8, u8),
    pub blue: (u8, u8),
}

/// How many boot modules the kernel looks at.
pub const MAX_MODULES: usize = 8;

/// A file the boot loader loaded next to the kernel (`module_path` in limine.conf).
#[derive(Clone, Copy, Debug)]
pub struct ModuleInfo {
    pub path: &'static str,
    /// `module_string` from limine.conf: what the module is for.
    pub string: &'static str,
    /// HHDM address and size.
    pub addr: u64,
    pub size: u64,
}

/// The protocol's type number (the limine crate keeps it private); unknown types map to
/// `u64::MAX`, which no check treats as usable.
fn kind_of(t: EntryType) -> u64 {
    use bootproto::memmap as m;
    [
        (EntryType::USABLE, m::USABLE),
        (EntryType::RESERVED, m::RESERVED),
        (EntryType::ACPI_RECLAIMABLE, m::ACPI_RECLAIMABLE),
        (EntryType::ACPI_NVS, m::ACPI_NVS),
        (EntryType::BAD_MEMORY, m::BAD_MEMORY),
        (EntryType::BOOTLOADER_RECLAIMABLE, m::BOOTLOADER_RECLAIMABLE),
        (EntryType::EXECUTABLE_AND_MODULES, m::EXECUTABLE_AND_MODULES),
        (EntryType::FRAMEBUFFER, m::FRAMEBUFFER),
    ]
    .iter()
    .find(|(t2, _)| *t2 == t)
    .map_or(u64::MAX, |(_, k)| *k)
}

fn cstr(s: &'static core::ffi::CStr) -> &'static str {
    s.to_str().unwrap_or("<not UTF-8>")
}

/// Reads every response. Must run before anything reclaims boot-loader memory.
pub fn collect() -> BootInfo {
    let (bootloader_name, bootloader_version) = req::BOOTLOADER_INFO
        .get_response()
        .map(|r| (r.name(), r.version()))
        .unwrap_or(("<no answer>", "?"));
    let firmware = match req::FIRMWARE_TYPE.get_response().map(|r| r.firmware_type()) {
        Some(FirmwareType::UEFI_64) => "UEFI (64-bit)",
        Some(FirmwareType::UEFI_32) => "UEFI (32-bit)",
        Some(FirmwareType::X86_BIOS) => "BIOS",
        Some(FirmwareType::SBI) => "SBI",
        Some(_) => "unknown",
        None => "<no answer>",
    };
    let memory_map = req::MEMORY_MAP.get_response().map(|r| {
        let mut map = MemoryMap {
            entries: [Entry {
                base: 0,
                length: 0,
                kind: 0,
            }; MAX_MEMMAP_ENTRIES],
            len: 0,
            dropped: 0,
        };
        for e in r.entries() {
            if map.len == MAX_MEMMAP_ENTRIES {
                map.dropped += 1;
                continue;
            }
            map.entries[map.len] = Entry {
                base: e.base,
                length: e.length,
                kind: kind_of(e.entry_type),
            };
            map.len += 1;
        }
        map
    });
    let cmdline = req::EXECUTABLE_CMDLINE
        .get_response()
        .map(|r| cstr(r.cmdline()))
        .or_else(|| {
            req::EXECUTABLE_FILE
                .get_response()
                .map(|r| cstr(r.file().string()))
        })
        .unwrap_or("");
    BootInfo {
        base_revision_supported: req::BASE_REVISION.is_supported(),
        loaded_base_revision: req::BASE_REVISION.loaded_revision(),
        bootloader_name,
        bootloader_version,
        firmware,
        hhdm_offset: req::HHDM.get_response().map(|r| r.offset()),
        memory_map,
        cmdline,
        executable_address: req::EXECUTABLE_ADDRESS
            .get_response()
            .map(|r| (r.physical_base(), r.virtual_base())),
        executable_file: req::EXECUTABLE_FILE
            .get_response()
            .map(|r| (r.file().addr() as u64, r.file().size())),
        stack_size_answered: req::STACK_SIZE_REQUEST.get_response().is_some(),
        framebuffer: req::FRAMEBUFFER
            .get_response()
            .and_then(|r| r.framebuffers().next())
            .map(|fb| FramebufferInfo {
                addr: fb.addr() as u64,
                width: fb.width(),
                height: fb.height(),
                pitch: fb.pitch(),
                bpp: fb.bpp(),
                rgb: fb.memory_model() == limine::framebuffer::MemoryModel::RGB,
                red: (fb.red_mask_size(), fb.red_mask_shift()),
                green: (fb.green_mask_size(), fb.green_mask_shift()),
                blue: (fb.blue_mask_size(), fb.blue_mask_shift()),
            }),
        rsdp: req::RSDP.get_response().map(|r| r.address() as u64),
        boot_unix_time: req::DATE_AT_BOOT
            .get_response()
            .map(|r| r.timestamp().as_secs()),
        module_count: req::MODULES
            .get_response()
            .map(|r| r.modules().len())
            .unwrap_or(0),
        modules: {
            let mut out = [None; MAX_MODULES];
            if let Some(r) = req::MODULES.get_response() {
                for (slot, m) in out.iter_mut().zip(r.modules()) {
                    *slot = Some(ModuleInfo {
                        path: cstr(m.path()),
                        string: cstr(m.string()),
                        addr: m.addr() as u64,
                        size: m.size(),
                    });
                }
            }
            out
        },
    }
}
