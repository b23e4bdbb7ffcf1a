//! Physical frames, page tables and the kernel heap. With `arch`, the only layer of the kernel
//! where `unsafe` is allowed.
#![allow(unsafe_code)]

#[cfg(target_os = "none")]
pub mod dma;
#[cfg(target_os = "none")]
pub mod framebuffer;
pub mod frames;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod kstack;
#[cfg(target_os = "none")]
pub mod mmio;
pub mod pagetable;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
pub mod user;

/// Where a virtual address leads, as the page tables say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The physical address the virtual address translates to.
    pub phys: u64,
    pub writable: bool,
    pub executable: bool,
    pub user: bool,
}

/// Where the higher half begins: the HHDM (and everything of the kernel's) is at or above it.
pub const HIGHER_HALF: u64 = 0xffff_8000_0000_0000;

/// Page-table questions asked of an address space: the boot self-check asks them of the
/// active tables ([`paging::ActiveTables`] walks CR3); host tests answer them with fakes.
pub trait Translate {
    /// Translates a virtual address, or `None` if it is not mapped.
    fn translate(&self, virt: u64) -> Option<Mapping>;
    /// How many of the 256 lower-half PML4 entries are present.
    fn lower_half_entries(&self) -> usize;
}

/// What [`init`] set up, for the boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Bytes in the usable frames the allocator manages.
    pub usable_bytes: u64,
    /// Frames still free after the heap took its share.
    pub free_frames: u64,
    /// Usable memory-map regions the frame allocator had no room for.
    pub dropped_regions: usize,
    pub heap_start: u64,
    pub heap_size: u64,
}

impl core::fmt::Display for MemoryStats {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} MiB usable in 4 KiB frames, {} frames free, {} KiB heap at {:#x}",
            self.usable_bytes / (1024 * 1024),
            self.free_frames,
            self.heap_size / 1024,
            self.heap_start
        )?;
        if self.dropped_regions > 0 {
            write!(
                f,
                " ({} usable regions dropped: frame table full)",
                self.dropped_regions
            )?;
        }
        Ok(())
    }
}

/// Why [`init`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The HHDM offset is not a page-aligned higher-half address.
    BadHhdmOffset { offset: u64 },
    /// The memory map has no usable frame.
    NoUsableMemory,
    /// The frame allocator found no place for its bitmap.
    FrameBitmap(frames::NoRoomForBitmap),
    /// [`init`] already ran.
    AlreadyInitialised,
    #[cfg(target_os = "none")]
    Heap(heap::HeapError),
}

impl core::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadHhdmOffset { offset } => {
                write!(
                    f,
                    "HHDM offset {offset:#x} is not a page-aligned higher-half address"
                )
            }
            Self::NoUsableMemory => write!(f, "the memory map has no usable 4 KiB frame"),
            Self::FrameBitmap(e) => write!(f, "frame allocator: {e}"),
            Self::AlreadyInitialised => write!(f, "memory is already initialised"),
            #[cfg(target_os = "none")]
            Self::Heap(e) => write!(f, "heap: {e}"),
        }
    }
}

/// The frame allocator, once [`init`] has built it.
#[cfg(target_os = "none")]
static FRAMES: spin::Mutex<Option<frames::FrameAllocator>> = spin::Mutex::new(None);

/// Sets up memory management: paging (through the HHDM at `hhdm_offset`), the frame allocator
/// over `memmap`'s usable entries, and the kernel heap. Call once, after `arch::init` (so a fault
/// here gets a report). `alloc` works only after this returns `Ok`.
#[cfg(target_os = "none")]
pub fn init(
    memmap: &[bootproto::memmap::Entry],
    hhdm_offset: u64,
) -> Result<MemoryStats, MemoryError> {
    if hhdm_offset < HIGHER_HALF || !hhdm_offset.is_multiple_of(frames::FRAME_SIZE) {
        return Err(MemoryError::BadHhdmOffset {
            offset: hhdm_offset,
        });
    }
    let mut slot = FRAMES.lock();
    if slot.is_some() {
        return Err(MemoryError::AlreadyInitialised);
    }
    paging::init(hhdm_offset);
    let mut frames = frames::FrameAllocator::new(memmap, |phys, words| {
        let bitmap = (hhdm_offset + phys) as *mut u64;
        // SAFETY: (1) `words` words at `phys` lie in the frames the allocator has just carved
        // out of a usable memory-map range for its bitmap: it never hands them out, and no one
        // else uses usable memory (the kernel image, its stack and the boot loader's data have
        // other memory types); (2) the HHDM maps all usable memory writable at
        // `hhdm_offset + phys`, and `phys` is a frame address, so the pointer is 8-aligned;
        // (3) zeroing first initialises every word; (4) the only holder of the `'static`
        // slice is the allocator made here, and there is one at a time: the FRAMES lock,
        // held, showed none exists yet, and a failed `init` drops it before another can run.
        unsafe {
            core::ptr::write_bytes(bitmap, 0, words);
            core::slice::from_raw_parts_mut(bitmap, words)
        }
    })
    .map_err(MemoryError::FrameBitmap)?;
    let usable = frames.stats();
    if usable.total_frames == 0 {
        return Err(MemoryError::NoUsableMemory);
    }
    let heap = heap::init(&mut frames).map_err(MemoryError::Heap)?;
    let after = frames.stats();
    *slot = Some(frames);
    Ok(MemoryStats {
        usable_bytes: usable.total_frames * frames::FRAME_SIZE,
        free_frames: after.free_frames,
        dropped_regions: after.dropped_regions,
        heap_start: heap.start,
        heap_size: heap.size,
    })
}

