//! The slot choice, libabr-like, and the metadata edits around it.
//!
//! At each boot the caller reads the metadata ([`crate::meta::pick`]), calls [`choose`] (or
//! [`choose_with`], which verifies lazily), writes [`Choice::write`] if there is one *before*
//! starting any component, and calls [`mark_successful`] once the chosen slot is up.
//!
//! The rules, in order:
//! 1. A pending one-shot trial slot boots if it is usable; the trial is consumed whatever
//!    happens.
//! 2. Otherwise the usable slot with the highest priority boots; a tie goes to A.
//!
//! A slot is *usable* when its priority is above 0 (else [`FallbackReason::NotBootable`]), it
//! is successful or has tries left (else [`FallbackReason::TriesExhausted`]) and its image
//! verifies (else [`FallbackReason::VerificationFailed`]). Booting a slot that is not yet
//! successful spends one try. The slot a boot fell back from gets priority 0. Nothing else
//! changes, so the boot of a committed slot without a trial writes nothing.
use core::fmt;

use crate::meta::{Metadata, Slot, SlotState, MAX_PRIORITY, MAX_TRIES};

/// Why a slot was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    /// Its image does not verify.
    VerificationFailed,
    /// It is not successful and has no tries left.
    TriesExhausted,
    /// Its priority is 0.
    NotBootable,
}

impl fmt::Display for FallbackReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::VerificationFailed => "verification failed",
            Self::TriesExhausted => "tries exhausted",
            Self::NotBootable => "not bootable",
        })
    }
}

/// Why the chosen slot boots, for the log and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// It is the highest-priority slot, and usable.
    Normal,
    /// It is the pending one-shot trial.
    Trial,
    /// The trial slot, or the highest-priority slot, was passed over.
    FellBack {
        /// The slot passed over.
        from: Slot,
        /// Why.
        because: FallbackReason,
    },
    /// It is usable and the boot loader started it, though the rules prefer the other slot
    /// (a boot loader that does not read the metadata, e.g. Limine's menu).
    Selected,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Normal => f.write_str("highest priority"),
            Self::Selected => f.write_str("chosen in the boot loader's menu"),
            Self::Trial => f.write_str("one-shot trial"),
            Self::FellBack { from, because } => write!(f, "fell back from {from} ({because})"),
        }
    }
}

/// The outcome of [`choose`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// The slot to boot.
    pub slot: Slot,
    /// Why.
    pub reason: Reason,
    /// Whether a pending trial was consumed (cleared in [`Choice::write`]).
    pub trial_consumed: bool,
    /// The metadata to write before starting any component, or `None` when nothing changes.
    pub write: Option<Metadata>,
}

/// No slot can boot: why each was passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoBootableSlot {
    /// Why slot A cannot boot.
    pub a: FallbackReason,
    /// Why slot B cannot boot.
    pub b: FallbackReason,
}

impl fmt::Display for NoBootableSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no slot can boot (A: {}; B: {}); reinstall a system slot or rebuild the image",
            self.a, self.b
        )
    }
}

/// Chooses the slot to boot; `verified[i]` says whether slot `i`'s image verifies.
pub fn choose(meta: &Metadata, verified: [bool; 2]) -> Result<Choice, NoBootableSlot> {
    choose_with(meta, |slot| verified[slot.index()])
}

/// Like [`choose`], but verifies on demand: `verify` is called at most once per slot, and
/// only for a slot whose metadata would let it boot and that the rules reach.
pub fn choose_with(
    meta: &Metadata,
    verify: impl FnMut(Slot) -> bool,
) -> Result<Choice, NoBootableSlot> {
    let mut check = Checker {
        meta,
        verify,
        memo: [None; 2],
    };
    if let Some(trial) = meta.trial() {
        if check.why(trial).is_none() {
            return Ok(start(meta, trial, Reason::Trial));
        }
    }
    let order = by_priority(meta);
    let Some(chosen) = order.into_iter().find(|&s| check.why(s).is_none()) else {
        return Err(NoBootableSlot {
            a: check.why(Slot::A).unwrap_or(FallbackReason::NotBootable),
            b: check.why(Slot::B).unwrap_or(FallbackReason::NotBootable),
        });
    };
    let passed = meta.trial().unwrap_or(order[0]);
    let reason = match check.why(passed) {
        Some(because) if passed != chosen => Reason::FellBack {
            from: passed,
            because,
        },
        _ => Reason::Normal,
    };
    Ok(start(meta, chosen, reason))
}

