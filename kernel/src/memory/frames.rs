//! The physical frame allocator: bump allocation over the usable memory-map ranges, plus a small stack of returned frames.
//!
//! It needs no heap and touches no memory it hands out, so it works before paging is set up and
//! is tested on the host.

use core::fmt;

use bootproto::memmap::{Entry, USABLE};

/// The size of a frame (a 4 KiB page).
pub const FRAME_SIZE: u64 = 4096;
/// How many distinct usable ranges the allocator keeps; more are dropped (and counted).
pub const MAX_RANGES: usize = 64;
/// How many returned frames the allocator remembers for reuse.
pub const FREE_STACK_SIZE: usize = 1024;
/// How many free runs of contiguous frames (returned by
/// [`FrameAllocator::free_contiguous`], or skipped over by
/// [`FrameAllocator::alloc_contiguous`]) the allocator remembers.
pub const MAX_FREE_RUNS: usize = 32;

/// A page-aligned physical range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

impl Range {
    const EMPTY: Range = Range { start: 0, end: 0 };

    fn frames(&self) -> u64 {
        (self.end - self.start) / FRAME_SIZE
    }

    fn contains(&self, phys: u64) -> bool {
        (self.start..self.end).contains(&phys)
    }
}

/// Counts for the boot log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameStats {
    /// Frames in all kept usable ranges.
    pub total_frames: u64,
    /// Frames that can still be allocated.
    pub free_frames: u64,
    /// Usable ranges dropped because the table of [`MAX_RANGES`] was full.
    pub dropped_regions: usize,
}

/// Why [`FrameAllocator::free`] refused a frame. The frame is not reused in every case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Not a multiple of [`FRAME_SIZE`].
    Misaligned { phys: u64 },
    /// Outside every usable range the allocator manages.
    NotOwned { phys: u64 },
    /// Owned, but never handed out (or already returned). For a run, `phys` is its first frame.
    NotAllocated { phys: u64 },
    /// A run of zero frames, or one that leaves the usable range it starts in.
    BadRun { phys: u64, frames: u64 },
    /// The stack of returned frames is full; the frame is leaked.
    FreeStackFull { phys: u64 },
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned { phys } => write!(f, "frame {phys:#x} is not 4 KiB aligned"),
            Self::NotOwned { phys } => {
                write!(
                    f,
                    "frame {phys:#x} is not in usable memory the allocator manages"
                )
            }
            Self::NotAllocated { phys } => {
                write!(f, "frame {phys:#x} is not allocated (double free?)")
            }
            Self::BadRun { phys, frames } => write!(
                f,
                "{frames} frames at {phys:#x} are not a run inside one usable range"
            ),
            Self::FreeStackFull { phys } => write!(
                f,
                "frame {phys:#x} leaked: the free stack ({FREE_STACK_SIZE} frames) is full"
            ),
        }
    }
}

/// Hands out 4 KiB physical frames from the usable memory-map entries. Never hands out physical
/// page 0 (a null physical address is too easy to confuse with "none"), nor anything outside a
/// usable entry, nor the same frame twice without a `free` in between.
pub struct FrameAllocator {
    /// Sorted, non-overlapping, non-adjacent (merged) usable ranges; `ranges[..len]` are valid.
    ranges: [Range; MAX_RANGES],
    len: usize,
    dropped: usize,
    /// The range being bump-allocated; every range before it is fully handed out.
    cur: usize,
    /// The next never-allocated frame in `ranges[cur]`.
    next: u64,
    /// Frames returned by `free`, reused first.
    freed: [u64; FREE_STACK_SIZE],
    freed_len: usize,
    /// Free runs of contiguous frames (all bumped), reused by `alloc_contiguous` first.
    runs: [Range; MAX_FREE_RUNS],
    runs_len: usize,
    total: u64,
    /// Frames ever handed out by the bump pointer.
    bumped: u64,
}

impl FrameAllocator {
    /// Builds the allocator from a memory map. Only [`USABLE`] entries count; each is trimmed
    /// inward to whole frames; overlapping or touching entries are merged.
    pub fn new(entries: &[Entry]) -> Self {
        let mut a = FrameAllocator {
            ranges: [Range::EMPTY; MAX_RANGES],
            len: 0,
            dropped: 0,
            cur: 0,
            next: 0,
            freed: [0; FREE_STACK_SIZE],
            freed_len: 0,
            runs: [Range::EMPTY; MAX_FREE_RUNS],
            runs_len: 0,
            total: 0,
            bumped: 0,
        };
        for e in entries.iter().filter(|e| e.kind == USABLE) {
            // An entry whose end overflows is clamped to the top of the address space.
            let end = e.base.saturating_add(e.length) & !(FRAME_SIZE - 1);
            let start = e
                .base
                .checked_next_multiple_of(FRAME_SIZE)
                .unwrap_or(u64::MAX);
            let start = start.max(FRAME_SIZE); // skip physical page 0
            if start < end {
                a.insert(Range { start, end });
            }
        }
        a.total = a.ranges[..a.len].iter().map(Range::frames).sum();
        a.next = a.ranges[0].start;
        a
    }

