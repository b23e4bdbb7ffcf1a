//! The Limine memory map: entry types, conversion from UEFI, normalisation and checking.
//!
//! UEFI memory types map to Limine types as follows:
//!
//! | UEFI type                                              | Limine type              |
//! |--------------------------------------------------------|--------------------------|
//! | ConventionalMemory (7), BootServicesCode/Data (3, 4)   | `USABLE`                 |
//! | LoaderCode (1), LoaderData (2)                         | `BOOTLOADER_RECLAIMABLE` |
//! | [`EFI_EXECUTABLE_AND_MODULES`] (0x8000_0001)           | `EXECUTABLE_AND_MODULES` |
//! | ACPIReclaimMemory (9)                                  | `ACPI_RECLAIMABLE`       |
//! | ACPIMemoryNVS (10)                                     | `ACPI_NVS`               |
//! | UnusableMemory (8)                                     | `BAD_MEMORY`             |
//! | everything else: Reserved (0), RuntimeServicesCode/Data (5, 6), MMIO (11, 12), PalCode (13), Persistent (14), Unaccepted (15), OEM/OS-defined types | `RESERVED` |
//!
//! Boot services memory is usable because the stub exits boot services before the
//! kernel runs; runtime services memory stays reserved because firmware keeps using it.

use alloc::vec::Vec;
use core::fmt;

/// Free RAM.
pub const USABLE: u64 = 0;
/// Not usable (firmware, MMIO, unknown).
pub const RESERVED: u64 = 1;
/// ACPI tables; usable once the kernel has read them.
pub const ACPI_RECLAIMABLE: u64 = 2;
/// ACPI non-volatile storage; never usable.
pub const ACPI_NVS: u64 = 3;
/// Defective RAM.
pub const BAD_MEMORY: u64 = 4;
/// Boot loader data (responses, page tables, stack); usable once the kernel is done with it.
pub const BOOTLOADER_RECLAIMABLE: u64 = 5;
/// The executable and its modules.
pub const EXECUTABLE_AND_MODULES: u64 = 6;
/// A framebuffer.
pub const FRAMEBUFFER: u64 = 7;

/// The OS-defined UEFI memory type the stub allocates the executable and modules with,
/// so they can be told apart from its own allocations in the final map.
pub const EFI_EXECUTABLE_AND_MODULES: u32 = 0x8000_0001;

/// The page size usable and reclaimable entries are aligned to.
const PAGE: u64 = 4096;

/// One memory map entry; same layout as `struct limine_memmap_entry`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Physical start address.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// One of the type constants of this module.
    pub kind: u64,
}

impl Entry {
    /// One past the last byte, or `None` if `base + length` overflows.
    pub fn end(&self) -> Option<u64> {
        self.base.checked_add(self.length)
    }
}

/// Converts a UEFI memory type to a Limine one (see the table in the module doc).
pub fn from_efi(efi_type: u32) -> u64 {
    match efi_type {
        3 | 4 | 7 => USABLE,
        1 | 2 => BOOTLOADER_RECLAIMABLE,
        EFI_EXECUTABLE_AND_MODULES => EXECUTABLE_AND_MODULES,
        9 => ACPI_RECLAIMABLE,
        10 => ACPI_NVS,
        8 => BAD_MEMORY,
        _ => RESERVED,
    }
}

/// A human-readable name for a Limine memory type.
pub fn kind_name(kind: u64) -> &'static str {
    match kind {
        USABLE => "usable",
        RESERVED => "reserved",
        ACPI_RECLAIMABLE => "ACPI reclaimable",
        ACPI_NVS => "ACPI NVS",
        BAD_MEMORY => "bad memory",
        BOOTLOADER_RECLAIMABLE => "bootloader reclaimable",
        EXECUTABLE_AND_MODULES => "executable and modules",
        FRAMEBUFFER => "framebuffer",
        _ => "unknown",
    }
}

