//! SLOTS and SLOT_SET: the A/B slot metadata (`bootslots::meta`, two copies in the kernel's
//! user-data blocks [`abi::userdata::SLOT_META_BLOCKS`]) shown as text, and changed by
//! `set_active` or `set_trial`.
//!
//! A change follows the two-copy rule (`docs/slots.md`): read both copies, pick the valid one
//! with the higher generation, write the next generation into the *other* copy and flush, so a
//! power cut leaves the previous state readable. Pure but for the [`UserDataStore`] it is
//! given; host-tested on a RAM disk.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use abi::{SlotAction, SlotId};
use bootslots::{Metadata, Slot, SlotState};
use loader::superblock::BLOCK_SIZE;

use super::UserDataStore;
use crate::userdata::RegionError;

/// Region-relative blocks of the two copies.
pub const BLOCKS: [u64; 2] = abi::userdata::SLOT_META_BLOCKS;

/// Why SLOTS or SLOT_SET failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotCallError {
    /// The image has one system slot: the boot path named no booted slot.
    OneSlot,
    /// No user-data region was handed to the process core: no metadata to read.
    NoRegion,
    /// Reading or writing a copy failed.
    Region(RegionError),
}

impl SlotCallError {
    /// The ABI's error for it: [`abi::Error::NotFound`] for a one-slot image (the console
    /// says so), [`abi::Error::Unsupported`] when the metadata cannot be reached.
    pub const fn to_abi(self) -> abi::Error {
        match self {
            Self::OneSlot => abi::Error::NotFound,
            Self::NoRegion | Self::Region(_) => abi::Error::Unsupported,
        }
    }
}

impl From<RegionError> for SlotCallError {
    fn from(e: RegionError) -> Self {
        Self::Region(e)
    }
}

impl fmt::Display for SlotCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OneSlot => f.write_str("this image has one system slot"),
            Self::NoRegion => f.write_str("no user-data region: the slot metadata is out of reach"),
            Self::Region(e) => write!(f, "slot metadata: {e}"),
        }
    }
}

/// The metadata as read from the two copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The state (the two-slot defaults when no copy is valid).
    pub meta: Metadata,
    /// The generation of the copy read; `None` when neither copy is valid.
    pub generation: Option<u64>,
    /// Index into [`BLOCKS`] of the copy the next write replaces (the other one).
    pub write_to: usize,
}

impl Stored {
    /// The state in `copies` (copy 0, copy 1), by `bootslots::meta::read` (the two-slot
    /// defaults when neither copy is valid, as the boot uses).
    pub fn from_copies(copies: &[[u8; BLOCK_SIZE]]) -> Stored {
        let copy = |i: usize| copies.get(i).map_or(&[][..], |c| &c[..]);
        let read = bootslots::meta::read([copy(0), copy(1)]);
        Stored {
            meta: read.meta,
            // Generations start at 1: 0 means no valid copy.
            generation: (read.generation != 0).then_some(read.generation),
            write_to: read.write_to,
        }
    }
}

/// The bootslots slot an ABI slot number names.
pub const fn slot_of(id: SlotId) -> Slot {
    match id {
        SlotId::A => Slot::A,
        SlotId::B => Slot::B,
    }
}

/// `meta` after `action` on `slot` (`bootslots::choose::set_active`, `set_trial` or
/// `mark_unbootable`).
pub fn apply(meta: &Metadata, action: SlotAction, slot: Slot) -> Metadata {
    match action {
        SlotAction::SetActive => bootslots::choose::set_active(meta, slot),
        SlotAction::Try => bootslots::choose::set_trial(meta, slot),
        SlotAction::MarkUnbootable => bootslots::choose::mark_unbootable(meta, slot),
    }
}

