//! Answering the kernel's Limine requests: each response is laid out in the arena exactly as
//! PROTOCOL.md (and `limine.h`) define it, and its HHDM address is written into the request.
//! Requests the stub does not implement get no response, as with Limine.

use alloc::vec::Vec;

use bootproto::requests::{self, Kind, Request};

use crate::error::StubError;
use crate::load::LoadedKernel;
use crate::memory::Arena;

/// Bytes from a request's start to its `response` pointer (id[4] + revision).
const RESPONSE_FIELD: usize = 40;
/// Bytes from a request's start to the stack-size request's `stack_size`.
const STACK_SIZE_FIELD: usize = 48;
/// Limine's minimum boot stack.
pub const MIN_STACK: u64 = 64 * 1024;

/// A file as the kernel sees it (`struct limine_file`).
pub struct FileInfo<'a> {
    pub phys: u64,
    pub size: u64,
    pub path: &'a str,
    pub string: &'a str,
}

/// The first GOP framebuffer.
#[derive(Clone, Copy)]
pub struct FramebufferInfo {
    pub phys: u64,
    pub size: u64,
    pub width: u64,
    pub height: u64,
    pub pitch: u64,
    pub bpp: u16,
    /// (size, shift) for red, green, blue.
    pub masks: [(u8, u8); 3],
}

/// Everything the responses are made from.
pub struct BootFacts<'a> {
    pub hhdm: u64,
    pub bootloader_name: &'a str,
    pub bootloader_version: &'a str,
    pub cmdline: &'a str,
    pub kernel_file: FileInfo<'a>,
    pub modules: &'a [FileInfo<'a>],
    pub partition_index: u32,
    pub mbr_disk_id: u32,
    pub framebuffer: Option<FramebufferInfo>,
    pub rsdp_phys: Option<u64>,
    pub unix_time: Option<i64>,
}

/// Where the memory-map response lives, to be filled after boot services are exited.
pub struct MemmapSlot {
    pub response: usize,
    pub pointers: usize,
    pub entries: usize,
    pub capacity: usize,
}

/// What answering produced that the rest of the hand-off needs.
pub struct Answered {
    pub stack_size: u64,
    pub memmap: Option<MemmapSlot>,
    /// Names of the requests answered and of those left unanswered, for the log.
    pub answered: Vec<&'static str>,
    pub unanswered: Vec<&'static str>,
}

fn link(kernel: &mut LoadedKernel, req: &Request, response_virt: u64) {
    requests::write_u64(kernel.image, req.offset + RESPONSE_FIELD, response_virt);
}

fn put_file(arena: &mut Arena, f: &FileInfo<'_>, facts: &BootFacts<'_>) -> Result<u64, StubError> {
    let path = arena.put_cstr(f.path)?;
    let string = arena.put_cstr(f.string)?;
    // struct limine_file: revision, address, size, path, string, media_type u32, unused u32,
    // tftp_ip u32, tftp_port u32, partition_index u32, mbr_disk_id u32, 3 × 16-byte UUIDs.
    let off = arena.alloc(5 * 8 + 6 * 4 + 3 * 16, 16)?;
    arena.put_u64(off, 0);
    arena.put_u64(off + 8, facts.hhdm + f.phys);
    arena.put_u64(off + 16, f.size);
    arena.put_u64(off + 24, path);
    arena.put_u64(off + 32, string);
    arena.put_u32(off + 40, 0); // media type: generic
    arena.put_u32(off + 56, facts.partition_index);
    arena.put_u32(off + 60, facts.mbr_disk_id);
    Ok(arena.virt(off))
}

/// Answers every request the stub implements. `memmap_capacity` entries are reserved for the
/// memory map, which is written later by [`fill_memmap`].
pub fn answer(
    kernel: &mut LoadedKernel,
    found: &[Request],
    facts: &BootFacts<'_>,
    arena: &mut Arena,
    memmap_capacity: usize,
) -> Result<Answered, StubError> {
    let mut out = Answered {
        stack_size: MIN_STACK,
        memmap: None,
        answered: Vec::new(),
        unanswered: Vec::new(),
    };
    for req in found {
        match respond(kernel, req, facts, arena, memmap_capacity, &mut out)? {
            Some(virt) => {
                link(kernel, req, virt);
                out.answered.push(req.kind.name());
            }
            None => out.unanswered.push(req.kind.name()),
        }
    }
    Ok(out)
}

