//! Placing the kernel's PT_LOAD segments in memory, and keeping files (the kernel file and
//! modules) where the kernel can find them.

use bootproto::elf::{self, Executable, Policy};

use crate::error::StubError;
use crate::memory::{alloc_pages, executable_type, PAGE};

/// The kernel laid out in physical memory exactly as it will appear at its link addresses.
pub struct LoadedKernel {
    pub exe: Executable,
    /// Lowest (page-aligned) virtual address and the physical address it lands at.
    pub virt_base: u64,
    pub phys_base: u64,
    /// The whole span `[virt_base, virt_end)`, for scanning requests and writing responses.
    pub image: &'static mut [u8],
}

impl LoadedKernel {
    /// Physical address of a virtual address inside the span.
    pub fn phys_of(&self, virt: u64) -> u64 {
        self.phys_base + (virt - self.virt_base)
    }
}

/// Validates the ELF and copies its segments into one physically contiguous block.
pub fn load_kernel(file: &[u8]) -> Result<LoadedKernel, StubError> {
    let exe = elf::parse(file, &Policy::KERNEL).map_err(StubError::Elf)?;
    let (lo, hi) = exe.span();
    let pages = ((hi - lo) / PAGE) as usize;
    let (phys_base, image) = alloc_pages(pages, executable_type(), "the kernel image")?;
    for seg in &exe.segments {
        // parse() checked that every file range lies inside `file` and every segment inside
        // the span, so these slices are in bounds; `get` keeps it so even if that changed.
        let src = file
            .get(seg.file_offset as usize..(seg.file_offset + seg.file_size) as usize)
            .ok_or(StubError::Capacity {
                what: "ELF segment file range",
            })?;
        let at = (seg.vaddr - lo) as usize;
        let dst = image
            .get_mut(at..at + src.len())
            .ok_or(StubError::Capacity {
                what: "ELF segment placement",
            })?;
        dst.copy_from_slice(src);
    }
    Ok(LoadedKernel {
        exe,
        virt_base: lo,
        phys_base,
        image,
    })
}
