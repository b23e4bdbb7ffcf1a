//! The boot journal (`PGBOOTJ1`): the last 32 boots, newest first.
//!
//! One copy is one 4096-byte block in the [`crate::block`] frame (two copies, the
//! same generation rule as the metadata); the payload:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 24 | 1 | count: records held, 0..=32 |
//! | 25 | 1 | next: the entry the next record goes to, 0..=31 (equal to count until full) |
//! | 26 | 6 | reserved, zero |
//! | 32 | 32 × 72 | entries 0..=31, a ring; unused entries are zero |
//! | 2336 | 4 | CRC-32C over bytes 0..2336 |
//! | 2340 | 1756 | zero |
//!
//! An entry (72 bytes): boot number u32 LE; slot (0 = none, 1 = A, 2 = B); outcome (1
//! started, 2 up, 3 failed, 4 refused, 5 fell back, 6 trial); the slot fallen back from
//! (1 or 2 for "fell back", else 0); the reason's length (0..=64); the reason, UTF-8,
//! zero-padded to 64 bytes.
use core::fmt;

use crate::block::{self, CopyError, BLOCK_SIZE};
use crate::choose::{Choice, Reason};
use crate::meta::Slot;

/// The record's magic.
pub const MAGIC: [u8; 8] = *b"PGBOOTJ1";
/// Records kept.
pub const CAPACITY: usize = 32;
/// The longest reason text, in bytes.
pub const REASON_MAX: usize = 64;
/// One entry's size.
const ENTRY_LEN: usize = 8 + REASON_MAX;
/// The payload's length (bytes 24..2336).
const PAYLOAD_LEN: usize = 8 + CAPACITY * ENTRY_LEN;

/// What became of a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Chosen normally and started; not (yet) known to be up. A newest record left at this
    /// after a reboot means that boot never came up (crash, hang or power cut).
    Started,
    /// Came up: every component started.
    Up,
    /// Started, then failed (the reason says where).
    Failed,
    /// Refused to boot: no slot could.
    Refused,
    /// Booted after passing over another slot.
    FellBack {
        /// The slot passed over.
        from: Slot,
    },
    /// Booted as the one-shot trial.
    Trial,
}

impl Outcome {
    /// The outcome's code and the "from" slot's code.
    const fn codes(self) -> (u8, u8) {
        match self {
            Self::Started => (1, 0),
            Self::Up => (2, 0),
            Self::Failed => (3, 0),
            Self::Refused => (4, 0),
            Self::FellBack { from } => (5, Slot::code(Some(from))),
            Self::Trial => (6, 0),
        }
    }

    /// The inverse of [`Outcome::codes`].
    fn from_codes(code: u8, from: u8) -> Option<Self> {
        match (code, from) {
            (1, 0) => Some(Self::Started),
            (2, 0) => Some(Self::Up),
            (3, 0) => Some(Self::Failed),
            (4, 0) => Some(Self::Refused),
            (5, _) => Slot::from_code(from)
                .ok()
                .flatten()
                .map(|from| Self::FellBack { from }),
            (6, 0) => Some(Self::Trial),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Started => f.write_str("started"),
            Self::Up => f.write_str("up"),
            Self::Failed => f.write_str("failed"),
            Self::Refused => f.write_str("refused"),
            Self::FellBack { from } => write!(f, "fell back from {from}"),
            Self::Trial => f.write_str("one-shot trial"),
        }
    }
}

/// A reason text of at most 64 bytes; longer text is cut at a character boundary.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Text {
    len: u8,
    bytes: [u8; REASON_MAX],
}

impl Text {
    const EMPTY: Text = Text {
        len: 0,
        bytes: [0; REASON_MAX],
    };

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Write for Text {
    /// Appends the characters that still fit; the rest is dropped, not an error.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let at = usize::from(self.len);
            let Some(room) = self.bytes.get_mut(at..at + c.len_utf8()) else {
                break;
            };
            c.encode_utf8(room);
            self.len += u8::try_from(c.len_utf8()).unwrap_or(4);
        }
        Ok(())
    }
}

/// One boot's record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Record {
    boot: u32,
    slot: Option<Slot>,
    outcome: Outcome,
    reason: Text,
}

impl Record {
    const EMPTY: Record = Record {
        boot: 0,
        slot: None,
        outcome: Outcome::Started,
        reason: Text::EMPTY,
    };

