//! Unit tests for the stub's slot choice.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bootslots::choose::{set_trial, FallbackReason};
use bootslots::meta::SlotState;
use loader::slots::SlotTable;

use super::*;
use crate::config;

const DATA_START: u64 = 768;

fn block0(slots: Option<SlotTable>) -> [u8; BLOCK_SIZE] {
    Superblock {
        format_version: loader::FORMAT_VERSION,
        kernel_start: 1,
        kernel_blocks: 10,
        manifest_start: 11,
        manifest_bytes: 100,
        esp_start: 512,
        esp_blocks: 256,
        data_start: DATA_START,
        total_blocks: 1024,
        slots,
        ..Superblock::default()
    }
    .encode()
}

fn two_slot_block0() -> [u8; BLOCK_SIZE] {
    block0(Some(SlotTable {
        b_start: 100,
        b_blocks: 50,
    }))
}

/// A two-slot limine.conf as the packer writes it: A's entry first.
fn entries() -> Vec<Entry> {
    entries_of(&["slot=A", "slot=B test=boot"])
}

fn entries_of(cmdlines: &[&str]) -> Vec<Entry> {
    let mut text = String::from("timeout: 0\n/Menu\n");
    for (i, c) in cmdlines.iter().enumerate() {
        text +=
            &alloc::format!("//Entry {i}\nprotocol: limine\npath: boot():/k{i}\ncmdline: {c}\n");
    }
    config::parse(&text).unwrap().entries
}

fn copy(meta: &Metadata, generation: u64) -> [u8; BLOCK_SIZE] {
    let mut b = [0u8; BLOCK_SIZE];
    meta.encode(generation, &mut b);
    b
}

/// The choice with `meta` in copy 1 (generation 3) and an older default in copy 0.
fn with_meta(meta: &Metadata) -> SlotBoot {
    let old = copy(&Metadata::default_for(2).unwrap(), 2);
    let new = copy(meta, 3);
    choose_entry(Some([&old, &new]), &entries())
}

#[test]
fn a_one_slot_image_or_no_image_has_no_metadata() {
    assert_eq!(meta_blocks(&block0(None)), None);
    assert_eq!(meta_blocks(&[0u8; BLOCK_SIZE]), None);
    assert_eq!(meta_blocks(&[]), None);
    let mut damaged = two_slot_block0();
    damaged[20] ^= 1;
    assert_eq!(meta_blocks(&damaged), None);
}

#[test]
fn a_two_slot_image_keeps_its_metadata_in_the_data_region() {
    let [b0, b1] = SLOT_META_BLOCKS;
    assert_eq!(
        meta_blocks(&two_slot_block0()),
        Some([DATA_START + b0, DATA_START + b1])
    );
}

#[test]
fn default_metadata_boots_the_slot_a_entry() {
    let default = Metadata::default_for(2).unwrap();
    let boot = with_meta(&default);
    assert_eq!(boot.entry, Some(1));
    assert_eq!(boot.slot, Slot::A);
    assert_eq!(boot.source, MetaSource::Read { generation: 3 });
    assert!(!boot.is_problem());
    assert_eq!(
        boot.to_string(),
        "slots: booting slot A (highest priority); A: priority 15, 7 tries left, successful; \
         B: priority 14, 7 tries left, successful; one-shot trial: none"
    );
}

#[test]
fn a_trial_of_b_boots_the_slot_b_entry() {
    let meta = set_trial(&Metadata::default_for(2).unwrap(), Slot::B);
    let boot = with_meta(&meta);
    assert_eq!((boot.entry, boot.slot), (Some(2), Slot::B));
    assert_eq!(boot.choice, Ok(Reason::Trial));
    assert!(boot
        .to_string()
        .starts_with("slots: booting slot B (one-shot trial); "));
    assert!(boot.to_string().ends_with("; one-shot trial: B"));
}

#[test]
fn a_exhausted_and_not_successful_falls_back_to_b() {
    let exhausted = Metadata::default_for(2)
        .unwrap()
        .with_slot(Slot::A, SlotState::new(15, 0, false).unwrap());
    let boot = with_meta(&exhausted);
    assert_eq!((boot.entry, boot.slot), (Some(2), Slot::B));
    assert_eq!(
        boot.to_string(),
        "slots: booting slot B (fell back from A (tries exhausted)); \
         A: priority 15, 0 tries left, not yet successful; B: priority 14, 7 tries left, \
         successful; one-shot trial: none"
    );
}

#[test]
fn no_entry_naming_the_slot_boots_the_first_entry() {
    let meta = set_trial(&Metadata::default_for(2).unwrap(), Slot::B);
    let old = copy(&meta, 1);
    let boot = choose_entry(Some([&old, &old]), &entries_of(&["slot=A", "test=boot"]));
    assert_eq!((boot.entry, boot.slot), (None, Slot::B));
    assert!(boot.is_problem());
    assert!(boot
        .to_string()
        .starts_with("slots: slot B chosen (one-shot trial), but no entry's cmdline has slot=B; booting the first entry; "));
}

#[test]
fn damaged_or_unreadable_metadata_means_the_defaults() {
    let mut torn = copy(&Metadata::default_for(2).unwrap(), 5);
    torn[25] = 3;
    let boot = choose_entry(Some([&torn, &[0u8; BLOCK_SIZE]]), &entries());
    assert_eq!((boot.entry, boot.slot), (Some(1), Slot::A));
    assert_eq!(boot.meta, Metadata::default_for(2).unwrap());
    assert!(matches!(
        boot.source,
        MetaSource::Damaged(MetaError::NoValidCopy { .. })
    ));
    assert!(boot.is_problem());
    let line = boot.to_string();
    assert!(line.starts_with("slots: booting slot A (highest priority); A: priority 15"));
    assert!(line.contains("; slot metadata: no valid copy (copy 0: checksum"));

    let boot = choose_entry(None, &entries());
    assert_eq!((boot.entry, boot.source), (Some(1), MetaSource::Unreadable));
    assert!(boot
        .to_string()
        .ends_with("; slot metadata: cannot be read; booting with the default slots"));
}

#[test]
fn no_bootable_slot_boots_the_slot_a_entry_whose_kernel_refuses() {
    let dead = Metadata::new(
        SlotState::new(15, 0, false).unwrap(),
        SlotState::UNBOOTABLE,
        None,
    );
    let boot = with_meta(&dead);
    assert_eq!((boot.entry, boot.slot), (Some(1), Slot::A));
    assert_eq!(
        boot.choice,
        Err(NoBootableSlot {
            a: FallbackReason::TriesExhausted,
            b: FallbackReason::NotBootable
        })
    );
    assert!(boot.is_problem());
    assert!(boot.to_string().starts_with(
        "slots: booting slot A, whose kernel will refuse: no slot can boot (A: tries exhausted; B: not bootable)"
    ));
}

#[test]
fn only_entries_with_a_protocol_count() {
    let mut entries = entries();
    entries[0].cmdline = "slot=A".to_string();
    let boot = choose_entry(None, &entries);
    assert_eq!(boot.entry, Some(1));
}