    /// Adds `r` to the sorted table, merging it with any range it overlaps or touches.
    fn insert(&mut self, r: Range) {
        let pos = self.ranges[..self.len].partition_point(|x| x.start <= r.start);
        if pos > 0 && self.ranges[pos - 1].end >= r.start {
            let prev = &mut self.ranges[pos - 1];
            prev.end = prev.end.max(r.end);
            self.absorb_following(pos - 1);
            return;
        }
        if pos < self.len && r.end >= self.ranges[pos].start {
            let next = &mut self.ranges[pos];
            next.start = r.start;
            next.end = next.end.max(r.end);
            self.absorb_following(pos);
            return;
        }
        if self.len == MAX_RANGES {
            self.dropped += 1;
            return;
        }
        self.ranges.copy_within(pos..self.len, pos + 1);
        self.ranges[pos] = r;
        self.len += 1;
    }

    /// Merges into `ranges[i]` every following range it now overlaps or touches.
    fn absorb_following(&mut self, i: usize) {
        while i + 1 < self.len && self.ranges[i + 1].start <= self.ranges[i].end {
            self.ranges[i].end = self.ranges[i].end.max(self.ranges[i + 1].end);
            self.ranges.copy_within(i + 2..self.len, i + 1);
            self.len -= 1;
        }
    }