/// Lays out the response to `req`; returns its HHDM address, or `None` when the stub gives
/// no response (a request it does not implement, or a fact the firmware did not give).
fn respond(
    kernel: &LoadedKernel,
    req: &Request,
    facts: &BootFacts<'_>,
    arena: &mut Arena,
    memmap_capacity: usize,
    out: &mut Answered,
) -> Result<Option<u64>, StubError> {
    let off = match req.kind {
        Kind::BootloaderInfo => bootloader_info(arena, facts)?,
        Kind::FirmwareType => word_response(arena, 2)?, // UEFI, 64-bit
        Kind::StackSize => {
            let asked =
                requests::read_u64(kernel.image, req.offset + STACK_SIZE_FIELD).unwrap_or(0);
            out.stack_size = asked.max(MIN_STACK).next_multiple_of(4096);
            arena.record(1)?
        }
        Kind::Hhdm => word_response(arena, facts.hhdm)?,
        Kind::MemoryMap => {
            let (response, slot) = memmap_response(arena, memmap_capacity)?;
            out.memmap = Some(slot);
            response
        }
        Kind::Framebuffer => match facts.framebuffer {
            Some(fb) => framebuffer_response(arena, facts.hhdm, &fb)?,
            None => return Ok(None),
        },
        Kind::Rsdp => match facts.rsdp_phys {
            // Physical under base revision 3.
            Some(rsdp) => word_response(arena, rsdp)?,
            None => return Ok(None),
        },
        Kind::ExecutableFile => {
            let file = put_file(arena, &facts.kernel_file, facts)?;
            word_response(arena, file)?
        }
        Kind::ExecutableAddress => {
            let off = arena.record(3)?;
            arena.put_u64(off + 8, kernel.phys_base);
            arena.put_u64(off + 16, kernel.virt_base);
            off
        }
        Kind::ExecutableCmdline => {
            let cmdline = arena.put_cstr(facts.cmdline)?;
            word_response(arena, cmdline)?
        }
        Kind::Module => module_response(arena, facts)?,
        Kind::DateAtBoot => match facts.unix_time {
            Some(t) => word_response(arena, t as u64)?,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(arena.virt(off)))
}

/// A response of a revision and one 64-bit value; returns its arena offset.
fn word_response(arena: &mut Arena, value: u64) -> Result<usize, StubError> {
    let off = arena.record(2)?;
    arena.put_u64(off + 8, value);
    Ok(off)
}

fn bootloader_info(arena: &mut Arena, facts: &BootFacts<'_>) -> Result<usize, StubError> {
    let name = arena.put_cstr(facts.bootloader_name)?;
    let version = arena.put_cstr(facts.bootloader_version)?;
    let off = arena.record(3)?;
    arena.put_u64(off + 8, name);
    arena.put_u64(off + 16, version);
    Ok(off)
}

/// The memory-map response with room for `capacity` entries, left empty until
/// [`fill_memmap`]; returns its offset and where its parts are.
fn memmap_response(arena: &mut Arena, capacity: usize) -> Result<(usize, MemmapSlot), StubError> {
    let response = arena.record(3)?;
    let pointers = arena.alloc(capacity * 8, 16)?;
    let entries = arena.alloc(capacity * 24, 16)?;
    arena.put_u64(response + 16, arena.virt(pointers));
    let slot = MemmapSlot {
        response,
        pointers,
        entries,
        capacity,
    };
    Ok((response, slot))
}

fn framebuffer_response(
    arena: &mut Arena,
    hhdm: u64,
    fb: &FramebufferInfo,
) -> Result<usize, StubError> {
    // struct limine_framebuffer (revision 0): address, width, height, pitch, bpp u16,
    // memory_model u8, 6 mask bytes, 7 unused, edid_size, edid.
    let f = arena.alloc(4 * 8 + 2 + 1 + 6 + 7 + 2 * 8, 16)?;
    arena.put_u64(f, hhdm + fb.phys);
    arena.put_u64(f + 8, fb.width);
    arena.put_u64(f + 16, fb.height);
    arena.put_u64(f + 24, fb.pitch);
    arena.put_u16(f + 32, fb.bpp);
    let [r, g, b] = fb.masks;
    arena.put_bytes(f + 34, &[1, r.0, r.1, g.0, g.1, b.0, b.1]);
    let list = arena.record(1)?;
    arena.put_u64(list, arena.virt(f));
    let off = arena.record(3)?;
    arena.put_u64(off + 8, 1);
    arena.put_u64(off + 16, arena.virt(list));
    Ok(off)
}

fn module_response(arena: &mut Arena, facts: &BootFacts<'_>) -> Result<usize, StubError> {
    let list = arena.alloc(facts.modules.len().max(1) * 8, 16)?;
    for (i, m) in facts.modules.iter().enumerate() {
        let file = put_file(arena, m, facts)?;
        arena.put_u64(list + i * 8, file);
    }
    let off = arena.record(3)?;
    arena.put_u64(off + 8, facts.modules.len() as u64);
    arena.put_u64(off + 16, arena.virt(list));
    Ok(off)
}

/// Writes the final memory map into its response (after `ExitBootServices`; no allocation).
pub fn fill_memmap(arena: &mut Arena, slot: &MemmapSlot, entries: &[bootproto::memmap::Entry]) {
    let count = entries.len().min(slot.capacity);
    for (i, e) in entries.iter().take(count).enumerate() {
        let at = slot.entries + i * 24;
        arena.put_u64(at, e.base);
        arena.put_u64(at + 8, e.length);
        arena.put_u64(at + 16, e.kind);
        arena.put_u64(slot.pointers + i * 8, arena.virt(at));
    }
    arena.put_u64(slot.response + 8, count as u64);
}
