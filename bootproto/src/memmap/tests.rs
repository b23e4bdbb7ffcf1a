//! Unit and property tests for memory map normalisation.

use super::*;
use proptest::prelude::*;

fn e(base: u64, length: u64, kind: u64) -> Entry {
    Entry { base, length, kind }
}

fn normalized(mut entries: Vec<Entry>) -> Vec<Entry> {
    normalize(&mut entries);
    entries
}

#[test]
fn efi_types() {
    let table = [
        (0, RESERVED),
        (1, BOOTLOADER_RECLAIMABLE),
        (2, BOOTLOADER_RECLAIMABLE),
        (3, USABLE),
        (4, USABLE),
        (5, RESERVED),
        (6, RESERVED),
        (7, USABLE),
        (8, BAD_MEMORY),
        (9, ACPI_RECLAIMABLE),
        (10, ACPI_NVS),
        (11, RESERVED),
        (12, RESERVED),
        (13, RESERVED),
        (14, RESERVED),
        (15, RESERVED),
        (0x7000_0000, RESERVED),
        (EFI_EXECUTABLE_AND_MODULES, EXECUTABLE_AND_MODULES),
        (0x8000_0002, RESERVED),
    ];
    for (efi, limine) in table {
        assert_eq!(from_efi(efi), limine, "EFI type {efi:#x}");
    }
}

#[test]
fn names_and_hhdm() {
    assert_eq!(kind_name(USABLE), "usable");
    assert_eq!(kind_name(FRAMEBUFFER), "framebuffer");
    assert_eq!(kind_name(99), "unknown");
    let covered: Vec<u64> = (0..=8).filter(|&k| hhdm_covered(k)).collect();
    assert_eq!(
        covered,
        [
            USABLE,
            BOOTLOADER_RECLAIMABLE,
            EXECUTABLE_AND_MODULES,
            FRAMEBUFFER
        ]
    );
}

#[test]
fn layout_matches_limine() {
    assert_eq!(core::mem::size_of::<Entry>(), 24);
    assert_eq!(core::mem::align_of::<Entry>(), 8);
}

#[test]
fn framebuffer_splits_usable() {
    let map = normalized(vec![
        e(0x10_0000, 0x10_0000, USABLE),
        e(0x14_0000, 0x1_0000, FRAMEBUFFER),
    ]);
    assert_eq!(
        map,
        [
            e(0x10_0000, 0x4_0000, USABLE),
            e(0x14_0000, 0x1_0000, FRAMEBUFFER),
            e(0x15_0000, 0xb_0000, USABLE),
        ]
    );
}

#[test]
fn lower_precedence_is_trimmed_not_higher() {
    // A usable range laid over reserved memory does not make it usable.
    let map = normalized(vec![e(0x2000, 0x2000, RESERVED), e(0x1000, 0x4000, USABLE)]);
    assert_eq!(
        map,
        [
            e(0x1000, 0x1000, USABLE),
            e(0x2000, 0x2000, RESERVED),
            e(0x4000, 0x1000, USABLE)
        ]
    );
}

#[test]
fn usable_shrinks_to_pages_and_reserved_does_not() {
    let map = normalized(vec![
        e(0x1800, 0x2000, USABLE),
        e(0x10_0010, 0x20, RESERVED),
        e(0x20_0000, 0xfff, BOOTLOADER_RECLAIMABLE),
        e(0x30_0000, 0, RESERVED),
    ]);
    assert_eq!(
        map,
        [e(0x2000, 0x1000, USABLE), e(0x10_0010, 0x20, RESERVED)]
    );
}

#[test]
fn adjacent_same_kind_merges_before_trimming() {
    // Two halves of one page are each smaller than a page but together cover it.
    let map = normalized(vec![e(0x1800, 0x800, USABLE), e(0x1000, 0x800, USABLE)]);
    assert_eq!(map, [e(0x1000, 0x1000, USABLE)]);
}

#[test]
fn overflowing_entry_is_clamped() {
    let map = normalized(vec![e(u64::MAX - 0x1fff, 0x1_0000, RESERVED)]);
    assert_eq!(map, [e(u64::MAX - 0x1fff, 0x1fff, RESERVED)]);
    assert_eq!(check(&map), Ok(()));
}

#[test]
fn unknown_kinds_beat_everything_but_bad_memory() {
    let map = normalized(vec![
        e(0x1000, 0x3000, 42),
        e(0x2000, 0x1000, RESERVED),
        e(0x3000, 0x1000, BAD_MEMORY),
    ]);
    assert_eq!(map, [e(0x1000, 0x2000, 42), e(0x3000, 0x1000, BAD_MEMORY)]);
}

