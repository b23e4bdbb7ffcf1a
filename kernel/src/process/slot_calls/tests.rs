use super::*;
use crate::userdata::Region;
use abi::userdata::KERNEL_BLOCKS;
use drivers::block::RamDisk;

type Disk = Region<RamDisk<Vec<u8>>>;

/// A user-data region with the kernel's blocks and four for components, all zero.
fn disk() -> Disk {
    let total = KERNEL_BLOCKS + 4;
    let ram = RamDisk::new(vec![0u8; total as usize * BLOCK_SIZE], BLOCK_SIZE).unwrap();
    Region::for_components(ram, 0, total).unwrap()
}

fn show_on(disk: &mut Disk, booted: Slot) -> String {
    show(Some(disk), Some(booted)).unwrap()
}

fn set_on(disk: &mut Disk, action: SlotAction, slot: SlotId) -> String {
    set(Some(disk), Some(Slot::A), action, slot).unwrap()
}

/// Copy `i` as stored: its metadata and generation, if valid.
fn copy(disk: &mut Disk, i: usize) -> Option<(Metadata, u64)> {
    let mut block = [0u8; BLOCK_SIZE];
    disk.read_kernel_block(BLOCKS[i], &mut block).unwrap();
    Metadata::decode(&block).ok()
}

#[test]
fn the_text_is_one_fact_a_line() {
    assert_eq!(
        render(&bootslots::meta::TWO_SLOTS, Slot::A, Some(5)),
        "slot A: priority 15, 7 tries left, successful (booted now)\n\
         slot B: priority 14, 7 tries left, successful\n\
         one-shot trial: none\n\
         metadata generation 5"
    );
    let b = SlotState::new(15, 1, false).unwrap();
    let meta = Metadata::new(SlotState::UNBOOTABLE, b, Some(Slot::B));
    assert_eq!(
        render(&meta, Slot::B, None),
        "slot A: priority 0 (not bootable), 0 tries left, not yet successful\n\
         slot B: priority 15, 1 try left, not yet successful (booted now)\n\
         one-shot trial: B\n\
         metadata: no valid copy; these are the two-slot defaults"
    );
}

#[test]
fn a_one_slot_image_says_so_before_anything_else() {
    let mut d = disk();
    assert_eq!(show(Some(&mut d), None), Err(SlotCallError::OneSlot));
    assert_eq!(show(None, None), Err(SlotCallError::OneSlot));
    let try_b = set(None, None, SlotAction::Try, SlotId::B);
    assert_eq!(try_b, Err(SlotCallError::OneSlot));
    assert_eq!(show(None, Some(Slot::A)), Err(SlotCallError::NoRegion));
    assert_eq!(SlotCallError::OneSlot.to_abi(), abi::Error::NotFound);
    assert_eq!(SlotCallError::NoRegion.to_abi(), abi::Error::Unsupported);
    assert_eq!(
        SlotCallError::OneSlot.to_string(),
        "this image has one system slot"
    );
    // Nothing was written.
    assert_eq!((copy(&mut d, 0), copy(&mut d, 1)), (None, None));
}

#[test]
fn changes_alternate_copies_and_keep_the_one_read() {
    let mut d = disk();
    assert!(show_on(&mut d, Slot::A).ends_with("these are the two-slot defaults"));
    // No valid copy: the first write is copy 0, generation 1.
    let text = set_on(&mut d, SlotAction::SetActive, SlotId::B);
    assert_eq!(
        text,
        "slot A: priority 14, 7 tries left, successful (booted now)\n\
         slot B: priority 15, 7 tries left, successful\n\
         one-shot trial: none\n\
         metadata generation 1"
    );
    assert_eq!(show_on(&mut d, Slot::A), text);
    let (first, g) = copy(&mut d, 0).unwrap();
    assert_eq!((first.slot(Slot::B).priority(), g), (15, 1));
    assert_eq!(copy(&mut d, 1), None);
    // The next change goes to the other copy; the one read stays as it was.
    let text = set_on(&mut d, SlotAction::Try, SlotId::A);
    assert!(
        text.contains("one-shot trial: A\nmetadata generation 2"),
        "{text}"
    );
    assert_eq!(copy(&mut d, 0), Some((first, 1)));
    assert_eq!(
        copy(&mut d, 1).map(|(m, g)| (m.trial(), g)),
        Some((Some(Slot::A), 2))
    );
    // Then back to copy 0.
    set_on(&mut d, SlotAction::SetActive, SlotId::A);
    assert_eq!(copy(&mut d, 0).map(|(_, g)| g), Some(3));
}

#[test]
fn a_change_that_changes_nothing_writes_nothing() {
    let mut d = disk();
    set_on(&mut d, SlotAction::Try, SlotId::B);
    let again = set_on(&mut d, SlotAction::Try, SlotId::B);
    assert!(again.ends_with("metadata generation 1"), "{again}");
    assert_eq!(copy(&mut d, 1), None);
}

#[test]
fn a_torn_newer_copy_leaves_the_older_state() {
    let mut d = disk();
    set_on(&mut d, SlotAction::SetActive, SlotId::B);
    set_on(&mut d, SlotAction::Try, SlotId::A);
    // Tear copy 1 (generation 2): the state of generation 1 is what reads.
    let mut block = [0u8; BLOCK_SIZE];
    d.read_kernel_block(BLOCKS[1], &mut block).unwrap();
    block[30] ^= 0xff;
    d.write_kernel_block(BLOCKS[1], &block).unwrap();
    let text = show_on(&mut d, Slot::B);
    assert!(
        text.contains("one-shot trial: none\nmetadata generation 1"),
        "{text}"
    );
    assert!(text.contains("slot B: priority 15, 7 tries left, successful (booted now)"));
    // A change now replaces the torn copy, with the generation after the one read.
    set_on(&mut d, SlotAction::SetActive, SlotId::A);
    assert_eq!(copy(&mut d, 1).map(|(_, g)| g), Some(2));
}

#[test]
fn the_edits_are_bootslots_own() {
    let meta = bootslots::meta::TWO_SLOTS;
    for slot in Slot::ALL {
        assert_eq!(
            apply(&meta, SlotAction::SetActive, slot),
            bootslots::choose::set_active(&meta, slot)
        );
        assert_eq!(
            apply(&meta, SlotAction::Try, slot),
            bootslots::choose::set_trial(&meta, slot)
        );
    }
    assert_eq!(slot_of(SlotId::A), Slot::A);
    assert_eq!(slot_of(SlotId::B), Slot::B);
}
