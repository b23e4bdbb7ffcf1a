//! The slot metadata record (`PGSLOTS1`): per slot a priority, a try budget and a
//! "successful" mark, plus the one-shot trial slot.
//!
//! One copy is one 4096-byte block in the [`crate::block`] frame; the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 24 | 1 | slot A priority: 0 = not bootable, 1..=15, higher first |
//! | 25 | 1 | slot A tries remaining, 0..=7 |
//! | 26 | 1 | slot A successful: 0 or 1 |
//! | 27 | 1 | reserved, zero |
//! | 28 | 4 | slot B, the same four bytes |
//! | 32 | 1 | one-shot trial: 0 = none, 1 = A, 2 = B |
//! | 33 | 7 | reserved, zero |
//! | 40 | 4 | CRC-32C over bytes 0..40 |
//! | 44 | 4052 | zero |
use core::fmt;
use core::str::FromStr;

use crate::block::{self, CopyError, BLOCK_SIZE};

/// The record's magic.
pub const MAGIC: [u8; 8] = *b"PGSLOTS1";
/// The highest priority.
pub const MAX_PRIORITY: u8 = 15;
/// The largest try budget, also the budget [`crate::choose::set_active`] gives.
pub const MAX_TRIES: u8 = 7;
/// The payload's length (bytes 24..40).
const PAYLOAD_LEN: usize = 16;

/// A system slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Slot A, the first (index 0).
    A,
    /// Slot B, the second (index 1).
    B,
}

impl Slot {
    /// Both slots, in index order.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// 0 for A, 1 for B.
    pub const fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }

    /// The other slot.
    pub const fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The slot's byte in the formats: 1 for A, 2 for B (0 means none).
    pub(crate) const fn code(slot: Option<Slot>) -> u8 {
        match slot {
            None => 0,
            Some(Slot::A) => 1,
            Some(Slot::B) => 2,
        }
    }

    /// The inverse of [`Slot::code`]; `Err(())` for a byte above 2.
    pub(crate) const fn from_code(code: u8) -> Result<Option<Slot>, ()> {
        match code {
            0 => Ok(None),
            1 => Ok(Some(Slot::A)),
            2 => Ok(Some(Slot::B)),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// `priority 15, 7 tries left, successful` (or `not yet successful`): the one wording of a
/// slot's state in the stub's, the kernel's and the console's lines.
impl fmt::Display for SlotState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "priority {}, {} tries left, {}",
            self.priority(),
            self.tries_remaining(),
            if self.successful() {
                "successful"
            } else {
                "not yet successful"
            }
        )
    }
}

/// `A: <state>; B: <state>; one-shot trial: none` (or the trial slot).
impl fmt::Display for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "A: {}; B: {}; one-shot trial: ",
            self.slot(Slot::A),
            self.slot(Slot::B)
        )?;
        match self.trial() {
            Some(t) => write!(f, "{t}"),
            None => f.write_str("none"),
        }
    }
}

/// Whether both copies are all zero: the metadata was never written (a new image), so the
/// defaults apply and nothing is wrong.
pub fn never_written(copies: [&[u8]; 2]) -> bool {
    copies.iter().all(|c| c.iter().all(|&b| b == 0))
}

/// A string that names no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseSlotError;

impl fmt::Display for ParseSlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a slot is `A` or `B`")
    }
}

impl FromStr for Slot {
    type Err = ParseSlotError;

    /// Parses `A` or `B` (either case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "A" | "a" => Ok(Slot::A),
            "B" | "b" => Ok(Slot::B),
            _ => Err(ParseSlotError),
        }
    }
}

/// Why slot metadata cannot be built or read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaError {
    /// Neither copy is valid: boot with [`Metadata::default_for`], say so, and write copy 0
    /// with [`block::FIRST_GENERATION`].
    NoValidCopy {
        /// Why copy 0 is invalid.
        copy0: CopyError,
        /// Why copy 1 is invalid.
        copy1: CopyError,
    },
    /// One copy is invalid.
    Copy(CopyError),
    /// An image holds one or two slots.
    SlotCount {
        /// The count asked for.
        count: u8,
    },
    /// A priority above [`MAX_PRIORITY`] or a try budget above [`MAX_TRIES`].
    OutOfRange {
        /// `"priority"` or `"tries"`.
        what: &'static str,
        /// The value given.
        value: u8,
        /// The largest allowed.
        max: u8,
    },
}

