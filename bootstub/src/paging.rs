//! Building the kernel's 4-level page tables while the firmware still identity-maps memory:
//! the HHDM, the kernel's segments with their own permissions, and a throw-away copy with the
//! hand-off code identity-mapped (the final tables map nothing in the lower half).

use uefi::boot::MemoryType;

use crate::error::StubError;
use crate::memory::{alloc_pages, PAGE};

pub const PRESENT: u64 = 1;
pub const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
pub const NO_EXECUTE: u64 = 1 << 63;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const TWO_MIB: u64 = 2 * 1024 * 1024;

/// A set of page tables in bootloader-reclaimable memory, addressed physically.
pub struct PageTables {
    pub pml4: u64,
    /// How many table pages were allocated (for the log).
    pub tables: usize,
}

fn table(phys: u64) -> &'static mut [u64; 512] {
    // SAFETY: (1) `phys` is always a page this module allocated with `new_table` (zeroed,
    // page-aligned, owned by these tables only); (2) boot services are still running, so the
    // firmware's identity map makes the physical address a valid pointer; (3) the stub is
    // single-threaded and never holds two references to one table at a time.
    unsafe { &mut *(phys as *mut [u64; 512]) }
}

fn new_table() -> Result<u64, StubError> {
    let (phys, _) = alloc_pages(1, MemoryType::LOADER_DATA, "page tables")?;
    Ok(phys)
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * level)) & 0x1ff) as usize
}

impl PageTables {
    pub fn new() -> Result<Self, StubError> {
        Ok(Self {
            pml4: new_table()?,
            tables: 1,
        })
    }

    /// Walks from the PML4 down to the table at `level` (2 = PD, 1 = PT) for `virt`,
    /// creating missing tables.
    fn walk_to(&mut self, virt: u64, level: u32) -> Result<u64, StubError> {
        let mut current = self.pml4;
        for l in (level + 1..=3).rev() {
            let slot = &mut table(current)[index(virt, l)];
            if *slot & PRESENT == 0 {
                let next = new_table()?;
                self.tables += 1;
                *slot = next | PRESENT | WRITABLE;
            } else if *slot & HUGE != 0 {
                return Err(StubError::Capacity {
                    what: "page tables: mapping over a huge page",
                });
            }
            current = *slot & ADDR_MASK;
        }
        Ok(current)
    }

    /// Maps one 4 KiB page. Leaf flags carry the permissions; parents are always RW/X.
    pub fn map_4k(&mut self, virt: u64, phys: u64, flags: u64) -> Result<(), StubError> {
        let pt = self.walk_to(virt, 0)?;
        table(pt)[index(virt, 0)] = (phys & ADDR_MASK) | PRESENT | flags;
        Ok(())
    }

    /// Maps one 2 MiB page.
    fn map_2m(&mut self, virt: u64, phys: u64, flags: u64) -> Result<(), StubError> {
        let pd = self.walk_to(virt, 1)?;
        table(pd)[index(virt, 1)] = (phys & ADDR_MASK) | PRESENT | HUGE | flags;
        Ok(())
    }

    /// Maps `[phys, phys+len)` at `virt` (all 4 KiB aligned), with 2 MiB pages where both
    /// sides are aligned and the whole 2 MiB lies inside the range.
    pub fn map_range(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        flags: u64,
    ) -> Result<(), StubError> {
        let mut off = 0;
        while off < len {
            let (v, p) = (virt + off, phys + off);
            if v % TWO_MIB == 0 && p % TWO_MIB == 0 && len - off >= TWO_MIB {
                self.map_2m(v, p, flags)?;
                off += TWO_MIB;
            } else {
                self.map_4k(v, p, flags)?;
                off += PAGE;
            }
        }
        Ok(())
    }

    /// A second PML4 sharing every upper-half entry with this one, plus identity mappings of
    /// `pages` (physical page addresses) in the lower half: used for one instruction while
    /// switching to the final tables.
    pub fn with_identity(&mut self, pages: &[u64]) -> Result<u64, StubError> {
        let mut temp = PageTables {
            pml4: new_table()?,
            tables: 0,
        };
        let src = *table(self.pml4);
        table(temp.pml4)[256..].copy_from_slice(&src[256..]);
        for &page in pages {
            temp.map_4k(page, page, 0)?;
        }
        self.tables += temp.tables + 1;
        Ok(temp.pml4)
    }
}