/// Whether base revision 3 maps memory of this type in the higher-half direct map.
pub fn hhdm_covered(kind: u64) -> bool {
    matches!(
        kind,
        USABLE | BOOTLOADER_RECLAIMABLE | EXECUTABLE_AND_MODULES | FRAMEBUFFER
    )
}

/// Whether entries of this type must be page-aligned (the kernel hands them to its frame allocator).
fn page_aligned_kind(kind: u64) -> bool {
    matches!(kind, USABLE | BOOTLOADER_RECLAIMABLE)
}

/// Sort key for overlap resolution: higher wins. Unknown types rank just below
/// `BAD_MEMORY` (they must never become usable), ordered among themselves by value
/// so the result does not depend on input order.
fn precedence(kind: u64) -> (u8, u64) {
    let tier = match kind {
        USABLE => 0,
        BOOTLOADER_RECLAIMABLE => 1,
        EXECUTABLE_AND_MODULES => 2,
        FRAMEBUFFER => 3,
        ACPI_RECLAIMABLE => 4,
        ACPI_NVS => 5,
        RESERVED => 6,
        BAD_MEMORY => 8,
        _ => 7,
    };
    (tier, kind)
}

/// Makes a memory map well-formed: see [`check`] for the guarantees.
///
/// Zero-length entries are dropped; where entries overlap the more restrictive type
/// wins (`BAD_MEMORY` > `RESERVED` > `ACPI_NVS` > `ACPI_RECLAIMABLE` > `FRAMEBUFFER` >
/// `EXECUTABLE_AND_MODULES` > `BOOTLOADER_RECLAIMABLE` > `USABLE`) and the other entry
/// is split or trimmed; adjacent entries of one type are merged; usable and
/// bootloader-reclaimable entries shrink inward to 4 KiB boundaries. An entry whose
/// end would overflow is clamped to end at `u64::MAX` (the last byte is lost).
pub fn normalize(entries: &mut Vec<Entry>) {
    let mut points = alloc::vec![0u64; 2 * entries.len()];
    let mut out = alloc::vec![Entry { base: 0, length: 0, kind: 0 }; 2 * entries.len()];
    // The buffers are sized by `scratch_sizes`, so `normalize_into` cannot run out of room.
    let n = normalize_into(entries, &mut points, &mut out).unwrap_or(0);
    out.truncate(n);
    *entries = out;
}

/// The buffer sizes [`normalize_into`] needs for `n` input entries: (points, output entries).
pub const fn scratch_sizes(n: usize) -> (usize, usize) {
    (2 * n, 2 * n)
}

/// The output buffer of [`normalize_into`] was too small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRoom {
    /// How many entries were written before room ran out.
    pub written: usize,
}

/// [`normalize`] without allocation (for a boot loader after `ExitBootServices`): reads
/// `input`, uses `points` as scratch and writes the result to `out`, returning its length.
/// With buffers of [`scratch_sizes`] it always succeeds.
pub fn normalize_into(
    input: &[Entry],
    points: &mut [u64],
    out: &mut [Entry],
) -> Result<usize, OutOfRoom> {
    // Every boundary of every non-empty entry (overflowing ends clamped to u64::MAX).
    let mut np = 0;
    for e in input {
        let end = e.end().unwrap_or(u64::MAX);
        if end > e.base {
            for p in [e.base, end] {
                if let Some(slot) = points.get_mut(np) {
                    *slot = p;
                    np += 1;
                }
            }
        }
    }
    let points = &mut points[..np];
    points.sort_unstable();
    let mut unique = 0;
    for i in 0..points.len() {
        if i == 0 || points[i] != points[unique - 1] {
            points[unique] = points[i];
            unique += 1;
        }
    }
    let points = &points[..unique];

    // Each elementary interval takes the highest-precedence type of the entries covering it.
    let mut n = 0;
    for w in points.windows(2) {
        let (lo, hi) = (w[0], w[1]);
        let winner = input
            .iter()
            .filter(|e| e.base <= lo && e.end().unwrap_or(u64::MAX) >= hi && e.length > 0)
            .map(|e| e.kind)
            .max_by_key(|&k| precedence(k));
        let Some(kind) = winner else { continue };
        if n > 0 && out[n - 1].kind == kind && out[n - 1].end() == Some(lo) {
            out[n - 1].length = hi - out[n - 1].base;
            continue;
        }
        let slot = out.get_mut(n).ok_or(OutOfRoom { written: n })?;
        *slot = Entry {
            base: lo,
            length: hi - lo,
            kind,
        };
        n += 1;
    }

    // Trim after merging so a page made of several adjacent usable pieces survives.
    let mut kept = 0;
    for i in 0..n {
        let mut e = out[i];
        if page_aligned_kind(e.kind) {
            let end = e.base.saturating_add(e.length);
            let Some(base) = e.base.checked_next_multiple_of(PAGE) else {
                continue;
            };
            let end = end - end % PAGE;
            if end <= base {
                continue;
            }
            e.base = base;
            e.length = end - base;
        }
        out[kept] = e;
        kept += 1;
    }
    Ok(kept)
}

