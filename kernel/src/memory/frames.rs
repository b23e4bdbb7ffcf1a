//! The physical frame allocator: one bit per 4 KiB frame of the usable memory-map ranges (set =
//! free), with summary levels above it (a set bit = "the word below has a free bit").
//!
//! - Freeing only sets bits, so a returned frame always comes back: nothing can be "full".
//! - [`FrameAllocator::alloc`] reads exactly one word per level, top down (3 levels for 128 MiB,
//!   4 for 4 GiB, never more than [`MAX_LEVELS`]): O(1) for any memory map a PC can have.
//! - [`FrameAllocator::alloc_contiguous`] (DMA, the heap) is first fit over the bitmap, skipping
//!   wholly used or wholly free words 64 frames at a time, so runs freed in any order are found
//!   again.
//! - The free count is exact: [`FrameAllocator::free_frames`].
//!
//! The bitmap lives in usable memory carved off the end of the highest usable range that can
//! hold it (low memory stays free for whoever needs it). The caller turns that physical range
//! into a slice (the kernel through the HHDM, host tests with a heap buffer), so everything here
//! is safe Rust, tested on the host.

use core::fmt;

use bootproto::memmap::{Entry, USABLE};

/// The size of a frame (a 4 KiB page).
pub const FRAME_SIZE: u64 = 4096;
/// How many distinct usable ranges the allocator keeps; more are dropped (and counted).
pub const MAX_RANGES: usize = 64;
/// The most bitmap levels there can be. Physical addresses are 64-bit, so there are fewer than
/// 2^52 frames, at most 2^46 + [`MAX_RANGES`] level-0 words (each range starts on a word);
/// dividing by 64 (rounding up) eight times brings that to one word: 9 levels.
pub const MAX_LEVELS: usize = 9;

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
    /// Frames the allocator manages (all kept usable ranges, minus the bitmap).
    pub total_frames: u64,
    /// Frames that can still be allocated.
    pub free_frames: u64,
    /// Frames holding the allocator's own bitmap (carved out of usable memory).
    pub bitmap_frames: u64,
    /// Usable ranges dropped because the table of [`MAX_RANGES`] was full.
    pub dropped_regions: usize,
}

/// Why [`FrameAllocator::free`] refused a frame: the caller returned something it does not own.
/// Nothing changes; the allocator's books stay exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// Not a multiple of [`FRAME_SIZE`].
    Misaligned { phys: u64 },
    /// Outside every usable range the allocator manages (the bitmap's own frames included).
    NotOwned { phys: u64 },
    /// Owned, but not handed out (never, or already returned). For a run, `phys` is its first
    /// frame.
    NotAllocated { phys: u64 },
    /// A run of zero frames, or one that leaves the usable range it starts in.
    BadRun { phys: u64, frames: u64 },
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
        }
    }
}

/// No usable range can hold the allocator's bitmap. Cannot happen for a real memory map (the
/// bitmap needs about 1/32768 of the usable frames, and the largest of at most [`MAX_RANGES`]
/// ranges holds at least 1/64 of them), but the allocator says so rather than assume it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoomForBitmap {
    /// Contiguous frames the bitmap needs.
    pub frames: u64,
}

impl fmt::Display for NoRoomForBitmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no usable range has {} contiguous frames for the frame bitmap",
            self.frames
        )
    }
}

/// Where each level of the bitmap lies in its slice of words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Levels {
    /// Level `l`'s words are `start[l]..start[l + 1]`; level 0 has one bit per frame, every
    /// level above one bit per word of the level below, and the top level is a single word.
    start: [usize; MAX_LEVELS + 1],
    count: usize,
}

impl Levels {
    /// The layout over `words` level-0 words.
    fn new(words: usize) -> Self {
        let mut l = Levels {
            start: [0; MAX_LEVELS + 1],
            count: 0,
        };
        let mut n = words;
        while n > 0 && l.count < MAX_LEVELS {
            l.start[l.count + 1] = l.start[l.count] + n;
            l.count += 1;
            if n == 1 {
                break;
            }
            n = n.div_ceil(64);
        }
        l
    }

