//! A process's memory budget: its entry's `memory_limit` in pages, what its ELF segments and
//! stack take at load, and where `MEMORY_GROW` maps next. Pure logic, host-tested; the
//! process core maps the pages.

use core::fmt;

use abi::layout::GROWTH_ALIGN;
use abi::{MEMORY_GROW_MAX, PAGE_SIZE};

/// The number of pages `[start, end)` touches.
fn pages_of(start: u64, end: u64) -> u64 {
    if end <= start {
        return 0;
    }
    end.div_ceil(PAGE_SIZE) - start / PAGE_SIZE
}

/// An executable needs more than its limit (refused before anything is mapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverLimit {
    /// Bytes its segments and stack need (whole pages).
    pub needed: u64,
    /// Its limit in bytes.
    pub limit: u64,
}

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "its segments and stack need more than its memory_limit of {} KiB ({} KiB)",
            self.limit / 1024,
            self.needed / 1024
        )
    }
}

/// Why a growth is not planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowError {
    /// Zero, not whole pages, or more than [`MEMORY_GROW_MAX`].
    BadLength,
    /// It would take the process past its limit (the process is stopped).
    OverLimit {
        /// Pages in use.
        used: u64,
        /// Pages asked for.
        asked: u64,
        /// The limit in pages.
        limit: u64,
    },
    /// The growth area (up to the stack region) is full.
    NoAddressSpace,
}

/// Where a planned growth goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    /// The first address of the new pages.
    pub start: u64,
    /// How many pages.
    pub pages: u64,
}

/// One process's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    limit_pages: u64,
    used_pages: u64,
    next: u64,
    end: u64,
}

impl Budget {
    /// The budget of an executable whose segments cover `segments` (each `[start, end)`), with a
    /// stack of `stack_bytes`, under a limit of `limit_bytes`; growth may map up to `growth_end`.
    ///
    /// # Errors
    /// [`OverLimit`] when the segments and the stack alone need more than the limit.
    pub fn for_executable(
        segments: impl Iterator<Item = (u64, u64)> + Clone,
        stack_bytes: u64,
        limit_bytes: u64,
        growth_end: u64,
    ) -> Result<Budget, OverLimit> {
        let pages = segments
            .clone()
            .map(|(s, e)| pages_of(s, e))
            .fold(0u64, u64::saturating_add)
            .saturating_add(stack_bytes.div_ceil(PAGE_SIZE));
        let limit_pages = limit_bytes / PAGE_SIZE;
        if pages > limit_pages {
            return Err(OverLimit {
                needed: pages.saturating_mul(PAGE_SIZE),
                limit: limit_bytes,
            });
        }
        let top = segments.map(|(_, e)| e).max().unwrap_or(0);
        // One unmapped page at least between the segments and the growth area.
        let next = top
            .saturating_add(PAGE_SIZE)
            .next_multiple_of(GROWTH_ALIGN)
            .min(growth_end);
        Ok(Budget {
            limit_pages,
            used_pages: pages,
            next,
            end: growth_end,
        })
    }

    /// Pages in use.
    pub fn used_pages(&self) -> u64 {
        self.used_pages
    }

    /// The limit in pages.
    pub fn limit_pages(&self) -> u64 {
        self.limit_pages
    }

    /// Where `bytes` more would go, without taking them yet.
    ///
    /// # Errors
    /// [`GrowError`] says why not.
    pub fn plan(&self, bytes: u64) -> Result<Growth, GrowError> {
        if bytes == 0 || !bytes.is_multiple_of(PAGE_SIZE) || bytes > MEMORY_GROW_MAX {
            return Err(GrowError::BadLength);
        }
        let pages = bytes / PAGE_SIZE;
        if self.used_pages.saturating_add(pages) > self.limit_pages {
            return Err(GrowError::OverLimit {
                used: self.used_pages,
                asked: pages,
                limit: self.limit_pages,
            });
        }
        match self.next.checked_add(bytes) {
            Some(end) if end <= self.end => Ok(Growth {
                start: self.next,
                pages,
            }),
            _ => Err(GrowError::NoAddressSpace),
        }
    }