    /// A record; the reason is written with `Display` and cut to 64 bytes.
    pub fn new(boot: u32, slot: Option<Slot>, outcome: Outcome, reason: impl fmt::Display) -> Self {
        let mut text = Text::EMPTY;
        // `Text` never fails; a failing `Display` leaves what it wrote so far.
        let _ = fmt::write(&mut text, format_args!("{reason}"));
        Record {
            boot,
            slot,
            outcome,
            reason: text,
        }
    }

    /// The record of a slot choice: started, trial or fell back, with the fallback's
    /// reason (`tries exhausted`, …) as text.
    pub fn for_choice(boot: u32, choice: &Choice) -> Self {
        let slot = Some(choice.slot);
        match choice.reason {
            Reason::Normal => Self::new(boot, slot, Outcome::Started, ""),
            Reason::Selected => Self::new(boot, slot, Outcome::Started, choice.reason),
            Reason::Trial => Self::new(boot, slot, Outcome::Trial, ""),
            Reason::FellBack { from, because } => {
                Self::new(boot, slot, Outcome::FellBack { from }, because)
            }
        }
    }

    /// The boot number.
    pub const fn boot(&self) -> u32 {
        self.boot
    }

    /// The slot booted, if any.
    pub const fn slot(&self) -> Option<Slot> {
        self.slot
    }

    /// What became of the boot.
    pub const fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The reason text (may be empty).
    pub fn reason(&self) -> &str {
        self.reason.as_str()
    }
}

impl fmt::Display for Record {
    /// One line: `#12 slot B: fell back from A (tries exhausted)`, `#13: refused (…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.slot {
            Some(slot) => write!(f, "#{} slot {slot}: {}", self.boot, self.outcome)?,
            None => write!(f, "#{}: {}", self.boot, self.outcome)?,
        }
        match self.reason() {
            "" => Ok(()),
            reason => write!(f, " ({reason})"),
        }
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Record({self})")
    }
}

/// Why the journal cannot be read or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalError {
    /// Neither copy is valid: start an empty journal and write copy 0 with
    /// [`block::FIRST_GENERATION`].
    NoValidCopy {
        /// Why copy 0 is invalid.
        copy0: CopyError,
        /// Why copy 1 is invalid.
        copy1: CopyError,
    },
    /// One copy is invalid.
    Copy(CopyError),
    /// The journal holds no record to update.
    Empty,
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoValidCopy { copy0, copy1 } => write!(
                f,
                "boot journal: no valid copy (copy 0: {copy0}; copy 1: {copy1}); \
                 starting an empty journal"
            ),
            Self::Copy(e) => write!(f, "boot journal copy is invalid: {e}"),
            Self::Empty => f.write_str("boot journal is empty: push this boot's record first"),
        }
    }
}

/// The last 32 boots.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Journal {
    entries: [Record; CAPACITY],
    count: u8,
    next: u8,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl Journal {
    /// An empty journal.
    pub const fn new() -> Self {
        Journal {
            entries: [Record::EMPTY; CAPACITY],
            count: 0,
            next: 0,
        }
    }

    /// Records held (0..=32).
    pub const fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record is held.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds a record as the newest, dropping the oldest when 32 are held.
    pub fn push(&mut self, record: Record) {
        self.entries[usize::from(self.next)] = record;
        self.next = (self.next + 1) % CAPACITY as u8;
        self.count = (self.count + 1).min(CAPACITY as u8);
    }

    /// The records, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Record> + '_ {
        (0..self.len()).map(move |i| &self.entries[self.ring_index(i)])
    }

    /// The newest record.
    pub fn newest(&self) -> Option<&Record> {
        self.iter().next()
    }

    /// The number for this boot: one more than the newest record's (1 when empty).
    pub fn next_boot_number(&self) -> u32 {
        self.newest().map_or(1, |r| r.boot.wrapping_add(1))
    }

    /// Replaces the newest record's outcome and reason (e.g. `Started` → `Up`).
    pub fn update_newest(
        &mut self,
        outcome: Outcome,
        reason: impl fmt::Display,
    ) -> Result<(), JournalError> {
        let Some(newest) = self.newest() else {
            return Err(JournalError::Empty);
        };
        let record = Record::new(newest.boot, newest.slot, outcome, reason);
        let at = self.ring_index(0);
        self.entries[at] = record;
        Ok(())
    }

    /// The entry index of the `i`th newest record.
    fn ring_index(&self, i: usize) -> usize {
        (usize::from(self.next) + 2 * CAPACITY - 1 - i) % CAPACITY
    }

    /// Writes one copy with `generation` into `out` (the whole block).
    pub fn encode(&self, generation: u64, out: &mut [u8; BLOCK_SIZE]) {
        block::seal(out, &MAGIC, generation, PAYLOAD_LEN, |p| {
            p[0] = self.count;
            p[1] = self.next;
            for i in 0..self.len() {
                let at = self.ring_index(i);
                encode_entry(&self.entries[at], &mut p[8 + at * ENTRY_LEN..][..ENTRY_LEN]);
            }
        });
    }

    /// Reads one copy: the journal and its generation.
    pub fn decode(block: &[u8]) -> Result<(Self, u64), JournalError> {
        decode_copy(block).map_err(JournalError::Copy)
    }
}