    /// Words in all levels.
    fn words(&self) -> usize {
        self.start[self.count]
    }
}

/// Hands out 4 KiB physical frames from the usable memory-map entries. Never hands out physical
/// page 0 (a null physical address is too easy to confuse with "none"), its own bitmap, anything
/// outside a usable entry, nor the same frame twice without a `free` in between.
pub struct FrameAllocator {
    /// Sorted, non-overlapping, non-adjacent (merged) usable ranges; `ranges[..len]` are valid.
    ranges: [Range; MAX_RANGES],
    len: usize,
    dropped: usize,
    /// The level-0 word where each range's bits start (bit 0 of it is the range's first frame;
    /// bits past the range's end stay clear, so they are never handed out).
    first_word: [usize; MAX_RANGES],
    /// All levels of the bitmap, level 0 first (see [`Levels`]).
    bits: &'static mut [u64],
    levels: Levels,
    /// Where the bitmap lives (outside `ranges`).
    bitmap: Range,
    total: u64,
    free: u64,
    /// Bitmap words read by the searches in `alloc` and `alloc_contiguous`.
    inspected: u64,
}

impl FrameAllocator {
    /// Builds the allocator from a memory map. Only [`USABLE`] entries count; each is trimmed
    /// inward to whole frames; overlapping or touching entries are merged. The bitmap is carved
    /// off the end of the highest range that can hold it; `bitmap_at(phys, words)` must return
    /// `words` words (contents do not matter) of memory at physical `phys` that nothing else
    /// uses, for good.
    pub fn new(
        entries: &[Entry],
        bitmap_at: impl FnOnce(u64, usize) -> &'static mut [u64],
    ) -> Result<Self, NoRoomForBitmap> {
        let mut a = FrameAllocator {
            ranges: [Range::EMPTY; MAX_RANGES],
            len: 0,
            dropped: 0,
            first_word: [0; MAX_RANGES],
            bits: &mut [],
            levels: Levels::new(0),
            bitmap: Range::EMPTY,
            total: 0,
            free: 0,
            inspected: 0,
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
        if a.len == 0 {
            return Ok(a);
        }
        a.bitmap = a.carve_bitmap()?;
        a.layout();
        let words = a.levels.words();
        let bits = bitmap_at(a.bitmap.start, words);
        a.bits = &mut bits[..words];
        a.fill();
        Ok(a)
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

    /// Level-0 words the current ranges need (each starts on a word).
    fn level0_words(&self) -> usize {
        self.ranges[..self.len]
            .iter()
            .map(|r| r.frames().div_ceil(64) as usize)
            .sum()
    }

    /// Takes the frames for the bitmap off the end of the highest range that can hold it (the
    /// range disappears if that empties it). Fewer ranges or frames never need more bitmap.
    fn carve_bitmap(&mut self) -> Result<Range, NoRoomForBitmap> {
        let bytes = Levels::new(self.level0_words()).words() as u64 * 8;
        let frames = bytes.div_ceil(FRAME_SIZE);
        let i = self.ranges[..self.len]
            .iter()
            .rposition(|r| r.frames() >= frames)
            .ok_or(NoRoomForBitmap { frames })?;
        let r = &mut self.ranges[i];
        r.end -= frames * FRAME_SIZE;
        let bitmap = Range {
            start: r.end,
            end: r.end + frames * FRAME_SIZE,
        };
        if r.start == r.end {
            self.ranges.copy_within(i + 1..self.len, i);
            self.len -= 1;
        }
        Ok(bitmap)
    }

    /// Places every range's bits and sizes the levels and counts.
    fn layout(&mut self) {
        let mut word = 0;
        for (first, r) in self.first_word.iter_mut().zip(&self.ranges[..self.len]) {
            *first = word;
            word += r.frames().div_ceil(64) as usize;
        }
        self.levels = Levels::new(word);
        self.total = self.ranges[..self.len].iter().map(Range::frames).sum();
        self.free = self.total;
    }

    /// Marks every frame of every range free (level 0), then sums up the levels above.
    fn fill(&mut self) {
        self.bits.fill(0);
        for i in 0..self.len {
            let first = self.first_word[i];
            let frames = self.ranges[i].frames() as usize;
            self.bits[first..first + frames / 64].fill(u64::MAX);
            if !frames.is_multiple_of(64) {
                self.bits[first + frames / 64] = (1 << (frames % 64)) - 1;
            }
        }
        for level in 1..self.levels.count {
            let below = self.levels.start[level - 1]..self.levels.start[level];
            for (j, w) in below.enumerate() {
                if self.bits[w] != 0 {
                    self.bits[self.levels.start[level] + j / 64] |= 1 << (j % 64);
                }
            }
        }
    }

    /// The range holding `phys` and the level-0 bit of its frame.
    fn bit_of(&self, phys: u64) -> Option<(usize, usize)> {
        let i = self.ranges[..self.len]
            .partition_point(|r| r.start <= phys)
            .checked_sub(1)?;
        let r = self.ranges[i];
        if !r.contains(phys) {
            return None;
        }
        Some((
            i,
            self.first_word[i] * 64 + ((phys - r.start) / FRAME_SIZE) as usize,
        ))
    }

    /// The frame of level-0 bit `bit` (one inside a range: only those are ever set).
    fn phys_of(&self, bit: usize) -> u64 {
        let i = self.first_word[..self.len].partition_point(|&w| w * 64 <= bit) - 1;
        self.ranges[i].start + (bit - self.first_word[i] * 64) as u64 * FRAME_SIZE
    }

    fn is_free(&self, bit: usize) -> bool {
        self.bits[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Sets level-0 bit `bit`; a word that stops being empty sets its bit in the level above.
    fn mark_free(&mut self, bit: usize) {
        let mut bit = bit;
        for level in 0..self.levels.count {
            let w = self.levels.start[level] + bit / 64;
            let was = self.bits[w];
            self.bits[w] = was | 1 << (bit % 64);
            if was != 0 {
                return;
            }
            bit /= 64;
        }
    }

    /// Clears level-0 bit `bit`; a word that becomes empty clears its bit in the level above.
    fn mark_used(&mut self, bit: usize) {
        let mut bit = bit;
        for level in 0..self.levels.count {
            let w = self.levels.start[level] + bit / 64;
            self.bits[w] &= !(1 << (bit % 64));
            if self.bits[w] != 0 {
                return;
            }
            bit /= 64;
        }
    }

    /// The lowest free level-0 bit: one word per level, from the top.
    fn first_free(&mut self) -> Option<usize> {
        let mut index = 0;
        for level in (0..self.levels.count).rev() {
            let word = self.bits[self.levels.start[level] + index];
            self.inspected += 1;
            if word == 0 {
                return None;
            }
            index = index * 64 + word.trailing_zeros() as usize;
        }
        (self.levels.count > 0).then_some(index)
    }

    /// A free frame's physical address (the lowest), or `None` when memory is exhausted.
    pub fn alloc(&mut self) -> Option<u64> {
        let bit = self.first_free()?;
        self.mark_used(bit);
        self.free -= 1;
        Some(self.phys_of(bit))
    }

    /// The first frame of `frames` physically contiguous free frames (for DMA), or `None` when
    /// no such run is free (or `frames` is 0). First fit: the lowest such run.
    pub fn alloc_contiguous(&mut self, frames: u64) -> Option<u64> {
        if frames == 0 || frames > self.free {
            return None;
        }
        let n = frames as usize;
        let bit = (0..self.len).find_map(|i| {
            (self.ranges[i].frames() >= frames)
                .then(|| self.find_run(i, n))
                .flatten()
        })?;
        for b in bit..bit + n {
            self.mark_used(b);
        }
        self.free -= frames;
        Some(self.phys_of(bit))
    }

    /// The first level-0 bit of the lowest run of `n` free frames in range `i`. Wholly used
    /// and wholly free words are taken 64 bits at a time.
    fn find_run(&mut self, i: usize, n: usize) -> Option<usize> {
        let mut bit = self.first_word[i] * 64;
        let end = bit + self.ranges[i].frames() as usize;
        let (mut start, mut len) = (bit, 0);
        while bit < end {
            let word = self.bits[bit / 64];
            let at_word = bit.is_multiple_of(64);
            self.inspected += u64::from(at_word);
            // Bits past the range's end are always clear, so a full word lies wholly in it.
            let (step, free) = if at_word && (word == 0 || word == u64::MAX) {
                (64, word != 0)
            } else {
                (1, word & (1 << (bit % 64)) != 0)
            };
            if free {
                len += step;
            } else {
                (start, len) = (bit + step, 0);
            }
            if len >= n {
                return Some(start);
            }
            bit += step;
        }
        None
    }

    /// Checks that `frames` frames from `phys` lie in one usable range and are all allocated;
    /// returns the level-0 bit of `phys`.
    fn check_allocated(&self, phys: u64, frames: u64) -> Result<usize, FreeError> {
        if !phys.is_multiple_of(FRAME_SIZE) {
            return Err(FreeError::Misaligned { phys });
        }
        let (i, bit) = self.bit_of(phys).ok_or(FreeError::NotOwned { phys })?;
        frames
            .checked_mul(FRAME_SIZE)
            .and_then(|b| phys.checked_add(b))
            .filter(|&end| frames > 0 && end <= self.ranges[i].end)
            .ok_or(FreeError::BadRun { phys, frames })?;
        if (bit..bit + frames as usize).any(|b| self.is_free(b)) {
            return Err(FreeError::NotAllocated { phys });
        }
        Ok(bit)
    }

    /// Returns a frame obtained from [`alloc`](Self::alloc) (or part of a run) for reuse.
    pub fn free(&mut self, phys: u64) -> Result<(), FreeError> {
        self.free_contiguous(phys, 1)
    }

    /// Returns `frames` contiguous frames starting at `phys` (from
    /// [`alloc_contiguous`](Self::alloc_contiguous), or any allocated frames that are
    /// contiguous) for reuse. All or nothing: on an error, no frame is freed.
    pub fn free_contiguous(&mut self, phys: u64, frames: u64) -> Result<(), FreeError> {
        let bit = self.check_allocated(phys, frames)?;
        for b in bit..bit + frames as usize {
            self.mark_free(b);
        }
        self.free += frames;
        Ok(())
    }

    /// Frames that can be allocated now (exact).
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Bitmap words the searches have read so far (what allocation costs, for tests).
    pub fn words_inspected(&self) -> u64 {
        self.inspected
    }

    /// Current counts.
    pub fn stats(&self) -> FrameStats {
        FrameStats {
            total_frames: self.total,
            free_frames: self.free,
            bitmap_frames: self.bitmap.frames(),
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

    /// An allocator whose bitmap is a leaked heap buffer full of garbage (the allocator must
    /// initialise it itself).
    fn allocator(map: &[Entry]) -> FrameAllocator {
        FrameAllocator::new(map, |_, words| {
            std::boxed::Box::leak(std::vec![0xa5a5_a5a5_a5a5_a5a5; words].into_boxed_slice())
        })
        .expect("room for the bitmap")
    }

    fn drain(a: &mut FrameAllocator) -> Vec<u64> {
        core::iter::from_fn(|| a.alloc()).collect()
    }

    /// A deterministic pseudo-random sequence (a 64-bit LCG; the high bits are used).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 32
        }
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
        let mut a = allocator(&map);
        // The bitmap took the last frame of the highest range.
        assert_eq!(
            a.stats(),
            FrameStats {
                total_frames: 4,
                free_frames: 4,
                bitmap_frames: 1,
                dropped_regions: 0
            }
        );
        let got = drain(&mut a);
        assert_eq!(got, [0x1000, 0x2000, 0x3000, 0x10_0000]);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.stats().free_frames, 0);
    }

    #[test]
    fn the_bitmap_is_carved_out_and_never_handed_out() {
        let map = [usable(0x1000, 8 * K), usable(0x10_0000, 2 * K)];
        let mut at = None;
        let mut a = FrameAllocator::new(&map, |phys, words| {
            at = Some((phys, words));
            std::boxed::Box::leak(std::vec![0; words].into_boxed_slice())
        })
        .unwrap();
        // A level-0 word per range and a top word: 3 words in 1 frame, off the end of the
        // highest range.
        assert_eq!(at, Some((0x10_1000, 3)));
        assert_eq!(
            a.free(0x10_1000),
            Err(FreeError::NotOwned { phys: 0x10_1000 })
        );
        let got = drain(&mut a);
        assert_eq!(got.len(), 9);
        assert!(!got.contains(&0x10_1000));
        // A range the bitmap fills completely disappears.
        let mut a = allocator(&[usable(0x1000, 4 * K), usable(0x10_0000, K)]);
        assert_eq!(a.stats().total_frames, 4);
        assert_eq!(drain(&mut a), [0x1000, 0x2000, 0x3000, 0x4000]);
        assert_eq!(
            a.free(0x10_0000),
            Err(FreeError::NotOwned { phys: 0x10_0000 })
        );
    }

    #[test]
    fn frame_zero_is_skipped() {
        let mut a = allocator(&[usable(0, 3 * K)]);
        assert_eq!(drain(&mut a), [0x1000]);
        // One frame is all the bitmap's.
        let mut a = allocator(&[usable(0, 2 * K)]);
        assert_eq!(a.stats().total_frames, 0);
        assert_eq!(a.alloc(), None);
        let mut a = allocator(&[usable(0, K)]);
        assert_eq!(a.stats().total_frames, 0);
        assert_eq!(a.alloc(), None);
    }

    #[test]
    fn misaligned_ranges_are_trimmed_inward() {
        // 0x1800..0x5800 holds whole frames 0x2000..0x5000 only (0x4000 is the bitmap).
        let mut a = allocator(&[usable(0x1800, 4 * K)]);
        assert_eq!(drain(&mut a), [0x2000, 0x3000]);
        // Less than a frame after trimming: nothing.
        let mut a = allocator(&[usable(0x1001, K), usable(0x7000, K - 1)]);
        assert_eq!(a.alloc(), None);
        // An entry running past the top of the address space is clamped.
        let mut a = allocator(&[usable(u64::MAX - 3 * K + 1, 5 * K)]);
        assert_eq!(drain(&mut a), [u64::MAX - 3 * K + 1]);
    }

    #[test]
    fn empty_map_and_no_usable_memory() {
        let mut a = allocator(&[]);
        assert_eq!(a.alloc(), None);
        assert_eq!(a.alloc_contiguous(2), None);
        assert_eq!(a.free(0x1000), Err(FreeError::NotOwned { phys: 0x1000 }));
        let mut a = allocator(&[Entry {
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
        let mut a = allocator(&map);
        let got = drain(&mut a);
        let set: BTreeSet<u64> = got.iter().copied().collect();
        assert_eq!(set.len(), got.len());
        // 0xe000, the end of the merged 0x8000..0xf000, holds the bitmap.
        assert_eq!(
            got,
            [0x1000, 0x2000, 0x3000, 0x8000, 0x9000, 0xa000, 0xb000, 0xc000, 0xd000]
        );
        assert_eq!(a.stats().total_frames, 9);
    }

    #[test]
    fn too_many_ranges_are_counted_as_dropped() {
        let map: Vec<Entry> = (1..=MAX_RANGES as u64 + 3)
            .map(|i| usable(i * 0x10_000, K))
            .collect();
        let mut a = allocator(&map);
        assert_eq!(a.stats().dropped_regions, 3);
        // The last kept range became the bitmap.
        assert_eq!(a.stats().total_frames, MAX_RANGES as u64 - 1);
        assert_eq!(drain(&mut a).len(), MAX_RANGES - 1);
    }

    #[test]
    fn freed_frames_are_reused_and_bad_frees_rejected() {
        let mut a = allocator(&[usable(0x1000, 5 * K)]);
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
    fn every_freed_frame_comes_back_however_many() {
        // Far more than the 1024 frames the old free stack could remember.
        let map = [usable(0x1000, 3000 * K), usable(0x100_0000, 2000 * K)];
        let mut a = allocator(&map);
        let total = a.stats().total_frames;
        let mut frames = drain(&mut a);
        assert_eq!(frames.len() as u64, total);
        let mut rng = Lcg(7);
        for i in (1..frames.len()).rev() {
            frames.swap(i, rng.next() as usize % (i + 1));
        }
        for (n, &f) in frames.iter().enumerate() {
            assert_eq!(a.free(f), Ok(()));
            assert_eq!(a.free_frames(), n as u64 + 1);
        }
        assert_eq!(a.free_frames(), total);
        let again: BTreeSet<u64> = drain(&mut a).into_iter().collect();
        assert_eq!(again, frames.iter().copied().collect());
        // And the whole of the first range is one run again.
        frames.iter().for_each(|&f| a.free(f).unwrap());
        assert_eq!(a.alloc_contiguous(3000), Some(0x1000));
    }

    #[test]
    fn random_alloc_free_sequences_keep_frames_unique() {
        let map = [usable(0x1000, 16 * K), usable(0x10_0000, 16 * K)];
        let mut a = allocator(&map);
        let total = a.stats().total_frames;
        let mut held: Vec<u64> = Vec::new();
        let mut rng = Lcg(0x1234_5678);
        for _ in 0..10_000 {
            let r = rng.next();
            if r & 1 == 0 || held.is_empty() {
                if let Some(f) = a.alloc() {
                    assert!(!held.contains(&f), "frame {f:#x} handed out twice");
                    assert!(map.iter().any(|e| (e.base..e.base + e.length).contains(&f)));
                    held.push(f);
                }
            } else {
                let f = held.swap_remove((r >> 1) as usize % held.len());
                assert_eq!(a.free(f), Ok(()));
            }
            assert_eq!(a.stats().free_frames, total - held.len() as u64);
        }
    }

    #[test]
    fn contiguous_runs_are_contiguous_reused_and_never_lost() {
        let map = [usable(0x1000, 5 * K), usable(0x10_0000, 16 * K)];
        let mut a = allocator(&map);
        assert_eq!(a.stats().total_frames, 20);
        assert_eq!(a.alloc_contiguous(0), None);
        assert_eq!(a.alloc_contiguous(3), Some(0x1000));
        // Only 2 frames left in the first range: the next range serves.
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        assert_eq!(a.stats().free_frames, 20 - 7);
        // Single frames come from the lowest free frame.
        assert_eq!(a.alloc(), Some(0x4000));
        assert_eq!(a.free_contiguous(0x10_0000, 4), Ok(()));
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        assert_eq!(a.free_contiguous(0x10_0000, 2), Ok(()));
        assert_eq!(a.free_contiguous(0x10_2000, 2), Ok(()));
        assert_eq!(a.alloc_contiguous(4), Some(0x10_0000));
        // A run freed in single frames is a run again.
        for f in [0x10_2000, 0x10_0000, 0x10_3000, 0x10_1000] {
            assert_eq!(a.free(f), Ok(()));
        }
        assert_eq!(a.alloc_contiguous(15), Some(0x10_0000));
        // Too large for anything left.
        assert_eq!(a.alloc_contiguous(2), None);
        assert_eq!(drain(&mut a), [0x5000]);
        assert_eq!(a.stats().free_frames, 0);
    }

    #[test]
    fn bad_contiguous_frees_are_rejected() {
        let mut a = allocator(&[usable(0x1000, 8 * K), usable(0x10_0000, 8 * K)]);
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
        // Extends past what was handed out: nothing is freed.
        assert_eq!(
            a.free_contiguous(run, 5),
            Err(FreeError::NotAllocated { phys: run })
        );
        assert_eq!(a.stats().free_frames, a.stats().total_frames - 4);
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

    /// Whether `n` frames from `f` are free and inside one range of `map`, by brute force.
    fn run_is_free(map: &[Entry], held: &BTreeSet<u64>, bitmap: u64, f: u64, n: u64) -> bool {
        map.iter()
            .any(|e| e.base <= f && f + n * K <= e.base + e.length)
            && (0..n).all(|k| !held.contains(&(f + k * K)) && f + k * K != bitmap)
    }

    #[test]
    fn churn_of_frames_and_runs_keeps_counts_exact_and_runs_findable() {
        let map = [
            usable(0x1000, 300 * K),
            usable(0x100_0000, 700 * K),
            usable(0x200_0000, 200 * K),
        ];
        let mut bitmap = 0;
        let mut a = FrameAllocator::new(&map, |phys, words| {
            bitmap = phys;
            std::boxed::Box::leak(std::vec![0; words].into_boxed_slice())
        })
        .unwrap();
        let total = a.stats().total_frames;
        let mut held: Vec<(u64, u64)> = Vec::new();
        let mut frames: BTreeSet<u64> = BTreeSet::new();
        let mut rng = Lcg(0x9e37_79b9);
        for step in 0..30_000 {
            let r = rng.next();
            let n = if r & 6 == 0 { 1 } else { (r >> 3) % 24 + 1 };
            if r & 1 == 0 || held.is_empty() {
                match a.alloc_contiguous(n) {
                    Some(f) => {
                        assert!(run_is_free(&map, &frames, bitmap, f, n), "step {step}");
                        frames.extend((0..n).map(|k| f + k * K));
                        held.push((f, n));
                    }
                    // Refused only when there really is no such run (checked at the lowest
                    // frame of each possible run, brute force, now and then: it is slow).
                    None if step % 16 == 0 => {
                        let any = map.iter().any(|e| {
                            (e.base..e.base + e.length)
                                .step_by(K as usize)
                                .any(|f| run_is_free(&map, &frames, bitmap, f, n))
                        });
                        assert!(!any, "step {step}: a free run of {n} was missed");
                    }
                    None => {}
                }
            } else {
                let (f, m) = held.swap_remove((r >> 8) as usize % held.len());
                // Runs go back whole, or frame by frame in any order.
                if r & 0x80 == 0 {
                    assert_eq!(a.free_contiguous(f, m), Ok(()));
                } else {
                    for k in (0..m).rev() {
                        assert_eq!(a.free(f + k * K), Ok(()));
                    }
                }
                (0..m).for_each(|k| assert!(frames.remove(&(f + k * K))));
            }
            assert_eq!(a.free_frames(), total - frames.len() as u64);
        }
        for (f, m) in held.drain(..) {
            assert_eq!(a.free_contiguous(f, m), Ok(()));
        }
        assert_eq!(a.free_frames(), total);
        // After all that churn, the largest range is one run again.
        assert_eq!(a.alloc_contiguous(700), Some(0x100_0000));
    }

    #[test]
    fn allocation_reads_one_word_per_level() {
        // 4 GiB of frames: 16384 level-0 words, 256 + 4 + 1 above.
        let mut a = allocator(&[usable(0x1000, (1 << 20) * K)]);
        assert_eq!(a.levels.count, 4);
        let mut held = Vec::new();
        let mut rng = Lcg(42);
        for _ in 0..200_000 {
            let r = rng.next();
            let before = a.words_inspected();
            if !r.is_multiple_of(3) || held.is_empty() {
                held.push(a.alloc().unwrap());
                assert_eq!(a.words_inspected() - before, 4);
            } else {
                let f = held.swap_remove((r >> 2) as usize % held.len());
                a.free(f).unwrap();
            }
        }
        // The old worst case for a cursor: free the lowest frame of a long used stretch, take
        // it back, then ask again.
        for _ in 0..1000 {
            a.free(0x1000).unwrap();
            let before = a.words_inspected();
            assert_eq!(a.alloc(), Some(0x1000));
            assert!(a.alloc().is_some());
            assert_eq!(a.words_inspected() - before, 8);
        }
    }

    #[test]
    fn levels_reach_one_word_within_the_bound() {
        assert_eq!(Levels::new(0).count, 0);
        assert_eq!(Levels::new(1).start[..2], [0, 1]);
        let l = Levels::new(65);
        assert_eq!((l.count, l.words()), (3, 65 + 2 + 1));
        // The most level-0 words any map can need: 2^52 frames plus a word per range.
        let l = Levels::new((1 << 46) + MAX_RANGES);
        assert_eq!(l.count, MAX_LEVELS);
        assert_eq!(l.start[MAX_LEVELS] - l.start[MAX_LEVELS - 1], 1);
    }
}
