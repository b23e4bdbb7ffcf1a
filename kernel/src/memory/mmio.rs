//! The MMIO window: device registers (PCI BARs) mapped uncached into a dedicated kernel range.
//!
//! The HHDM covers RAM only, so device memory gets its own mappings here: [`map`] maps a
//! physical range page by page (present, writable, no-execute, PCD|PWT = uncacheable) at the
//! next free place of the window and remembers it; asking again for a range inside one already
//! mapped answers the same virtual address without mapping anything. Mappings are never
//! removed (devices live as long as the kernel).

use core::fmt;

use spin::Mutex;

use super::frames::FRAME_SIZE;
use super::pagetable::ADDRESS_MASK;
use super::paging::{self, Caching, MapError, PageFlags};

/// Where the window starts: PML4 slot 508, below the heap (slot 510) and the kernel (511), far
/// above the HHDM.
pub const WINDOW_START: u64 = 0xffff_fe00_0000_0000;
/// The window's size: one PML4 slot (512 GiB).
pub const WINDOW_SIZE: u64 = 1 << 39;
/// How many distinct ranges the window remembers.
pub const MAX_REGIONS: usize = 64;

#[derive(Clone, Copy)]
struct Region {
    phys: u64,
    end: u64,
    virt: u64,
}

struct Window {
    /// The next unused virtual address (a one-page unmapped gap separates regions).
    next: u64,
    regions: [Region; MAX_REGIONS],
    len: usize,
}

static WINDOW: Mutex<Window> = Mutex::new(Window {
    next: WINDOW_START,
    regions: [Region {
        phys: 0,
        end: 0,
        virt: 0,
    }; MAX_REGIONS],
    len: 0,
});

/// Why [`map`] did not map a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmioError {
    /// [`super::init`] has not run.
    NotInitialised,
    /// The range wraps around or lies beyond the 52-bit physical address space.
    BadRange { phys: u64, size: u64 },
    /// The window has no room for `size` more bytes.
    WindowFull { size: u64 },
    /// The table of [`MAX_REGIONS`] mapped ranges is full.
    TooManyRegions,
    /// Mapping a page failed (e.g. no frame for a page table).
    Map(MapError),
}

impl fmt::Display for MmioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialised => write!(f, "memory is not initialised"),
            Self::BadRange { phys, size } => {
                write!(f, "{size:#x} bytes at {phys:#x} is not a physical range")
            }
            Self::WindowFull { size } => {
                write!(f, "the MMIO window has no room for {size:#x} more bytes")
            }
            Self::TooManyRegions => write!(f, "the MMIO window holds {MAX_REGIONS} ranges already"),
            Self::Map(e) => write!(f, "mapping MMIO: {e}"),
        }
    }
}

/// The virtual address of physical `phys` if `[phys, phys + size)` is already mapped.
pub fn lookup(phys: u64, size: u64) -> Option<u64> {
    let end = phys.checked_add(size.max(1))?;
    let w = WINDOW.lock();
    w.regions[..w.len]
        .iter()
        .find(|r| r.phys <= phys && end <= r.end)
        .map(|r| r.virt + (phys - r.phys))
}

/// Maps `[phys, phys + size)` (rounded out to pages) uncached, writable and not executable, and
/// returns the virtual address of `phys`. A range inside an already mapped one reuses it.
pub fn map(phys: u64, size: u64) -> Result<u64, MmioError> {
    let bad = MmioError::BadRange { phys, size };
    let end = phys.checked_add(size.max(1)).ok_or(bad)?;
    let start = phys & !(FRAME_SIZE - 1);
    let end = end.checked_next_multiple_of(FRAME_SIZE).ok_or(bad)?;
    if (end - FRAME_SIZE) & !ADDRESS_MASK != 0 {
        return Err(bad);
    }
    let mut w = WINDOW.lock();
    if let Some(r) = w.regions[..w.len]
        .iter()
        .find(|r| r.phys <= phys && end <= r.end)
    {
        return Ok(r.virt + (phys - r.phys));
    }
    if w.len == MAX_REGIONS {
        return Err(MmioError::TooManyRegions);
    }
    let bytes = end - start;
    let virt = w.next;
    if WINDOW_START + WINDOW_SIZE - virt < bytes + FRAME_SIZE {
        return Err(MmioError::WindowFull { size: bytes });
    }
    // Whatever happens below, this virtual range is never handed out again: a partial failure
    // leaves its pages mapped to the device, which is harmless.
    w.next = virt + bytes + FRAME_SIZE;
    super::with_frames(|frames| {
        (0..bytes / FRAME_SIZE).try_for_each(|i| {
            paging::map_page_with(
                virt + i * FRAME_SIZE,
                start + i * FRAME_SIZE,
                PageFlags::KERNEL_DATA,
                Caching::Uncached,
                frames,
            )
        })
    })
    .ok_or(MmioError::NotInitialised)?
    .map_err(MmioError::Map)?;
    let len = w.len;
    w.regions[len] = Region {
        phys: start,
        end,
        virt,
    };
    w.len += 1;
    Ok(virt + (phys - start))
}