/// Writes one entry into its 72 (zeroed) bytes.
fn encode_entry(r: &Record, e: &mut [u8]) {
    let (code, from) = r.outcome.codes();
    e[..4].copy_from_slice(&r.boot.to_le_bytes());
    e[4] = Slot::code(r.slot);
    e[5] = code;
    e[6] = from;
    e[7] = r.reason.len;
    e[8..].copy_from_slice(&r.reason.bytes);
}

/// Reads one copy, failing with the copy's error.
fn decode_copy(bytes: &[u8]) -> Result<(Journal, u64), CopyError> {
    let (generation, p) = block::open(bytes, &MAGIC, PAYLOAD_LEN)?;
    let bad = |offset, what| CopyError::BadField { offset, what };
    let (count, next) = (p[0], p[1]);
    let in_ring = usize::from(next) < CAPACITY;
    if !in_ring || (usize::from(count) != CAPACITY && count != next) {
        return Err(bad(block::HEADER_LEN, "record count"));
    }
    block::check_zero(bytes, block::HEADER_LEN + 2, block::HEADER_LEN + 8)?;
    let mut journal = Journal {
        entries: [Record::EMPTY; CAPACITY],
        count,
        next,
    };
    let mut used = [false; CAPACITY];
    for i in 0..journal.len() {
        used[journal.ring_index(i)] = true;
    }
    for (at, used) in used.into_iter().enumerate() {
        let start = block::HEADER_LEN + 8 + at * ENTRY_LEN;
        if used {
            journal.entries[at] = decode_entry(&bytes[start..start + ENTRY_LEN], start)?;
        } else {
            block::check_zero(bytes, start, start + ENTRY_LEN)?;
        }
    }
    Ok((journal, generation))
}

/// Reads one entry starting at block offset `at`.
fn decode_entry(e: &[u8], at: usize) -> Result<Record, CopyError> {
    let bad = |offset, what| CopyError::BadField { offset, what };
    let slot = Slot::from_code(e[4]).map_err(|()| bad(at + 4, "slot"))?;
    let outcome = Outcome::from_codes(e[5], e[6]).ok_or(bad(at + 5, "outcome"))?;
    let len = usize::from(e[7]);
    if len > REASON_MAX {
        return Err(bad(at + 7, "reason length"));
    }
    let text = &e[8..8 + len];
    if core::str::from_utf8(text).is_err() {
        return Err(bad(at + 8, "reason text (not UTF-8)"));
    }
    block::check_zero(e, 8 + len, ENTRY_LEN).map_err(|_| bad(at + 8 + len, "reason padding"))?;
    let mut bytes = [0; REASON_MAX];
    bytes.copy_from_slice(&e[8..]);
    let boot = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
    let reason = Text { len: e[7], bytes };
    Ok(Record {
        boot,
        slot,
        outcome,
        reason,
    })
}

/// Reads both copies: the valid one with the highest generation, its generation, and the
/// index of the copy to overwrite next.
pub fn pick(copies: [&[u8]; 2]) -> Result<(Journal, u64, usize), JournalError> {
    block::pick(copies, decode_copy)
        .map_err(|[copy0, copy1]| JournalError::NoValidCopy { copy0, copy1 })
}

#[cfg(test)]
mod tests;