    /// A free frame's physical address, or `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.freed_len > 0 {
            self.freed_len -= 1;
            return Some(self.freed[self.freed_len]);
        }
        while self.cur < self.len {
            if self.next < self.ranges[self.cur].end {
                let frame = self.next;
                self.next += FRAME_SIZE;
                self.bumped += 1;
                return Some(frame);
            }
            self.cur += 1;
            if self.cur < self.len {
                self.next = self.ranges[self.cur].start;
            }
        }
        self.take_from_runs(1)
    }

    /// The first frame of `frames` physically contiguous free frames (for DMA), or `None` when
    /// no such run is left (or `frames` is 0). Reuses a returned run first; otherwise bumps, and
    /// if the current usable range has too little left, remembers its tail as a free run and
    /// moves on (it fails instead of forgetting that tail when the run table is full, so no
    /// frame is ever lost).
    pub fn alloc_contiguous(&mut self, frames: u64) -> Option<u64> {
        if frames == 0 {
            return None;
        }
        if frames == 1 {
            return self.alloc();
        }
        if let Some(phys) = self.take_from_runs(frames) {
            return Some(phys);
        }
        let bytes = frames.checked_mul(FRAME_SIZE)?;
        while self.cur < self.len {
            let end = self.ranges[self.cur].end;
            if end - self.next >= bytes {
                let phys = self.next;
                self.next += bytes;
                self.bumped += frames;
                return Some(phys);
            }
            if self.next < end {
                if self.runs_len == MAX_FREE_RUNS {
                    return None;
                }
                self.bumped += (end - self.next) / FRAME_SIZE;
                self.runs[self.runs_len] = Range {
                    start: self.next,
                    end,
                };
                self.runs_len += 1;
                self.next = end;
            }
            self.cur += 1;
            if self.cur < self.len {
                self.next = self.ranges[self.cur].start;
            }
        }
        None
    }

    /// Takes `frames` frames from the start of the first free run that is long enough.
    fn take_from_runs(&mut self, frames: u64) -> Option<u64> {
        let bytes = frames.checked_mul(FRAME_SIZE)?;
        let i = self.runs[..self.runs_len]
            .iter()
            .position(|r| r.end - r.start >= bytes)?;
        let phys = self.runs[i].start;
        self.runs[i].start += bytes;
        if self.runs[i].start == self.runs[i].end {
            self.runs.copy_within(i + 1..self.runs_len, i);
            self.runs_len -= 1;
        }
        Some(phys)
    }

    /// Whether any frame of `[start, end)` is free (in the stack or a run).
    fn any_free(&self, start: u64, end: u64) -> bool {
        self.freed[..self.freed_len]
            .iter()
            .any(|&f| (start..end).contains(&f))
            || self.runs[..self.runs_len]
                .iter()
                .any(|r| r.start < end && start < r.end)
    }

    /// Checks that `frames` frames from `phys` lie in one usable range, were handed out, and
    /// are not free.
    fn check_allocated(&self, phys: u64, frames: u64) -> Result<u64, FreeError> {
        if !phys.is_multiple_of(FRAME_SIZE) {
            return Err(FreeError::Misaligned { phys });
        }
        let idx = self.ranges[..self.len]
            .iter()
            .position(|r| r.contains(phys))
            .ok_or(FreeError::NotOwned { phys })?;
        let end = frames
            .checked_mul(FRAME_SIZE)
            .and_then(|b| phys.checked_add(b))
            .filter(|&end| frames > 0 && end <= self.ranges[idx].end)
            .ok_or(FreeError::BadRun { phys, frames })?;
        let bumped = idx < self.cur || (idx == self.cur && end <= self.next);
        if !bumped || self.any_free(phys, end) {
            return Err(FreeError::NotAllocated { phys });
        }
        Ok(end)
    }

    /// Returns a frame obtained from [`alloc`](Self::alloc) for reuse.
    pub fn free(&mut self, phys: u64) -> Result<(), FreeError> {
        self.check_allocated(phys, 1)?;
        if self.freed_len == FREE_STACK_SIZE {
            return Err(FreeError::FreeStackFull { phys });
        }
        self.freed[self.freed_len] = phys;
        self.freed_len += 1;
        Ok(())
    }

    /// Returns `frames` contiguous frames starting at `phys` (from
    /// [`alloc_contiguous`](Self::alloc_contiguous), or any allocated run) for reuse, as one run
    /// (merged with a free run it touches). With the run table full, the frames go to the free
    /// stack one by one; if that has no room for all of them, nothing is freed and
    /// [`FreeError::FreeStackFull`] is returned (the run is leaked).
    pub fn free_contiguous(&mut self, phys: u64, frames: u64) -> Result<(), FreeError> {
        let end = self.check_allocated(phys, frames)?;
        let run = Range { start: phys, end };
        for r in &mut self.runs[..self.runs_len] {
            if r.end == run.start {
                r.end = run.end;
                return Ok(());
            }
            if r.start == run.end {
                r.start = run.start;
                return Ok(());
            }
        }
        if self.runs_len < MAX_FREE_RUNS {
            self.runs[self.runs_len] = run;
            self.runs_len += 1;
            return Ok(());
        }
        if FREE_STACK_SIZE - self.freed_len < frames as usize {
            return Err(FreeError::FreeStackFull { phys });
        }
        for f in (phys..end).step_by(FRAME_SIZE as usize) {
            self.freed[self.freed_len] = f;
            self.freed_len += 1;
        }
        Ok(())
    }

    /// Current counts.
    pub fn stats(&self) -> FrameStats {
        FrameStats {
            total_frames: self.total,
            free_frames: self.total - self.bumped
                + self.freed_len as u64
                + self.runs[..self.runs_len]
                    .iter()
                    .map(Range::frames)
                    .sum::<u64>(),
            dropped_regions: self.dropped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootproto::memmap::{BOOTLOADER_RECLAIMABLE, RESERVED};
    use std::collections::BTreeSet;
    use std::vec::Vec;

    const K: u64 = FRAME_SIZE;

    fn usable(base: u64, length: u64) -> Entry {
        Entry {
            base,
            length,
            kind: USABLE,
        }
    }

    fn drain(a: &mut FrameAllocator) -> Vec<u64> {
        core::iter::from_fn(|| a.alloc()).collect()
    }

    #[test]
    fn hands_out_only_usable_frames_once_and_exhausts_cleanly() {
        let map = [
            usable(0x1000, 3 * K),
            Entry {
                base: 0x4000,
                length: 4 * K,
                kind: RESERVED,
            },
            usable(0x10_0000, 2 * K),
            Entry {
                base: 0x20_0000,
                length: 8 * K,
                kind: BOOTLOADER_RECLAIMABLE,
            },
        ];
        let mut a = FrameAllocator::new(&map);
        assert_eq!(
            a.stats(),
            FrameStats {
                total_frames: 5,
                free_frames: 5,
                dropped_regions: 0
            }
        );
        let got = drain(&mut a);
        assert_eq!(got, [0x1000, 0x2000, 0x3000, 0x10_0000, 0x10_1000]);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.stats().free_frames, 0);
    }

    #[test]
    fn frame_zero_is_skipped() {
        let mut a = FrameAllocator::new(&[usable(0, 2 * K)]);
        assert_eq!(drain(&mut a), [0x1000]);
        let mut a = FrameAllocator::new(&[usable(0, K)]);
        assert_eq!(a.stats().total_frames, 0);
        assert_eq!(a.alloc(), None);
    }

    #[test]
    fn misaligned_ranges_are_trimmed_inward() {
        // 0x1800..0x5800 holds whole frames 0x2000..0x5000 only.
        let mut a = FrameAllocator::new(&[usable(0x1800, 4 * K)]);
        assert_eq!(drain(&mut a), [0x2000, 0x3000, 0x4000]);
        // Less than a frame after trimming: nothing.
        let mut a = FrameAllocator::new(&[usable(0x1001, K), usable(0x7000, K - 1)]);
        assert_eq!(a.alloc(), None);
        // An entry running past the top of the address space is clamped.
        let mut a = FrameAllocator::new(&[usable(u64::MAX - 2 * K + 1, 4 * K)]);
        assert_eq!(drain(&mut a), [u64::MAX - 2 * K + 1]);
    }

    #[test]
    fn empty_map_and_no_usable_memory() {
        let mut a = FrameAllocator::new(&[]);
        assert_eq!(a.alloc(), None);
        let mut a = FrameAllocator::new(&[Entry {
            base: 0x1000,
            length: K,
            kind: RESERVED,
        }]);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.stats().total_frames, 0);
    }

    #[test]
    fn overlapping_and_unsorted_entries_never_double_allocate() {
        let map = [
            usable(0x8000, 4 * K),
            usable(0x1000, 2 * K),
            usable(0x9000, 6 * K), // overlaps the first
            usable(0x3000, K),     // touches the second
        ];
        let mut a = FrameAllocator::new(&map);
        let got = drain(&mut a);
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len());
        assert_eq!(
            got,
            [0x1000, 0x2000, 0x3000, 0x8000, 0x9000, 0xa000, 0xb000, 0xc000, 0xd000, 0xe000]
        );
        assert_eq!(a.stats().total_frames, 10);
    }

    #[test]
    fn too_many_ranges_are_counted_as_dropped() {
        let map: Vec<Entry> = (1..=MAX_RANGES as u64 + 3)
            .map(|i| usable(i * 0x10_000, K))
            .collect();
        let mut a = FrameAllocator::new(&map);
        assert_eq!(a.stats().dropped_regions, 3);
        assert_eq!(a.stats().total_frames, MAX_RANGES as u64);
        assert_eq!(drain(&mut a).len(), MAX_RANGES);
    }

    #[test]
    fn freed_frames_are_reused_and_bad_frees_rejected() {
        let mut a = FrameAllocator::new(&[usable(0x1000, 4 * K)]);
        let f1 = a.alloc().unwrap();
        let f2 = a.alloc().unwrap();
        assert_eq!(a.free(f1 + 8), Err(FreeError::Misaligned { phys: f1 + 8 }));
        assert_eq!(
            a.free(0x100_0000),
            Err(FreeError::NotOwned { phys: 0x100_0000 })
        );
        assert_eq!(a.free(0), Err(FreeError::NotOwned { phys: 0 }));
        // Owned but not yet handed out.
        assert_eq!(
            a.free(0x4000),
            Err(FreeError::NotAllocated { phys: 0x4000 })
        );
        assert_eq!(a.free(f1), Ok(()));
        assert_eq!(a.free(f1), Err(FreeError::NotAllocated { phys: f1 }));
        assert_eq!(a.stats().free_frames, 3);
        assert_eq!(a.alloc(), Some(f1));
        let rest = drain(&mut a);
        assert_eq!(rest, [0x3000, 0x4000]);
        assert!(!rest.contains(&f2));
    }

    #[test]
    fn free_stack_overflow_is_reported() {
        let n = FREE_STACK_SIZE as u64 + 1;
        let mut a = FrameAllocator::new(&[usable(0x1000, n * K)]);
        let frames = drain(&mut a);
        for &f in &frames[..FREE_STACK_SIZE] {
            assert_eq!(a.free(f), Ok(()));
        }
        let last = frames[FREE_STACK_SIZE];
        assert_eq!(a.free(last), Err(FreeError::FreeStackFull { phys: last }));
    }

    #[test]
    fn random_alloc_free_sequences_keep_frames_unique() {
        let map = [usable(0x1000, 16 * K), usable(0x10_0000, 16 * K)];
        let mut a = FrameAllocator::new(&map);
        let mut held: Vec<u64> = Vec::new();
        let mut seed: u64 = 0x1234_5678;
        for _ in 0..10_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if seed >> 63 == 0 || held.is_empty() {
                if let Some(f) = a.alloc() {
                    assert!(!held.contains(&f), "frame {f:#x} handed out twice");
                    assert!(map.iter().any(|e| (e.base..e.base + e.length).contains(&f)));
                    held.push(f);
                }
            } else {
                let i = (seed >> 32) as usize % held.len();
                let f = held.swap_remove(i);
                assert_eq!(a.free(f), Ok(()));
            }
            assert_eq!(a.stats().free_frames, 32 - held.len() as u64);
        }
    }

    #[test]
    fn contiguous_runs_are_contiguous_reused_and_never_lost() {
        let map = [usable(0x1000, 5 * K), usable(0x10_0000, 16 * K)];
        let mut a = FrameAllocator::new(&map);
        assert_eq!(a.alloc_contiguous(0), None);
        assert_eq!(a.alloc_contiguous(3), Some(0x1000));
        // Only 2 frames left in the first range: they become a free run, the next range serves.
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        assert_eq!(a.stats().free_frames, 21 - 7);
        // Single frames come from the bump pointer first, then from runs.
        assert_eq!(a.alloc(), Some(0x10_4000));
        assert_eq!(a.free_contiguous(0x10_0000, 4), Ok(()));
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        assert_eq!(a.free_contiguous(0x10_0000, 2), Ok(()));
        assert_eq!(a.free_contiguous(0x10_2000, 2), Ok(())); // merges with the run before
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        // Too large for anything left.
        assert_eq!(a.alloc_contiguous(20), None);
        let free = a.stats().free_frames;
        let got = drain(&mut a);
        assert_eq!(got.len() as u64, free);
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len());
        assert!(set.contains(&0x4000) && set.contains(&0x5000));
        assert!(!set.contains(&0x10_0000));
    }

    #[test]
    fn bad_contiguous_frees_are_rejected() {
        let mut a = FrameAllocator::new(&[usable(0x1000, 8 * K), usable(0x10_0000, 8 * K)]);
        let run = a.alloc_contiguous(4).unwrap();
        assert_eq!(
            a.free_contiguous(run, 0),
            Err(FreeError::BadRun {
                phys: run,
                frames: 0
            })
        );
        assert_eq!(
            a.free_contiguous(run, 9),
            Err(FreeError::BadRun {
                phys: run,
                frames: 9
            })
        );
        // Extends past what was handed out.
        assert_eq!(
            a.free_contiguous(run, 5),
            Err(FreeError::NotAllocated { phys: run })
        );
        assert_eq!(
            a.free_contiguous(run + 1, 1),
            Err(FreeError::Misaligned { phys: run + 1 })
        );
        assert_eq!(a.free_contiguous(run, 4), Ok(()));
        assert_eq!(
            a.free_contiguous(run, 2),
            Err(FreeError::NotAllocated { phys: run })
        );
        assert_eq!(a.free(run), Err(FreeError::NotAllocated { phys: run }));
        let f = a.alloc_contiguous(2).unwrap();
        assert_eq!(f, run);
        assert_eq!(a.free(f), Ok(()));
        assert_eq!(
            a.free_contiguous(f, 2),
            Err(FreeError::NotAllocated { phys: f })
        );
    }

    #[test]
    fn random_contiguous_sequences_keep_frames_unique() {
        let map = [usable(0x1000, 40 * K), usable(0x10_0000, 24 * K)];
        let mut a = FrameAllocator::new(&map);
        let mut held: Vec<(u64, u64)> = Vec::new();
        let mut seed: u64 = 0x9e37_79b9;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (seed >> 40) % 5 + 1;
            if seed >> 63 == 0 || held.is_empty() {
                if let Some(f) = a.alloc_contiguous(n) {
                    for &(g, m) in &held {
                        assert!(
                            f + n * K <= g || g + m * K <= f,
                            "overlap {f:#x}+{n} {g:#x}+{m}"
                        );
                    }
                    assert!(map
                        .iter()
                        .any(|e| e.base <= f && f + n * K <= e.base + e.length));
                    held.push((f, n));
                }
            } else {
                let i = (seed >> 32) as usize % held.len();
                let (f, m) = held.swap_remove(i);
                assert_eq!(a.free_contiguous(f, m), Ok(()));
            }
            let in_use: u64 = held.iter().map(|h| h.1).sum();
            assert_eq!(a.stats().free_frames, 64 - in_use);
        }
    }
}
