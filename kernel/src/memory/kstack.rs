//! Kernel stacks for tasks: 128 KiB each (a SLOT_SET that verifies a written slot parses its
//! manifest on it; docs/slots.md), in their own higher-half area (PML4 slot 507), with an
//! unmapped guard page below every stack, so an overflow faults (and becomes a double fault on
//! the IST stack) instead of silently overwriting a neighbour.

use core::fmt;

use spin::Mutex;

use super::frames::FRAME_SIZE;
use super::paging::{self, MapError, PageFlags};

/// Where the stack area starts: PML4 slot 507, just below the MMIO window (508).
pub const AREA_START: u64 = 0xffff_fd80_0000_0000;
/// Bytes of one stack.
pub const STACK_SIZE: u64 = 128 * 1024;
/// Virtual bytes per slot: a guard page, the stack, and unused space up to the next slot.
pub const SLOT_SIZE: u64 = 256 * 1024;
/// How many stacks can exist at once.
pub const MAX_STACKS: usize = 1024;

const _: () = assert!(FRAME_SIZE + STACK_SIZE <= SLOT_SIZE);
const _: () = assert!(SLOT_SIZE * MAX_STACKS as u64 <= 1 << 39);

/// Which slots are in use.
static SLOTS: Mutex<[u64; MAX_STACKS / 64]> = Mutex::new([0; MAX_STACKS / 64]);

/// Why a stack could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// All [`MAX_STACKS`] slots are taken.
    NoSlot,
    /// No frame left, or memory is not initialised.
    OutOfFrames,
    /// Mapping a page failed.
    Map(MapError),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSlot => write!(f, "all {MAX_STACKS} kernel stacks are in use"),
            Self::OutOfFrames => write!(f, "out of physical frames for a kernel stack"),
            Self::Map(e) => write!(f, "mapping a kernel stack: {e}"),
        }
    }
}

/// Stacks that share one page table (2 MiB of slots).
pub const SLOTS_PER_TABLE: u64 = (512 * FRAME_SIZE) / SLOT_SIZE;

/// Builds the page tables of the first [`SLOTS_PER_TABLE`] slots, by making a stack and
/// freeing it. Page tables stay once made; with them made up front, processes (while at most
/// [`SLOTS_PER_TABLE`] exist at once) take no frame for kernel page tables, and every frame a
/// process takes comes back when it ends.
///
/// # Errors
/// As [`KernelStack::new`].
pub fn prepare_tables() -> Result<(), StackError> {
    let stack = KernelStack::new()?;
    // SAFETY: the stack was made just now and never switched to: nothing runs on it or
    // refers into it.
    unsafe { stack.free() };
    Ok(())
}

/// A mapped kernel stack. Dropping it without [`KernelStack::free`] leaks it.
#[derive(Debug)]
pub struct KernelStack {
    slot: usize,
}

impl KernelStack {
    /// Maps a fresh (zeroed) stack in a free slot.
    pub fn new() -> Result<Self, StackError> {
        let slot = {
            let mut slots = SLOTS.lock();
            let (word, bit) = slots
                .iter()
                .enumerate()
                .find_map(|(w, bits)| (*bits != u64::MAX).then(|| (w, bits.trailing_ones())))
                .ok_or(StackError::NoSlot)?;
            slots[word] |= 1 << bit;
            word * 64 + bit as usize
        };
        let stack = Self { slot };
        let hhdm = paging::hhdm_offset().ok_or(StackError::OutOfFrames)?;
        let base = stack.bottom();
        for page in 0..STACK_SIZE / FRAME_SIZE {
            let mapped = super::with_frames(|frames| {
                let phys = frames.alloc().ok_or(StackError::OutOfFrames)?;
                // SAFETY: `phys` was just handed out by the allocator (nothing else uses it)
                // and the HHDM maps all usable memory writable.
                unsafe { core::ptr::write_bytes((hhdm + phys) as *mut u8, 0, FRAME_SIZE as usize) };
                paging::map_page(
                    base + page * FRAME_SIZE,
                    phys,
                    PageFlags::KERNEL_DATA,
                    frames,
                )
                .map_err(|e| {
                    // Handed out just above: the allocator takes it back unless its books are
                    // wrong, and then the frame is better leaked than reused.
                    if let Err(e) = frames.free(phys) {
                        log::error!("kernel stack frame {phys:#x} leaked: {e}");
                    }
                    StackError::Map(e)
                })
            });
            match mapped {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    // SAFETY: the stack was never handed out, so nothing runs on it.
                    unsafe { stack.free() };
                    return Err(e);
                }
                None => {
                    // SAFETY: as above.
                    unsafe { stack.free() };
                    return Err(StackError::OutOfFrames);
                }
            }
        }
        Ok(stack)
    }

    /// The lowest address of the stack (the guard page lies just below).
    pub fn bottom(&self) -> u64 {
        AREA_START + self.slot as u64 * SLOT_SIZE + FRAME_SIZE
    }

    /// One past the highest address: the initial stack pointer (16-byte aligned).
    pub fn top(&self) -> u64 {
        self.bottom() + STACK_SIZE
    }

    /// Unmaps the stack, frees its frames and its slot.
    ///
    /// # Safety
    /// Nothing may run on the stack or hold references into it any more.
    pub unsafe fn free(self) {
        let base = self.bottom();
        for page in 0..STACK_SIZE / FRAME_SIZE {
            // SAFETY: the caller guarantees (see above) that the stack is no longer in use,
            // and the pages of this slot belong to this stack alone.
            if let Some(phys) = unsafe { paging::unmap_page(base + page * FRAME_SIZE) } {
                // The stack's pages are frames from the allocator, so this cannot fail; if it
                // does, the frame is leaked rather than the allocator's books corrupted.
                match super::with_frames(|frames| frames.free(phys)) {
                    Some(Ok(())) => {}
                    Some(Err(e)) => log::error!("kernel stack frame {phys:#x} leaked: {e}"),
                    None => log::error!("kernel stack frame {phys:#x} leaked: no frame allocator"),
                }
            }
        }
        SLOTS.lock()[self.slot / 64] &= !(1 << (self.slot % 64));
    }
}
