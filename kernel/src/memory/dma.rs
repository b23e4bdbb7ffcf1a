//! Memory for devices to read and write (DMA): physically contiguous, zeroed frames from the
//! frame allocator, reached by the CPU through the HHDM.
//!
//! The HHDM maps RAM write-back; x86 DMA is cache-coherent, so no flushing is needed.

use super::frames::{FreeError, FRAME_SIZE};
use super::paging;

/// Contiguous DMA memory: `pages` frames at physical `phys`, at `virt` in the HHDM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaBuffer {
    pub phys: u64,
    pub virt: u64,
    pub pages: u64,
}

/// `pages` zeroed, physically contiguous frames, or `None` if memory is not initialised, `pages`
/// is 0, or no such run is free.
pub fn alloc_zeroed(pages: u64) -> Option<DmaBuffer> {
    let hhdm = paging::hhdm_offset()?;
    let phys = super::with_frames(|f| f.alloc_contiguous(pages))??;
    let virt = hhdm + phys;
    // SAFETY: (1) the allocator just handed out these `pages` frames, so nothing else uses
    // them; (2) they are usable memory, which the HHDM maps writable at `hhdm + phys`;
    // (3) `pages * FRAME_SIZE` bytes fit (the run lies inside one usable range).
    unsafe { core::ptr::write_bytes(virt as *mut u8, 0, (pages * FRAME_SIZE) as usize) };
    Some(DmaBuffer { phys, virt, pages })
}

/// Like [`alloc_zeroed`], for a device that reaches only physical addresses below `limit`
/// (e.g. 4 GiB for 32-bit DMA): `None` when the run found ends above it. The frame allocator
/// hands out the lowest free run that fits, so no lower run exists then.
pub fn alloc_zeroed_below(pages: u64, limit: u64) -> Option<DmaBuffer> {
    let buf = alloc_zeroed(pages)?;
    if buf.phys + pages * FRAME_SIZE <= limit {
        return Some(buf);
    }
    if let Err(e) = free(buf.phys, pages) {
        log::error!("dma: giving back {pages} frames at {:#x}: {e}", buf.phys);
    }
    None
}

/// Returns memory from [`alloc_zeroed`] or [`alloc_zeroed_below`].
///
/// # Errors
/// What [`super::frames::FrameAllocator::free_contiguous`] says when the range was not
/// allocated memory (nothing is freed then), or [`FreeError::NotOwned`] before memory is
/// initialised.
pub fn free(phys: u64, pages: u64) -> Result<(), FreeError> {
    super::with_frames(|f| f.free_contiguous(phys, pages))
        .unwrap_or(Err(FreeError::NotOwned { phys }))
}

/// The physical address of `len` bytes at kernel virtual address `virt`, if every page of the
/// range is mapped and the pages are physically contiguous (so a device can be given the range
/// as one address).
pub fn contiguous_phys(virt: u64, len: u64) -> Option<u64> {
    let first = paging::translate(virt)?.phys;
    let end = virt.checked_add(len.max(1))?;
    let mut page = (virt & !(FRAME_SIZE - 1)) + FRAME_SIZE;
    while page < end {
        if paging::translate(page)?.phys != first + (page - virt) {
            return None;
        }
        page += FRAME_SIZE;
    }
    Some(first)
}