/// Why a memory map is malformed. `index` is the offending entry's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemmapError {
    /// An entry of length 0.
    ZeroLength {
        /// The offending entry.
        index: usize,
    },
    /// `base + length` overflows.
    Overflow {
        /// The offending entry.
        index: usize,
    },
    /// An entry's base is below the previous entry's base.
    NotSorted {
        /// The offending entry.
        index: usize,
    },
    /// An entry starts before the previous entry ends.
    Overlap {
        /// The offending entry.
        index: usize,
    },
    /// A usable or bootloader-reclaimable entry's base or length is not a multiple of 4 KiB.
    Unaligned {
        /// The offending entry.
        index: usize,
    },
}

impl fmt::Display for MemmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroLength { index } => write!(f, "memory map entry {index} has length 0"),
            Self::Overflow { index } => {
                write!(
                    f,
                    "memory map entry {index} ends past the 64-bit address space"
                )
            }
            Self::NotSorted { index } => write!(
                f,
                "memory map entry {index} starts below the previous entry (not sorted)"
            ),
            Self::Overlap { index } => {
                write!(f, "memory map entry {index} overlaps the previous entry")
            }
            Self::Unaligned { index } => write!(
                f,
                "memory map entry {index} is usable/reclaimable but not 4 KiB aligned"
            ),
        }
    }
}

/// Checks that a memory map is sorted, non-overlapping, has no empty or overflowing
/// entries, and that usable and bootloader-reclaimable entries are page-aligned.
pub fn check(entries: &[Entry]) -> Result<(), MemmapError> {
    let mut previous_end: Option<(u64, u64)> = None; // (base, end) of the previous entry
    for (index, e) in entries.iter().enumerate() {
        if e.length == 0 {
            return Err(MemmapError::ZeroLength { index });
        }
        let end = e.end().ok_or(MemmapError::Overflow { index })?;
        if let Some((prev_base, prev_end)) = previous_end {
            if e.base < prev_base {
                return Err(MemmapError::NotSorted { index });
            }
            if e.base < prev_end {
                return Err(MemmapError::Overlap { index });
            }
        }
        if page_aligned_kind(e.kind) && (e.base % PAGE != 0 || e.length % PAGE != 0) {
            return Err(MemmapError::Unaligned { index });
        }
        previous_end = Some((e.base, end));
    }
    Ok(())
}

/// Total length of all entries of `kind` (saturating).
pub fn total_of(entries: &[Entry], kind: u64) -> u64 {
    entries
        .iter()
        .filter(|e| e.kind == kind)
        .fold(0u64, |sum, e| sum.saturating_add(e.length))
}

/// The type of the first entry containing physical address `phys`.
pub fn kind_at(entries: &[Entry], phys: u64) -> Option<u64> {
    entries
        .iter()
        .find(|e| e.base <= phys && e.end().is_none_or(|end| phys < end))
        .map(|e| e.kind)
}

#[cfg(test)]
mod tests;
