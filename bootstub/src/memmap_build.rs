//! The final memory map, built after boot services are gone: no allocation allowed, so every
//! buffer is prepared beforehand and the normalisation works in fixed slices.

use bootproto::memmap::{self, Entry};
use uefi::mem::memory_map::MemoryMap;

/// Buffers reserved before `ExitBootServices`.
pub struct MemmapScratch {
    pub raw: &'static mut [Entry],
    pub bounds: &'static mut [u64],
    pub out: &'static mut [Entry],
}

impl MemmapScratch {
    /// Buffers for up to `capacity` firmware entries and the `2 * capacity + 2` entries their
    /// normalisation may produce; leaked, as they must outlive boot services.
    pub fn new(capacity: usize) -> Self {
        let empty = Entry {
            base: 0,
            length: 0,
            kind: 0,
        };
        Self {
            raw: alloc::vec![empty; capacity].leak(),
            bounds: alloc::vec![0u64; 2 * capacity + 2].leak(),
            out: alloc::vec![empty; 2 * capacity + 2].leak(),
        }
    }
}

/// Converts the firmware's final map (plus the framebuffer) into a sorted, disjoint Limine map
/// in `scratch.out`; returns how many entries it holds and how many firmware entries did not
/// fit (0 unless the firmware's map grew far beyond what was reserved).
pub fn build(
    map: &impl MemoryMap,
    framebuffer: Option<Entry>,
    scratch: &mut MemmapScratch,
) -> (usize, usize) {
    let mut n = 0;
    let mut dropped = 0;
    let fb = framebuffer.into_iter();
    let firmware = map.entries().map(|d| Entry {
        base: d.phys_start,
        length: d.page_count.saturating_mul(4096),
        kind: memmap::from_efi(d.ty.0),
    });
    for e in firmware.chain(fb) {
        match scratch.raw.get_mut(n) {
            Some(slot) => {
                *slot = e;
                n += 1;
            }
            None => dropped += 1,
        }
    }
    // The buffers are sized with `scratch_sizes`, so running out of room cannot happen; if it
    // did, the entries written so far are still a valid (shorter) map.
    let m = memmap::normalize_into(&scratch.raw[..n], scratch.bounds, scratch.out)
        .unwrap_or_else(|e| e.written);
    (m, dropped)
}
