//! Process address spaces: a PML4 of its own whose lower half holds only the process's pages
//! (mapped with the U bit) and whose upper half is the kernel's, shared entry by entry.
//!
//! User memory is read and written through the HHDM after walking the process's tables, so the
//! kernel never dereferences a user pointer: an access is allowed only if every page it touches
//! is present, user-accessible and (for kernel writes) writable in that address space.

use core::fmt;

use super::frames::{FrameAllocator, FRAME_SIZE};
use super::pagetable::{self, ADDRESS_MASK, BORROWED, HUGE, PRESENT};
use super::paging::{self, Caching, MapError, PageFlags};
use super::Mapping;

/// One past the last user address (the start of the kernel's half).
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// Why a user-memory access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserAccessError {
    /// The range wraps around or reaches into the kernel's half.
    OutOfUserHalf { addr: u64, len: u64 },
    /// A page of the range is not mapped for the process with the access needed.
    NotAccessible { addr: u64 },
}

impl fmt::Display for UserAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfUserHalf { addr, len } => {
                write!(f, "{len} bytes at {addr:#x} are not in the user half")
            }
            Self::NotAccessible { addr } => {
                write!(f, "{addr:#x} is not mapped for the process")
            }
        }
    }
}

/// A process address space. Dropping it without [`AddressSpace::destroy`] leaks its frames.
#[derive(Debug)]
pub struct AddressSpace {
    /// Physical address of the PML4.
    pml4: u64,
}

impl AddressSpace {
    /// A fresh address space: an empty lower half and the kernel's upper half (entries
    /// 256..512 of the kernel's PML4, which `paging::populate_upper_half` made complete).
    pub fn new(frames: &mut FrameAllocator) -> Result<Self, MapError> {
        let hhdm = paging::hhdm().ok_or(MapError::NotInitialised)?;
        let kernel = paging::kernel_root().ok_or(MapError::NotInitialised)?;
        let pml4 = frames.alloc().ok_or(MapError::OutOfFrames)?;
        // SAFETY: `pml4` is a usable frame just handed out by the allocator, so nothing else
        // uses it, and the HHDM maps all usable memory writable.
        unsafe { core::ptr::write_bytes((hhdm + pml4) as *mut u8, 0, FRAME_SIZE as usize) };
        for i in 256..512u64 {
            let entry = paging::read_entry(hhdm, kernel + i * 8);
            // SAFETY: (1) the entry belongs to the new PML4, which no CPU uses yet and which
            // the HHDM maps; (2) it was zero, so no mapping anything relies on changes; (3) the
            // copied value is a kernel PML4 entry, so the new tables see exactly the kernel's
            // upper half (MAP_LOCK is not needed: the table is not reachable by anyone else).
            unsafe { paging::write_entry(hhdm, pml4 + i * 8, entry) };
        }
        Ok(Self { pml4 })
    }

    /// The physical address of the PML4 (what CR3 gets).
    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// Maps the user page at `virt` (lower half) to the frame `phys`, which the address space
    /// then owns (it is freed by [`AddressSpace::destroy`]).
    pub fn map(
        &mut self,
        virt: u64,
        phys: u64,
        flags: PageFlags,
        frames: &mut FrameAllocator,
    ) -> Result<(), MapError> {
        self.map_user(virt, phys, flags, 0, frames)
    }

    /// Maps the user page at `virt` to `phys`, memory the address space does not own (the
    /// framebuffer): [`AddressSpace::destroy`] leaves it. Only page tables come from `frames`.
    pub fn map_borrowed(
        &mut self,
        virt: u64,
        phys: u64,
        flags: PageFlags,
        frames: &mut FrameAllocator,
    ) -> Result<(), MapError> {
        self.map_user(virt, phys, flags, BORROWED, frames)
    }

    /// [`map`](Self::map) and [`map_borrowed`](Self::map_borrowed): a user page in the lower
    /// half, with the page-table bits `extra`.
    fn map_user(
        &mut self,
        virt: u64,
        phys: u64,
        flags: PageFlags,
        extra: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), MapError> {
        if virt >= USER_END {
            return Err(MapError::NonCanonical { virt });
        }
        let flags = PageFlags {
            user: true,
            ..flags
        };
        paging::map_in(
            self.pml4,
            virt,
            phys,
            flags,
            Caching::WriteBack,
            extra,
            frames,
        )
    }

