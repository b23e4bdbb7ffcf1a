//! Page allocations from the firmware, and the arena that holds every structure handed to the
//! kernel (responses, strings, memory-map entries, GDT): bootloader-reclaimable memory.

use core::ptr::NonNull;

use uefi::boot::{self, AllocateType, MemoryType};

use crate::error::StubError;

pub const PAGE: u64 = 4096;

/// The EFI memory type for the kernel image, the kernel file and modules, so the final memory
/// map can call them "executable and modules".
pub fn executable_type() -> MemoryType {
    MemoryType::custom(bootproto::memmap::EFI_EXECUTABLE_AND_MODULES)
}

/// Allocates `pages` zeroed 4 KiB pages of `ty`, identity-mapped while boot services run.
/// Returns the physical address and the memory as a byte slice.
#[allow(
    clippy::mut_from_ref,
    reason = "the slice is fresh firmware memory, unrelated to `what`"
)]
pub fn alloc_pages(
    pages: usize,
    ty: MemoryType,
    what: &'static str,
) -> Result<(u64, &'static mut [u8]), StubError> {
    let ptr: NonNull<u8> =
        boot::allocate_pages(AllocateType::AnyPages, ty, pages.max(1)).map_err(|e| {
            StubError::OutOfMemory {
                what,
                status: e.status(),
            }
        })?;
    let len = pages.max(1) * PAGE as usize;
    // SAFETY: (1) the firmware just gave us `len` bytes at `ptr`, exclusively ours and never
    // freed, so a 'static exclusive slice is sound; (2) while boot services run, UEFI
    // identity-maps memory, so the physical address is also a valid pointer.
    let bytes = unsafe { core::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
    bytes.fill(0);
    Ok((ptr.as_ptr() as u64, bytes))
}

/// A bump allocator over bootloader-reclaimable pages. Offsets are turned into the HHDM
/// addresses the kernel will see with [`Arena::virt`].
pub struct Arena {
    bytes: &'static mut [u8],
    phys: u64,
    used: usize,
    hhdm: u64,
}

impl Arena {
    pub fn new(pages: usize, hhdm: u64) -> Result<Self, StubError> {
        let (phys, bytes) = alloc_pages(pages, MemoryType::LOADER_DATA, "boot information")?;
        Ok(Self {
            bytes,
            phys,
            used: 0,
            hhdm,
        })
    }

    /// Reserves `size` bytes aligned to `align`; returns the offset.
    pub fn alloc(&mut self, size: usize, align: usize) -> Result<usize, StubError> {
        let start = self.used.next_multiple_of(align.max(1));
        let end = start.checked_add(size).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or(StubError::Capacity {
            what: "boot information arena",
        })?;
        self.used = end;
        Ok(start)
    }

    /// The kernel-visible (HHDM) address of an offset.
    pub fn virt(&self, offset: usize) -> u64 {
        self.hhdm + self.phys + offset as u64
    }

    pub fn put_u64(&mut self, offset: usize, value: u64) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    pub fn put_u32(&mut self, offset: usize, value: u32) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    pub fn put_u16(&mut self, offset: usize, value: u16) {
        self.put_bytes(offset, &value.to_le_bytes());
    }

    pub fn put_bytes(&mut self, offset: usize, data: &[u8]) {
        if let Some(dst) = self.bytes.get_mut(offset..offset + data.len()) {
            dst.copy_from_slice(data);
        }
    }

    /// Stores a NUL-terminated copy of `s`; returns its HHDM address.
    pub fn put_cstr(&mut self, s: &str) -> Result<u64, StubError> {
        let off = self.alloc(s.len() + 1, 1)?;
        self.put_bytes(off, s.as_bytes());
        Ok(self.virt(off))
    }

    /// Allocates a zeroed record of `words` u64s; returns its offset.
    pub fn record(&mut self, words: usize) -> Result<usize, StubError> {
        self.alloc(words * 8, 16)
    }
}