impl fmt::Display for MetaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoValidCopy { copy0, copy1 } => write!(
                f,
                "slot metadata: no valid copy (copy 0: {copy0}; copy 1: {copy1}); \
                 booting with the default slots, rewrite the metadata"
            ),
            Self::Copy(e) => write!(f, "slot metadata copy is invalid: {e}"),
            Self::SlotCount { count } => {
                write!(f, "an image holds 1 or 2 system slots, not {count}")
            }
            Self::OutOfRange { what, value, max } => {
                write!(f, "slot {what} {value} is out of range (0..={max})")
            }
        }
    }
}

/// One slot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlotState {
    priority: u8,
    tries_remaining: u8,
    successful: bool,
}

impl SlotState {
    /// Priority 0, no tries, not successful: never booted.
    pub const UNBOOTABLE: SlotState = SlotState {
        priority: 0,
        tries_remaining: 0,
        successful: false,
    };

    /// A slot state; fails on a priority above 15 or tries above 7.
    pub const fn new(priority: u8, tries: u8, successful: bool) -> Result<Self, MetaError> {
        if priority > MAX_PRIORITY {
            return Err(out_of_range("priority", priority, MAX_PRIORITY));
        }
        if tries > MAX_TRIES {
            return Err(out_of_range("tries", tries, MAX_TRIES));
        }
        Ok(SlotState {
            priority,
            tries_remaining: tries,
            successful,
        })
    }

    /// 0 = not bootable, else 1..=15 (higher boots first).
    pub const fn priority(self) -> u8 {
        self.priority
    }

    /// Boots left before a not-yet-successful slot is given up (0..=7).
    pub const fn tries_remaining(self) -> u8 {
        self.tries_remaining
    }

    /// Whether the slot has come up once since it was installed (it is committed).
    pub const fn successful(self) -> bool {
        self.successful
    }

    /// Priority above 0 and either successful or with tries left.
    pub const fn is_bootable(self) -> bool {
        self.priority > 0 && (self.successful || self.tries_remaining > 0)
    }

    /// The same state with another priority (clamped to 15).
    pub(crate) const fn with_priority(self, priority: u8) -> Self {
        let priority = if priority > MAX_PRIORITY {
            MAX_PRIORITY
        } else {
            priority
        };
        SlotState { priority, ..self }
    }

    /// The same state with another try budget (clamped to 7).
    pub(crate) const fn with_tries(self, tries: u8) -> Self {
        let tries_remaining = if tries > MAX_TRIES { MAX_TRIES } else { tries };
        SlotState {
            tries_remaining,
            ..self
        }
    }

    /// The same state marked successful or not.
    pub(crate) const fn with_successful(self, successful: bool) -> Self {
        SlotState { successful, ..self }
    }
}

const fn out_of_range(what: &'static str, value: u8, max: u8) -> MetaError {
    MetaError::OutOfRange { what, value, max }
}

/// The slot metadata: both slots' states and the pending one-shot trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    slots: [SlotState; 2],
    trial: Option<Slot>,
}

impl Metadata {
    /// Metadata from its parts.
    pub const fn new(a: SlotState, b: SlotState, trial: Option<Slot>) -> Self {
        Metadata {
            slots: [a, b],
            trial,
        }
    }

    /// The metadata a fresh image starts with (and the fallback when no copy is valid).
    ///
    /// One slot: A priority 15, successful; B not bootable. Two slots: A priority 15,
    /// B priority 14, both successful. Tries are 7, no trial.
    pub const fn default_for(slots: u8) -> Result<Self, MetaError> {
        let a = SlotState {
            priority: MAX_PRIORITY,
            tries_remaining: MAX_TRIES,
            successful: true,
        };
        let b = match slots {
            1 => SlotState::UNBOOTABLE,
            2 => a.with_priority(MAX_PRIORITY - 1),
            count => return Err(MetaError::SlotCount { count }),
        };
        Ok(Metadata::new(a, b, None))
    }

    /// One slot's state.
    pub const fn slot(&self, slot: Slot) -> SlotState {
        self.slots[slot.index()]
    }

    /// The pending one-shot trial slot.
    pub const fn trial(&self) -> Option<Slot> {
        self.trial
    }

    /// The same metadata with one slot's state replaced.
    pub const fn with_slot(mut self, slot: Slot, state: SlotState) -> Self {
        self.slots[slot.index()] = state;
        self
    }