/// Runs `f` with the frame allocator; `None` before [`init`].
#[cfg(target_os = "none")]
pub fn with_frames<R>(f: impl FnOnce(&mut frames::FrameAllocator) -> R) -> Option<R> {
    FRAMES.lock().as_mut().map(f)
}

/// Frames the allocator can hand out now (exact); `None` before [`init`]. Every frame a process
/// used is back once it is gone, so this is the same before and after one runs.
#[cfg(target_os = "none")]
pub fn free_frames() -> Option<u64> {
    with_frames(|f| f.free_frames())
}

/// Whether the physical bytes `start..start + len` lie in entries of type `kind` of the
/// (sorted) memory map `map`, adjacent entries of that type counting as one range (an empty
/// range: whether `start` is in such an entry).
pub fn within_kind(map: &[bootproto::memmap::Entry], kind: u64, start: u64, len: u64) -> bool {
    let Some(end) = start.checked_add(len) else {
        return false;
    };
    let mut covered = start;
    for e in map.iter().filter(|e| e.kind == kind) {
        let Some(e_end) = e.end() else { continue };
        if e.base <= covered && covered < e_end {
            covered = e_end;
            if covered >= end {
                return true;
            }
        }
    }
    false
}

/// A read-only view of memory the boot loader filled (the kernel file, modules), given by
/// its HHDM address. `None` unless the range is in "executable and modules" entries of the
/// memory map `map` (the one [`init`] was given) and every page of it is mapped.
#[cfg(target_os = "none")]
pub fn boot_loader_bytes(
    map: &[bootproto::memmap::Entry],
    virt: u64,
    len: u64,
) -> Option<&'static [u8]> {
    let hhdm = paging::hhdm()?;
    let phys = virt.checked_sub(hhdm)?;
    if !within_kind(map, bootproto::memmap::EXECUTABLE_AND_MODULES, phys, len) {
        return None;
    }
    let end = virt.checked_add(len)?;
    let mut page = virt & !0xfff;
    while page < end {
        paging::translate(page)?;
        page += 0x1000;
    }
    // SAFETY: (1) every page of [virt, virt+len) is mapped (checked above), and `len` bytes
    // fit the address space (`checked_add`); (2) the range is the HHDM view of memory-map
    // entries of type "executable and modules" (checked above): RAM the boot loader filled,
    // which the frame allocator never hands out (it only uses usable memory) and nothing in
    // the kernel writes, so a shared 'static borrow cannot alias a mutable one.
    Some(unsafe { core::slice::from_raw_parts(virt as *const u8, len as usize) })
}

#[cfg(test)]
mod tests {
    use super::within_kind;
    use bootproto::memmap::{Entry, EXECUTABLE_AND_MODULES as EXE, USABLE};

    #[test]
    fn boot_loader_ranges_must_lie_in_their_entries() {
        let map = [
            Entry {
                base: 0x1000,
                length: 0x3000,
                kind: USABLE,
            },
            Entry {
                base: 0x4000,
                length: 0x2000,
                kind: EXE,
            },
            Entry {
                base: 0x6000,
                length: 0x1000,
                kind: EXE,
            },
            Entry {
                base: 0x8000,
                length: 0x1000,
                kind: EXE,
            },
        ];
        assert!(within_kind(&map, EXE, 0x4000, 0x2000));
        assert!(within_kind(&map, EXE, 0x4800, 0x100));
        // Across two adjacent entries of the type.
        assert!(within_kind(&map, EXE, 0x5000, 0x2000));
        // Into a gap, into usable memory, past the end, wrapping around.
        assert!(!within_kind(&map, EXE, 0x6800, 0x1000));
        assert!(!within_kind(&map, EXE, 0x3000, 0x2000));
        assert!(!within_kind(&map, EXE, 0x8800, 0x1000));
        assert!(!within_kind(&map, EXE, u64::MAX - 4, 0x10));
        assert!(!within_kind(&map, EXE, 0x1000, 0x10));
        // Empty ranges: only inside an entry.
        assert!(within_kind(&map, EXE, 0x4000, 0));
        assert!(!within_kind(&map, EXE, 0x7000, 0));
    }
}
