//! Memory for the screen: the boot framebuffer as a byte slice (once), and zeroed RAM for its
//! shadow copy, taken from the frame allocator (not the kernel heap) and kept for good.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use super::frames::FRAME_SIZE;
use super::paging;

/// Why [`framebuffer_bytes`] gave no slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramebufferMemoryError {
    /// Memory is not initialised.
    NotInitialised,
    /// The address is not in the HHDM, or the range overflows.
    NotInHhdm { virt: u64 },
    /// The range is not inside framebuffer entries of the memory map.
    NotFramebufferMemory { phys: u64, len: u64 },
    /// A page of the range is not mapped writable.
    NotMapped { virt: u64 },
    /// The framebuffer was already handed out.
    AlreadyTaken,
}

impl fmt::Display for FramebufferMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotInitialised => write!(f, "memory is not initialised"),
            Self::NotInHhdm { virt } => write!(f, "address {virt:#x} is not in the HHDM"),
            Self::NotFramebufferMemory { phys, len } => write!(
                f,
                "{len:#x} bytes at physical {phys:#x} are not a framebuffer in the memory map"
            ),
            Self::NotMapped { virt } => write!(f, "page {virt:#x} is not mapped writable"),
            Self::AlreadyTaken => write!(f, "the framebuffer is already in use"),
        }
    }
}

/// Set once the framebuffer has been handed out.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The framebuffer at HHDM address `virt`, `len` bytes, as the one mutable slice to it: checked
/// to lie in framebuffer entries of `map` (the memory map [`super::init`] was given) and to be
/// mapped writable page by page. Only the first successful call gets it.
pub fn framebuffer_bytes(
    map: &[bootproto::memmap::Entry],
    virt: u64,
    len: u64,
) -> Result<&'static mut [u8], FramebufferMemoryError> {
    let hhdm = paging::hhdm().ok_or(FramebufferMemoryError::NotInitialised)?;
    let bad = FramebufferMemoryError::NotInHhdm { virt };
    let phys = virt.checked_sub(hhdm).ok_or(bad)?;
    let end = virt.checked_add(len).ok_or(bad)?;
    if !super::within_kind(map, bootproto::memmap::FRAMEBUFFER, phys, len) {
        return Err(FramebufferMemoryError::NotFramebufferMemory { phys, len });
    }
    let mut page = virt & !(FRAME_SIZE - 1);
    while page < end {
        if !paging::translate(page).is_some_and(|m| m.writable) {
            return Err(FramebufferMemoryError::NotMapped { virt: page });
        }
        page += FRAME_SIZE;
    }
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(FramebufferMemoryError::AlreadyTaken);
    }
    // SAFETY: (1) every page of [virt, virt+len) is mapped writable (checked above) and the
    // range does not wrap (`checked_add`); (2) it is the HHDM view of framebuffer entries of the
    // memory map (checked above): device memory that the frame allocator never hands out (it
    // manages usable memory only) and that nothing else in the kernel touches; (3) `TAKEN`
    // makes this the only slice ever made of it, so the `'static` mutable borrow is unique;
    // (4) any byte value is valid for `u8`.
    Ok(unsafe { core::slice::from_raw_parts_mut(virt as *mut u8, len as usize) })
}

/// `len` bytes of zeroed RAM for good (the screen's shadow copy): physically contiguous
/// frames from the frame allocator, reached through the HHDM. `None` if memory is not
/// initialised, `len` is 0, or no run that long is free.
pub fn permanent_bytes(len: usize) -> Option<&'static mut [u8]> {
    let hhdm = paging::hhdm()?;
    let frames = (len as u64).div_ceil(FRAME_SIZE);
    let phys = super::with_frames(|f| f.alloc_contiguous(frames))??;
    let virt = hhdm + phys;
    // SAFETY: (1) the allocator just handed out these frames and they are never given back,
    // so nothing else uses them and the `'static` mutable borrow is unique; (2) they are usable
    // memory, which the HHDM maps writable at `hhdm + phys`; (3) `len` bytes fit in
    // `frames * FRAME_SIZE`, and the run lies inside one usable range, so it does not wrap;
    // (4) `write_bytes` initialises every byte before the slice is made.
    unsafe {
        core::ptr::write_bytes(virt as *mut u8, 0, len);
        Some(core::slice::from_raw_parts_mut(virt as *mut u8, len))
    }
}