/// Both slots, highest priority first, A first on a tie.
fn by_priority(meta: &Metadata) -> [Slot; 2] {
    if meta.slot(Slot::B).priority() > meta.slot(Slot::A).priority() {
        [Slot::B, Slot::A]
    } else {
        [Slot::A, Slot::B]
    }
}

/// Why each slot cannot boot, verifying at most once per slot.
struct Checker<'a, F> {
    meta: &'a Metadata,
    verify: F,
    memo: [Option<Option<FallbackReason>>; 2],
}

impl<F: FnMut(Slot) -> bool> Checker<'_, F> {
    /// `None` when `slot` is usable, else why not.
    fn why(&mut self, slot: Slot) -> Option<FallbackReason> {
        if let Some(known) = self.memo[slot.index()] {
            return known;
        }
        let state = self.meta.slot(slot);
        let why = unusable_by_state(state)
            .or_else(|| (!(self.verify)(slot)).then_some(FallbackReason::VerificationFailed));
        self.memo[slot.index()] = Some(why);
        why
    }
}

/// The choice of `slot`: consume the trial, spend a try, demote the slot passed over.
/// Why a slot in `state` cannot boot whatever its image: not bootable, or tries exhausted.
pub fn unusable_by_state(state: SlotState) -> Option<FallbackReason> {
    if state.priority() == 0 {
        Some(FallbackReason::NotBootable)
    } else if !state.successful() && state.tries_remaining() == 0 {
        Some(FallbackReason::TriesExhausted)
    } else {
        None
    }
}

/// The choice of `slot` for `reason`, and the metadata to write for it.
pub(crate) fn start(meta: &Metadata, slot: Slot, reason: Reason) -> Choice {
    let mut new = meta.with_trial(None);
    let state = new.slot(slot);
    if !state.successful() {
        let tries = state.tries_remaining().saturating_sub(1);
        new = new.with_slot(slot, state.with_tries(tries));
    }
    if let Reason::FellBack { from, .. } = reason {
        new = new.with_slot(from, new.slot(from).with_priority(0));
    }
    Choice {
        slot,
        reason,
        trial_consumed: meta.trial().is_some(),
        write: (new != *meta).then_some(new),
    }
}

/// The slot came up: it is committed (successful, tries reset to 7). Its priority is
/// unchanged; returns equal metadata when nothing changes, so the write can be skipped.
pub fn mark_successful(meta: &Metadata, slot: Slot) -> Metadata {
    let state = meta.slot(slot).with_successful(true).with_tries(MAX_TRIES);
    meta.with_slot(slot, state)
}

/// libabr's "set active": `slot` gets priority 15 (and, when not successful, 7 tries);
/// the other slot keeps its priority, lowered to 14 if it was 15. The trial is unchanged.
pub fn set_active(meta: &Metadata, slot: Slot) -> Metadata {
    let mut state = meta.slot(slot).with_priority(MAX_PRIORITY);
    if !state.successful() {
        state = state.with_tries(MAX_TRIES);
    }
    let other = meta.slot(slot.other());
    let other = other.with_priority(other.priority().min(MAX_PRIORITY - 1));
    meta.with_slot(slot, state).with_slot(slot.other(), other)
}

/// Asks for one boot of `slot` ignoring priorities; the boot after falls back to the
/// normal choice whatever happens. Nothing else changes: a slot with priority 0 or no
/// tries left is still passed over (reported as a fallback from it).
pub fn set_trial(meta: &Metadata, slot: Slot) -> Metadata {
    meta.with_trial(Some(slot))
}

/// Takes `slot` out of service before its files are overwritten (libabr's "mark
/// unbootable"): priority 0, no tries, not successful, and a trial of it is cancelled.
/// After the update, [`set_active`] (tried up to 7 times) brings it back.
pub fn mark_unbootable(meta: &Metadata, slot: Slot) -> Metadata {
    let trial = meta.trial().filter(|&t| t != slot);
    meta.with_slot(slot, SlotState::UNBOOTABLE)
        .with_trial(trial)
}

#[cfg(test)]
mod tests;