    /// The same metadata with the trial replaced.
    pub const fn with_trial(mut self, trial: Option<Slot>) -> Self {
        self.trial = trial;
        self
    }

    /// Writes one copy with `generation` into `out` (the whole block).
    pub fn encode(&self, generation: u64, out: &mut [u8; BLOCK_SIZE]) {
        block::seal(out, &MAGIC, generation, PAYLOAD_LEN, |p| {
            for (i, s) in self.slots.iter().enumerate() {
                p[4 * i] = s.priority;
                p[4 * i + 1] = s.tries_remaining;
                p[4 * i + 2] = u8::from(s.successful);
            }
            p[8] = Slot::code(self.trial);
        });
    }

    /// Reads one copy: the metadata and its generation.
    pub fn decode(block: &[u8]) -> Result<(Self, u64), MetaError> {
        decode_copy(block).map_err(MetaError::Copy)
    }
}

/// Reads one copy, failing with the copy's error.
fn decode_copy(block: &[u8]) -> Result<(Metadata, u64), CopyError> {
    let (generation, p) = block::open(block, &MAGIC, PAYLOAD_LEN)?;
    let a = decode_slot(&p[0..4], block::HEADER_LEN)?;
    let b = decode_slot(&p[4..8], block::HEADER_LEN + 4)?;
    let trial = Slot::from_code(p[8]).map_err(|()| CopyError::BadField {
        offset: block::HEADER_LEN + 8,
        what: "trial slot",
    })?;
    block::check_zero(
        block,
        block::HEADER_LEN + 9,
        block::HEADER_LEN + PAYLOAD_LEN,
    )?;
    Ok((Metadata::new(a, b, trial), generation))
}

/// Reads one slot's four bytes at block offset `at`.
fn decode_slot(p: &[u8], at: usize) -> Result<SlotState, CopyError> {
    let bad = |offset, what| CopyError::BadField { offset, what };
    let successful = match p[2] {
        0 => false,
        1 => true,
        _ => return Err(bad(at + 2, "successful flag")),
    };
    if p[3] != 0 {
        return Err(CopyError::NonZero { offset: at + 3 });
    }
    match SlotState::new(p[0], p[1], successful) {
        Ok(state) => Ok(state),
        Err(_) if p[0] > MAX_PRIORITY => Err(bad(at, "priority")),
        Err(_) => Err(bad(at + 1, "tries remaining")),
    }
}

/// Reads both copies: the valid one with the highest generation, its generation, and the
/// index of the copy to overwrite next (with `generation + 1`, see
/// [`block::next_generation`]).
///
/// On [`MetaError::NoValidCopy`] callers boot with [`Metadata::default_for`], log the
/// error, and write copy 0 with [`block::FIRST_GENERATION`].
pub fn pick(copies: [&[u8]; 2]) -> Result<(Metadata, u64, usize), MetaError> {
    block::pick(copies, decode_copy)
        .map_err(|[copy0, copy1]| MetaError::NoValidCopy { copy0, copy1 })
}

/// The two-slot defaults ([`Metadata::default_for`]`(2)`), checked when the crate is built.
pub const TWO_SLOTS: Metadata = match Metadata::default_for(2) {
    Ok(meta) => meta,
    Err(_) => panic!("bootslots has defaults for two slots"),
};

/// What the two copies of a two-slot image's metadata say, defaults included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    /// The valid copy with the highest generation, else [`TWO_SLOTS`].
    pub meta: Metadata,
    /// Its generation; 0 when no copy is valid (the first write is then generation 1).
    pub generation: u64,
    /// The copy to write next (the one not read; copy 0 when none is valid).
    pub write_to: usize,
    /// Why neither copy is valid, unless both are zero (never written: nothing is wrong).
    pub damaged: Option<MetaError>,
}

/// [`pick`], falling back to [`TWO_SLOTS`] as the boot does: the one reading of the metadata
/// that the stub, the kernel, its system calls and the host tools share.
pub fn read(copies: [&[u8]; 2]) -> Read {
    match pick(copies) {
        Ok((meta, generation, write_to)) => Read {
            meta,
            generation,
            write_to,
            damaged: None,
        },
        Err(e) => Read {
            meta: TWO_SLOTS,
            generation: 0,
            write_to: 0,
            damaged: (!never_written(copies)).then_some(e),
        },
    }
}

#[cfg(test)]
mod tests;