    /// Records that `pages` pages from `growth.start` on were mapped (all of a planned growth,
    /// or the part that was mapped before the machine ran out).
    pub fn commit(&mut self, growth: Growth, pages: u64) {
        let pages = pages.min(growth.pages);
        self.used_pages = self.used_pages.saturating_add(pages);
        self.next = growth.start.saturating_add(pages * PAGE_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    const STACK: u64 = 64 * 1024;
    const END: u64 = 0x7fff_0000_0000;

    fn segs() -> [(u64, u64); 2] {
        // Text: 0x400000..0x401234 (2 pages), data+bss 0x402000..0x405001 (4 pages).
        [(0x40_0000, 0x40_1234), (0x40_2000, 0x40_5001)]
    }

    #[test]
    fn load_counts_whole_pages_of_segments_and_stack() {
        let b = Budget::for_executable(segs().into_iter(), STACK, 16 * MIB, END).unwrap();
        assert_eq!(b.used_pages(), 2 + 4 + 16);
        assert_eq!(b.limit_pages(), 4096);
        // Exactly at the limit is fine; one page less is refused, naming both sizes.
        let exact = (2 + 4 + 16) * PAGE_SIZE;
        assert!(Budget::for_executable(segs().into_iter(), STACK, exact, END).is_ok());
        assert_eq!(
            Budget::for_executable(segs().into_iter(), STACK, exact - PAGE_SIZE, END),
            Err(OverLimit {
                needed: exact,
                limit: exact - PAGE_SIZE
            })
        );
    }

    #[test]
    fn a_huge_bss_is_refused_before_anything_is_mapped() {
        let huge = [(0x40_0000, 0x40_1000), (0x40_1000, 0x40_1000 + 1024 * MIB)];
        let e = Budget::for_executable(huge.into_iter(), STACK, 64 * MIB, END).unwrap_err();
        assert_eq!(e.needed, (1 + 262_144 + 16) * PAGE_SIZE);
        assert_eq!(
            e.to_string(),
            "its segments and stack need more than its memory_limit of 65536 KiB (1048644 KiB)"
        );
    }

    #[test]
    fn growth_starts_aligned_above_the_segments_and_follows_on() {
        let mut b = Budget::for_executable(segs().into_iter(), STACK, 16 * MIB, END).unwrap();
        let g = b.plan(3 * PAGE_SIZE).unwrap();
        assert_eq!(
            g,
            Growth {
                start: GROWTH_ALIGN * 3,
                pages: 3
            }
        );
        assert!(g.start >= 0x40_5001 + PAGE_SIZE);
        b.commit(g, 3);
        assert_eq!(b.used_pages(), 22 + 3);
        let g2 = b.plan(PAGE_SIZE).unwrap();
        assert_eq!(g2.start, g.start + 3 * PAGE_SIZE);
        // A partial commit (the machine ran out) moves on by what was mapped.
        b.commit(g2, 0);
        assert_eq!(b.plan(PAGE_SIZE).unwrap().start, g2.start);
    }

    #[test]
    fn growth_past_the_limit_or_malformed_is_refused() {
        let mut b = Budget::for_executable(segs().into_iter(), STACK, MIB, END).unwrap();
        let left = 256 - 22;
        let g = b.plan(left * PAGE_SIZE).unwrap();
        b.commit(g, left);
        assert_eq!(
            b.plan(PAGE_SIZE),
            Err(GrowError::OverLimit {
                used: 256,
                asked: 1,
                limit: 256
            })
        );
        for bad in [0, 1, PAGE_SIZE + 1, MEMORY_GROW_MAX + PAGE_SIZE] {
            assert_eq!(b.plan(bad), Err(GrowError::BadLength), "{bad}");
        }
    }

    #[test]
    fn the_growth_area_ends_where_the_stack_region_starts() {
        let end = 3 * GROWTH_ALIGN + 2 * PAGE_SIZE;
        let b = Budget::for_executable(segs().into_iter(), STACK, 64 * MIB, end).unwrap();
        assert!(b.plan(2 * PAGE_SIZE).is_ok());
        assert_eq!(b.plan(3 * PAGE_SIZE), Err(GrowError::NoAddressSpace));
    }
}
