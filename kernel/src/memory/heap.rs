//! The kernel heap: 4 MiB of fresh frames mapped at a fixed higher-half address, behind `linked_list_allocator`.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use linked_list_allocator::LockedHeap;

use super::frames::{FrameAllocator, FRAME_SIZE};
use super::paging::{self, MapError, PageFlags};

/// Where the heap starts: PML4 slot 510, below the kernel image (slot 511) and far above the
/// HHDM (which starts at slot 256 and would need ~127 TiB of RAM to reach here).
pub const HEAP_START: u64 = 0xffff_ff00_0000_0000;
/// The heap's size.
pub const HEAP_SIZE: u64 = 4 * 1024 * 1024;

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

static STARTED: AtomicBool = AtomicBool::new(false);

/// Where the heap is, for the boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapStats {
    pub start: u64,
    pub size: u64,
}

/// Why the heap could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapError {
    /// [`init`] already ran.
    AlreadyInitialised,
    /// The frame allocator ran dry after mapping `mapped_pages` pages.
    OutOfFrames { mapped_pages: u64 },
    /// A page could not be mapped.
    Map(MapError),
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialised => write!(f, "the heap is already initialised"),
            Self::OutOfFrames { mapped_pages } => write!(
                f,
                "out of physical frames after mapping {mapped_pages} of {} heap pages",
                HEAP_SIZE / FRAME_SIZE
            ),
            Self::Map(e) => write!(f, "mapping the heap: {e}"),
        }
    }
}

/// Maps [`HEAP_SIZE`] bytes at [`HEAP_START`] (writable, not executable) with frames from
/// `frames` and hands them to the global allocator. Needs [`paging::init`] first. Runs once.
pub fn init(frames: &mut FrameAllocator) -> Result<HeapStats, HeapError> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Err(HeapError::AlreadyInitialised);
    }
    // One physically contiguous run when there is one: then any heap buffer is contiguous too,
    // and devices can DMA straight into it (see `devices::hal`). Otherwise frame by frame.
    let pages = HEAP_SIZE / FRAME_SIZE;
    let run = frames.alloc_contiguous(pages);
    for page in 0..pages {
        let phys = match run {
            Some(base) => base + page * FRAME_SIZE,
            None => frames
                .alloc()
                .ok_or(HeapError::OutOfFrames { mapped_pages: page })?,
        };
        paging::map_page(
            HEAP_START + page * FRAME_SIZE,
            phys,
            PageFlags::KERNEL_DATA,
            frames,
        )
        .map_err(HeapError::Map)?;
    }
    // SAFETY: (1) [HEAP_START, HEAP_START + HEAP_SIZE) was just mapped writable, page by page,
    // to frames nothing else owns (map_page refuses to overwrite, so no other mapping was
    // there); (2) nothing else ever uses this range; (3) `STARTED` makes this run once, so the
    // allocator is initialised only once.
    unsafe {
        ALLOCATOR
            .lock()
            .init(HEAP_START as *mut u8, HEAP_SIZE as usize)
    };
    Ok(HeapStats {
        start: HEAP_START,
        size: HEAP_SIZE,
    })
}

/// Bytes currently allocated and still free in the heap.
pub fn usage() -> (usize, usize) {
    let heap = ALLOCATOR.lock();
    (heap.used(), heap.free())
}