/// The text SLOTS and SLOT_SET return: one line per slot, the trial and the generation
/// (`None`: no valid copy, the defaults shown), joined with `\n`.
pub fn render(meta: &Metadata, booted: Slot, generation: Option<u64>) -> String {
    let mut lines: Vec<String> = Slot::ALL
        .iter()
        .map(|&slot| slot_line(slot, meta.slot(slot), slot == booted))
        .collect();
    lines.push(match meta.trial() {
        Some(slot) => format!("one-shot trial: {slot}"),
        None => String::from("one-shot trial: none"),
    });
    lines.push(match generation {
        Some(g) => format!("metadata generation {g}"),
        None => String::from("metadata: no valid copy; these are the two-slot defaults"),
    });
    lines.join("\n")
}

/// `slot A: priority 15, 7 tries left, successful (booted now)`.
fn slot_line(slot: Slot, state: SlotState, booted: bool) -> String {
    let priority = state.priority();
    let unbootable = if priority == 0 { " (not bootable)" } else { "" };
    let tries = state.tries_remaining();
    let plural = if tries == 1 { "try" } else { "tries" };
    let successful = if state.successful() {
        "successful"
    } else {
        "not yet successful"
    };
    let now = if booted { " (booted now)" } else { "" };
    format!(
        "slot {slot}: priority {priority}{unbootable}, {tries} {plural} left, {successful}{now}"
    )
}

/// Reads both copies.
fn read_copies(store: &mut dyn UserDataStore) -> Result<Vec<[u8; BLOCK_SIZE]>, RegionError> {
    // On the heap: a syscall runs on a 128 KiB kernel stack.
    let mut copies = vec![[0u8; BLOCK_SIZE]; 2];
    for (copy, block) in copies.iter_mut().zip(BLOCKS) {
        store.read_kernel_block(block, copy)?;
    }
    Ok(copies)
}

/// SLOTS: the state as it is stored now.
///
/// # Errors
/// [`SlotCallError::OneSlot`] when `booted` is `None` (checked first), then
/// [`SlotCallError::NoRegion`] without a store, or a read error.
pub fn show(
    store: Option<&mut dyn UserDataStore>,
    booted: Option<Slot>,
) -> Result<String, SlotCallError> {
    let booted = booted.ok_or(SlotCallError::OneSlot)?;
    let store = store.ok_or(SlotCallError::NoRegion)?;
    let stored = Stored::from_copies(&read_copies(store)?);
    Ok(render(&stored.meta, booted, stored.generation))
}

/// SLOT_SET: applies `action` to `slot`, writes the next generation into the other copy
/// (flushed) and returns the new state. Nothing is written when the state does not change
/// and a valid copy already holds it.
///
/// # Errors
/// As [`show`], or a write error (the state read stays in force).
pub fn set(
    store: Option<&mut dyn UserDataStore>,
    booted: Option<Slot>,
    action: SlotAction,
    slot: SlotId,
) -> Result<String, SlotCallError> {
    update(store, booted, |meta| apply(meta, action, slot_of(slot)))
}

/// Reads the metadata as stored now, applies `edit`, writes the result as the next generation
/// into the other copy (flushed; nothing when unchanged and a valid copy holds it) and
/// returns the new state's text. Shared by SLOT_SET and the boot path's commit, so a change
/// made from the console before the commit is not overwritten.
///
/// # Errors
/// As [`show`], or a write error (the state read stays in force).
pub fn update(
    store: Option<&mut dyn UserDataStore>,
    booted: Option<Slot>,
    edit: impl FnOnce(&Metadata) -> Metadata,
) -> Result<String, SlotCallError> {
    let booted = booted.ok_or(SlotCallError::OneSlot)?;
    let store = store.ok_or(SlotCallError::NoRegion)?;
    let mut copies = read_copies(store)?;
    let stored = Stored::from_copies(&copies);
    let next = edit(&stored.meta);
    let generation = match stored.generation {
        Some(g) if next == stored.meta => g,
        read => {
            let generation = bootslots::block::next_generation(read.unwrap_or(0));
            // The buffer of the copy being replaced holds the new one.
            let block = &mut copies[stored.write_to];
            next.encode(generation, block);
            store.write_kernel_block(BLOCKS[stored.write_to], block)?;
            generation
        }
    };
    Ok(render(&next, booted, Some(generation)))
}

#[cfg(test)]
mod tests;