#[test]
fn check_errors() {
    assert_eq!(check(&[]), Ok(()));
    assert_eq!(
        check(&[e(0, 0x1000, USABLE), e(0x1000, 0, RESERVED)]),
        Err(MemmapError::ZeroLength { index: 1 })
    );
    assert_eq!(
        check(&[e(u64::MAX, 2, RESERVED)]),
        Err(MemmapError::Overflow { index: 0 })
    );
    assert_eq!(
        check(&[e(0x2000, 0x1000, USABLE), e(0x1000, 0x1000, USABLE)]),
        Err(MemmapError::NotSorted { index: 1 })
    );
    assert_eq!(
        check(&[e(0x1000, 0x2000, USABLE), e(0x2000, 0x1000, RESERVED)]),
        Err(MemmapError::Overlap { index: 1 })
    );
    assert_eq!(
        check(&[
            e(0x1000, 0x10, RESERVED),
            e(0x2000, 0x1800, BOOTLOADER_RECLAIMABLE)
        ]),
        Err(MemmapError::Unaligned { index: 1 })
    );
    let text = MemmapError::Overlap { index: 7 }.to_string();
    assert!(text.contains("entry 7"), "{text}");
}

#[test]
fn totals_and_lookup() {
    let map = [
        e(0x1000, 0x1000, USABLE),
        e(0x2000, 0x10, RESERVED),
        e(0x3000, 0x2000, USABLE),
        e(u64::MAX - 1, 5, RESERVED),
    ];
    assert_eq!(total_of(&map, USABLE), 0x3000);
    assert_eq!(
        total_of(&[e(0, u64::MAX, USABLE), e(0, 5, USABLE)], USABLE),
        u64::MAX
    );
    assert_eq!(kind_at(&map, 0x1fff), Some(USABLE));
    assert_eq!(kind_at(&map, 0x2010), None);
    assert_eq!(kind_at(&map, 0x200f), Some(RESERVED));
    assert_eq!(kind_at(&map, u64::MAX), Some(RESERVED));
    assert_eq!(kind_at(&map, 0), None);
}

/// Cells of this size are the unit of the small-range model: entries start and end on
/// cell boundaries, so every cell is uniformly typed before and after normalisation.
const CELL: u64 = 256;
const CELLS: u64 = 128; // 8 pages
const CELLS_PER_PAGE: u64 = PAGE / CELL;

fn small_entry() -> impl Strategy<Value = Entry> {
    (0..CELLS, 0..40u64, 0..10u64).prop_map(|(cell, len, kind)| e(cell * CELL, len * CELL, kind))
}

fn any_entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (any::<u64>(), any::<u64>(), 0..10u64).prop_map(|(b, l, k)| e(b, l, k)),
        (0..0x10_0000u64, 0..0x10_0000u64, 0..10u64).prop_map(|(b, l, k)| e(b, l, k)),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(b, l, k)| e(b, l, k)),
    ]
}

/// The highest-precedence type covering the cell in the input, if any.
fn reference(input: &[Entry], cell: u64) -> Option<u64> {
    let addr = cell * CELL;
    input
        .iter()
        .filter(|x| x.base <= addr && addr < x.base + x.length)
        .map(|x| x.kind)
        .max_by_key(|&k| precedence(k))
}

proptest! {
    #[test]
    fn normalize_output_passes_check(input in prop::collection::vec(any_entry(), 0..24)) {
        let once = normalized(input);
        prop_assert_eq!(check(&once), Ok(()));
        // Normalising is idempotent.
        prop_assert_eq!(normalized(once.clone()), once);
    }

    #[test]
    fn every_byte_keeps_its_winning_type(input in prop::collection::vec(small_entry(), 0..12)) {
        let output = normalized(input.clone());
        prop_assert_eq!(check(&output), Ok(()));
        for cell in 0..CELLS + 40 {
            let winner = reference(&input, cell);
            let expected = match winner {
                // Usable/reclaimable bytes survive only where their whole page has that type.
                Some(kind) if page_aligned_kind(kind) => {
                    let first = cell - cell % CELLS_PER_PAGE;
                    let whole = (first..first + CELLS_PER_PAGE)
                        .all(|c| reference(&input, c) == Some(kind));
                    whole.then_some(kind)
                }
                other => other,
            };
            let start = cell * CELL;
            prop_assert_eq!(kind_at(&output, start), expected, "cell {} start", cell);
            prop_assert_eq!(kind_at(&output, start + CELL - 1), expected, "cell {} end", cell);
        }
    }
}

#[test]
fn normalize_into_reports_a_full_output_buffer() {
    let input = [
        Entry {
            base: 0,
            length: 0x3000,
            kind: USABLE,
        },
        Entry {
            base: 0x1000,
            length: 0x1000,
            kind: RESERVED,
        },
    ];
    let mut points = [0u64; 4];
    let mut out = [Entry {
        base: 0,
        length: 0,
        kind: 0,
    }; 2];
    assert_eq!(
        normalize_into(&input, &mut points, &mut out),
        Err(OutOfRoom { written: 2 })
    );
    let mut out = [Entry {
        base: 0,
        length: 0,
        kind: 0,
    }; 4];
    assert_eq!(normalize_into(&input, &mut points, &mut out), Ok(3));
    assert_eq!(
        out[1],
        Entry {
            base: 0x1000,
            length: 0x1000,
            kind: RESERVED
        }
    );
}