    /// Allocates a frame, zeroes it, lets `fill` write its 4096 bytes, and maps it at `virt`
    /// (which the address space then owns). On failure the frame goes back.
    pub fn map_new_page(
        &mut self,
        virt: u64,
        flags: PageFlags,
        fill: impl FnOnce(&mut [u8]),
        frames: &mut FrameAllocator,
    ) -> Result<(), MapError> {
        let hhdm = paging::hhdm().ok_or(MapError::NotInitialised)?;
        let phys = frames.alloc().ok_or(MapError::OutOfFrames)?;
        // SAFETY: (1) `phys` is a usable frame just handed out by the allocator, mapped
        // writable by the HHDM at `hhdm + phys`; (2) it is not mapped anywhere else yet, so
        // this is the only reference to its bytes while `fill` runs; (3) bytes have no
        // invalid values.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut((hhdm + phys) as *mut u8, FRAME_SIZE as usize)
        };
        bytes.fill(0);
        fill(bytes);
        self.map(virt, phys, flags, frames).inspect_err(|_| {
            // It was handed out just above, so the allocator takes it back; if its books say
            // otherwise, they are wrong and the frame is better leaked than reused.
            if let Err(e) = frames.free(phys) {
                log::error!("frame {phys:#x} of a failed user mapping leaked: {e}");
            }
        })
    }

    /// Where `virt` leads in this address space.
    pub fn translate(&self, virt: u64) -> Option<Mapping> {
        let hhdm = paging::hhdm()?;
        pagetable::translate_with(self.pml4, virt, |phys| paging::read_entry(hhdm, phys))
    }

    /// Checks `len` bytes at `addr` page by page: user half, present, user, and writable if
    /// `write`. Calls `each(hhdm_address, len)` for every piece within one page, in order.
    fn walk(
        &self,
        addr: u64,
        len: u64,
        write: bool,
        mut each: impl FnMut(u64, usize),
    ) -> Result<(), UserAccessError> {
        let out = UserAccessError::OutOfUserHalf { addr, len };
        let end = addr.checked_add(len).ok_or(out)?;
        if end > USER_END {
            return Err(out);
        }
        let hhdm = paging::hhdm().ok_or(UserAccessError::NotAccessible { addr })?;
        // Check everything first, so a refused access has no partial effect.
        let mut page = addr & !(FRAME_SIZE - 1);
        while page < end {
            let ok = self
                .translate(page)
                .is_some_and(|m| m.user && (m.writable || !write));
            if !ok {
                return Err(UserAccessError::NotAccessible {
                    addr: page.max(addr),
                });
            }
            page += FRAME_SIZE;
        }
        let mut at = addr;
        while at < end {
            let in_page = (FRAME_SIZE - at % FRAME_SIZE).min(end - at);
            // Checked present above; the tables cannot change meanwhile (the process is not
            // running while the kernel serves it on this CPU).
            let phys = self
                .translate(at)
                .ok_or(UserAccessError::NotAccessible { addr: at })?
                .phys;
            each(hhdm + phys, in_page as usize);
            at += in_page;
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes from user address `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), UserAccessError> {
        let mut done = 0;
        self.walk(addr, buf.len() as u64, false, |src, n| {
            // SAFETY: (1) `src` is the HHDM address of a present user frame of this address
            // space, and `n` bytes from it stay inside that frame (walk splits at pages);
            // (2) `done + n <= buf.len()` since the pieces add up to the walked length; (3) a
            // user frame never overlaps `buf`, a kernel buffer; (4) the data is plain bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(src as *const u8, buf.as_mut_ptr().add(done), n)
            };
            done += n;
        })
    }

    /// Checks, without writing, that [`AddressSpace::write`] of `len` bytes at `addr` would be
    /// allowed.
    pub fn check_writable(&self, addr: u64, len: u64) -> Result<(), UserAccessError> {
        self.walk(addr, len, true, |_, _| {})
    }

    /// Copies `data` to user address `addr`; every page must be writable for the process.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), UserAccessError> {
        let mut done = 0;
        self.walk(addr, data.len() as u64, true, |dst, n| {
            // SAFETY: as in `read`, with the roles swapped: `dst` is a present, user-writable
            // frame of this address space (no kernel object lives there), `n` bytes stay in it
            // and in `data`.
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr().add(done), dst as *mut u8, n) };
            done += n;
        })
    }

    /// Frees every frame of the lower half (pages and page tables) and the PML4 itself;
    /// returns how many frames went back to `frames`. The address space must not be active
    /// (CR3) on any CPU.
    pub fn destroy(self, frames: &mut FrameAllocator) -> u64 {
        let Some(hhdm) = paging::hhdm() else {
            return 0;
        };
        let (mut freed, mut refused) = (0, 0);
        let mut first_error = None;
        let mut free = |phys: u64, frames: &mut FrameAllocator| match frames.free(phys) {
            Ok(()) => freed += 1,
            // Cannot happen (every frame here came from the allocator, and only this address
            // space owns it); if it does, the frame is leaked rather than the books corrupted.
            Err(e) => {
                refused += 1;
                first_error.get_or_insert(e);
            }
        };
        free_table(hhdm, self.pml4, 4, 0..256, frames, &mut free);
        free(self.pml4, frames);
        if let Some(e) = first_error {
            log::error!(
                "address space {:#x}: the frame allocator refused {refused} of its frames (first: {e})",
                self.pml4
            );
        }
        freed
    }
}

/// Frees what the entries `range` of the table at `table` (a level-`level` table) lead to:
/// lower tables recursively, then pages.
fn free_table(
    hhdm: u64,
    table: u64,
    level: u32,
    range: core::ops::Range<u64>,
    frames: &mut FrameAllocator,
    free: &mut impl FnMut(u64, &mut FrameAllocator),
) {
    for i in range {
        let entry = paging::read_entry(hhdm, table + i * 8);
        if entry & PRESENT == 0 {
            continue;
        }
        let next = entry & ADDRESS_MASK;
        if level > 1 && entry & HUGE == 0 {
            free_table(hhdm, next, level - 1, 0..512, frames, free);
        } else if level == 1 && entry & BORROWED != 0 {
            // Lent, not owned (`map_borrowed`).
            continue;
        }
        // User pages and tables are all frames from the allocator (huge pages never appear in
        // the lower half: `map_in` only maps 4 KiB pages).
        free(next, frames);
    }
}
