//! A/B system slots at boot: which limine.conf entry the boot stub boots on a two-slot image.
//!
//! The stub reads the image disk's block 0; when it is a two-slot image's ([`meta_blocks`]),
//! it reads the two copies of the slot metadata and calls [`choose_entry`], which picks the
//! metadata (`bootslots::meta::pick`, the defaults when neither copy is valid), chooses the slot
//! (`bootslots::choose`, every image taken as verifying: the kernel verifies its own slot,
//! demotes it and resets when it fails) and finds the entry whose cmdline names the slot
//! (`slot=A` / `slot=B`). The stub never writes the metadata: the kernel does.
//!
//! Anything else — no image disk, a one-slot image, no entry naming the slot — boots the first
//! entry, as before slots existed. See `docs/bootstub.md` and `docs/slots.md`.

use core::fmt;

use abi::userdata::SLOT_META_BLOCKS;
use bootslots::choose::{choose, NoBootableSlot, Reason};
use bootslots::meta::{self, MetaError, Metadata, Slot};
use loader::Superblock;

use crate::config::Entry;

/// Size of the blocks [`meta_blocks`] counts (the image's and the user-data region's).
pub const BLOCK_SIZE: usize = loader::BLOCK_SIZE;

/// The disk blocks ([`BLOCK_SIZE`] bytes each) holding the slot metadata's two copies, when
/// `block0` is a two-slot image's block 0 (a valid superblock with a slot table); `None` for
/// anything else: not an image, a damaged block 0, a one-slot image.
pub fn meta_blocks(block0: &[u8]) -> Option<[u64; 2]> {
    let sb = Superblock::decode(block0).ok()?;
    sb.slots?;
    let at = |i: usize| sb.data_start.checked_add(SLOT_META_BLOCKS[i]);
    Some([at(0)?, at(1)?])
}

/// Where the metadata the choice was made on came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaSource {
    /// A valid copy with this generation.
    Read {
        /// The copy's generation.
        generation: u64,
    },
    /// Both copies are zero (never written, a new image): the two-slot defaults.
    NeverWritten,
    /// Neither copy is valid: the two-slot defaults.
    Damaged(MetaError),
    /// The blocks could not be read: the two-slot defaults.
    Unreadable,
}

/// What the stub boots on a two-slot image, and the line it logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotBoot {
    /// Index in `Config::entries` of the entry to boot; `None`: the first entry with a
    /// protocol, as on a one-slot image.
    pub entry: Option<usize>,
    /// The slot whose entry was sought: the chosen one, or A when no slot can boot.
    pub slot: Slot,
    /// Why that slot, or why none can boot (its kernel then refuses).
    pub choice: Result<Reason, NoBootableSlot>,
    /// The metadata as read (or the defaults).
    pub meta: Metadata,
    /// Where [`SlotBoot::meta`] came from.
    pub source: MetaSource,
}

/// Chooses the entry to boot from the metadata's two copies (`None`: they could not be read)
/// and the config's entries (only entries with a `protocol` count).
pub fn choose_entry(copies: Option<[&[u8]; 2]>, entries: &[Entry]) -> SlotBoot {
    let (meta, source) = read_meta(copies);
    let (slot, choice) = match choose(&meta, [true, true]) {
        Ok(c) => (c.slot, Ok(c.reason)),
        Err(none) => (Slot::A, Err(none)),
    };
    let entry = entries
        .iter()
        .position(|e| e.protocol.is_some() && bootslots::cmdline_slot(&e.cmdline) == Some(slot));
    SlotBoot {
        entry,
        slot,
        choice,
        meta,
        source,
    }
}

/// The metadata to choose on: the valid copy with the highest generation, else the defaults.
fn read_meta(copies: Option<[&[u8]; 2]>) -> (Metadata, MetaSource) {
    let source = match copies.map(meta::pick) {
        Some(Ok((meta, generation, _))) => return (meta, MetaSource::Read { generation }),
        Some(Err(_)) if copies.is_some_and(meta::never_written) => MetaSource::NeverWritten,
        Some(Err(e)) => MetaSource::Damaged(e),
        None => MetaSource::Unreadable,
    };
    (meta::TWO_SLOTS, source)
}

impl SlotBoot {
    /// Whether the line reports a problem (no slot can boot, no entry for the slot, metadata
    /// damaged or unreadable): the stub then logs it as an error, on serial always.
    pub fn is_problem(&self) -> bool {
        self.choice.is_err()
            || self.entry.is_none()
            || !matches!(
                self.source,
                MetaSource::Read { .. } | MetaSource::NeverWritten
            )
    }
}

/// The log line, without the `bootstub: ` prefix: what boots and why, both slots' state, and
/// what was wrong with the metadata if anything.
impl fmt::Display for SlotBoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let slot = self.slot;
        match (&self.choice, self.entry.is_some()) {
            (Ok(reason), true) => write!(f, "slots: booting slot {slot} ({reason})")?,
            (Err(none), true) => write!(
                f,
                "slots: booting slot {slot}, whose kernel will refuse: {none}"
            )?,
            (Ok(reason), false) => write!(
                f,
                "slots: slot {slot} chosen ({reason}), but no entry's cmdline has {}={slot}; booting the first entry",
                bootslots::CMDLINE_KEY
            )?,
            (Err(none), false) => write!(
                f,
                "slots: {none}; no entry's cmdline has {}={slot}; booting the first entry",
                bootslots::CMDLINE_KEY
            )?,
        }
        write!(f, "; {}", self.meta)?;
        match self.source {
            MetaSource::Read { .. } => Ok(()),
            MetaSource::NeverWritten => {
                f.write_str("; slot metadata not written yet: the defaults")
            }
            MetaSource::Damaged(e) => write!(f, "; {e}"),
            MetaSource::Unreadable => {
                f.write_str("; slot metadata: cannot be read; booting with the default slots")
            }
        }
    }
}

#[cfg(test)]
mod tests;
