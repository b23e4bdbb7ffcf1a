//! The kernel's implementation of `virtio_drivers::Hal`: DMA memory from the frame allocator,
//! device registers through the MMIO window, and buffer sharing.
//!
//! Besides `arch` and `memory`, this is the only place in the kernel with `unsafe` code; the
//! memory work itself is done (safely, from here) by `memory::dma` and `memory::mmio`.
//!
//! - `dma_alloc`: physically contiguous zeroed frames (`FrameAllocator::alloc_contiguous`),
//!   addressed through the HHDM; `dma_dealloc` returns them as one run.
//! - `mmio_phys_to_virt`: `memory::mmio::map` (uncached, no-execute), which answers from its
//!   table when the range is already mapped. `devices::probe` maps every memory BAR up front, so
//!   a failure is reported there as an error; one that still happens here panics, because the
//!   trait gives no way to fail.
//! - `share`: a buffer whose pages are physically contiguous (always true for one within a page,
//!   for the stack and for the heap in practice, whose frames come from one bump run) is given
//!   to the device as is (zero-copy: DMA is cache-coherent on x86). Otherwise the data goes
//!   through a bounce buffer of fresh DMA frames (copied in for driver-to-device, copied back in
//!   `unshare` for device-to-driver), freed in `unshare`. Out of memory for a bounce buffer
//!   panics (the trait gives no way to fail); `VirtioBlock` caps requests at 256 KiB, so a
//!   bounce never needs more than 65 frames.
#![allow(unsafe_code)]

use core::ptr::NonNull;

use drivers::virtio_blk::{BufferDirection, Hal, PhysAddr};

use crate::memory::{dma, frames::FRAME_SIZE, mmio, paging};

/// The HAL the kernel gives `virtio-drivers`.
pub struct KernelHal;

fn pages_for(len: usize) -> u64 {
    (len as u64).div_ceil(FRAME_SIZE).max(1)
}

// SAFETY: the implementation duties hold: (1) `dma_alloc` returns HHDM pointers to zeroed frames
// that the frame allocator handed out exclusively (so they alias nothing until `dma_dealloc`
// returns them) and that are page aligned; (2) `mmio_phys_to_virt` returns addresses in the
// MMIO window, which only device memory is mapped into and which nothing else references;
// (3) `share` gives the device either the buffer's own physical pages (contiguous, checked) or a
// private bounce buffer, and `unshare` copies back and frees exactly what `share` set up.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma::alloc_zeroed(pages as u64) {
            Some(buf) => match NonNull::new(buf.virt as *mut u8) {
                Some(ptr) => (buf.phys, ptr),
                None => (0, NonNull::dangling()),
            },
            None => {
                log::warn!("virtio: no {pages} contiguous free frames for DMA");
                // virtio-drivers treats physical address 0 as an allocation failure.
                (0, NonNull::dangling())
            }
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match dma::free(paddr, pages as u64) {
            Ok(()) => 0,
            Err(e) => {
                log::error!("virtio: freeing {pages} DMA frames at {paddr:#x}: {e}");
                -1
            }
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        match mmio::map(paddr, size as u64) {
            Ok(virt) => NonNull::new(virt as *mut u8)
                .unwrap_or_else(|| panic!("MMIO window returned a null address")),
            Err(e) => panic!("virtio: cannot map {size:#x} bytes of MMIO at {paddr:#x}: {e}"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        if let Some(phys) = dma::contiguous_phys(virt, len as u64) {
            return phys;
        }
        let pages = pages_for(len);
        BOUNCED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let Some(bounce) = dma::alloc_zeroed(pages) else {
            panic!("virtio: no {pages} contiguous free frames to bounce a {len}-byte buffer");
        };
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: (1) the caller guarantees `buffer` is valid for reads of `len` bytes and
            // not used by anyone else during this call; (2) the bounce buffer was just allocated
            // with at least `len` bytes, HHDM-mapped, so it cannot overlap `buffer`.
            unsafe {
                core::ptr::copy_nonoverlapping(virt as *const u8, bounce.virt as *mut u8, len)
            };
        }
        bounce.phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let virt = buffer.as_ptr() as *mut u8 as u64;
        let len = buffer.len();
        // Shared in place: `share` returned the buffer's own physical address. A bounce
        // buffer's frames are never the (in-use) buffer's own.
        if paging::translate(virt).map(|m| m.phys) == Some(paddr) {
            return;
        }
        let Some(hhdm) = paging::hhdm_offset() else {
            return;
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: (1) `paddr` is the bounce buffer `share` allocated for this buffer (the
            // caller passes back what `share` returned), at least `len` bytes, HHDM-mapped;
            // (2) the caller guarantees `buffer` is valid for writes of `len` bytes and not used
            // by anyone else during this call; (3) the two do not overlap.
            unsafe {
                core::ptr::copy_nonoverlapping((hhdm + paddr) as *const u8, virt as *mut u8, len)
            };
        }
        if let Err(e) = dma::free(paddr, pages_for(len)) {
            log::error!("virtio: freeing the bounce buffer at {paddr:#x}: {e}");
        }
    }
}

/// How many buffers `share` had to bounce (not physically contiguous), for the log.
pub static BOUNCED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The PCI configuration mechanism #1 over the real ports.
pub fn pci_config() -> drivers::pci::PortConfig<crate::arch::port::Ports> {
    // SAFETY: the handle goes only into `PortConfig`, which touches the configuration ports
    // 0xCF8 and 0xCFC and nothing else; PCI configuration is used from one CPU, never from an
    // interrupt handler, so its address/data pairs are not interleaved.
    let ports = unsafe { crate::arch::port::Ports::new() };
    drivers::pci::PortConfig::new(ports)
}
