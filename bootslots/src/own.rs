//! The rules as one slot's kernel applies them: it can start only its own slot.
//!
//! The boot stub reads the metadata and starts the chosen slot's kernel, but it does not
//! verify images; real Limine does not read the metadata at all. So each kernel judges its
//! own slot ([`judge`]) with its own verification result:
//! - usable: it boots, writing what [`crate::choose`] writes for it (a try spent if not yet
//!   successful, a consumed trial cleared, a passed-over slot demoted);
//! - not usable while the other slot is: it demotes itself (priority 0) and leaves — the
//!   caller resets so the stub starts the other slot (with a boot loader that cannot, it
//!   stops and says which menu entry to pick);
//! - neither usable: it refuses, writing nothing.

use crate::choose::{self, unusable_by_state, Choice, FallbackReason, NoBootableSlot, Reason};
use crate::meta::{Metadata, Slot};

/// What a kernel booted as one slot does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Boot this slot: write `choice.write` first. `trial`: the slot is not yet successful
    /// or this is the one-shot trial, so a boot that does not come up resets the machine
    /// (the next boot chooses again).
    Boot {
        /// The choice of this slot and the metadata to write.
        choice: Choice,
        /// Whether a boot that does not come up resets.
        trial: bool,
    },
    /// This slot cannot boot (`because`), the other can: write `write`, then leave.
    Leave {
        /// Why this slot cannot boot.
        because: FallbackReason,
        /// The slot that boots next.
        to: Slot,
        /// This slot demoted (`None`: already priority 0).
        write: Option<Metadata>,
    },
    /// No slot can boot.
    Refuse(NoBootableSlot),
}

/// Judges slot `me`, whose image verified (`verified`) or not, under `meta`. The other
/// slot's image is assumed to verify: its own kernel checks it when it boots.
pub fn judge(meta: &Metadata, me: Slot, verified: bool) -> Verdict {
    let why = |slot: Slot, verified: bool| {
        unusable_by_state(meta.slot(slot))
            .or_else(|| (!verified).then_some(FallbackReason::VerificationFailed))
    };
    let trial = meta.trial() == Some(me) || !meta.slot(me).successful();
    match (why(me, verified), why(me.other(), true)) {
        (None, _) => {
            let preferred = choose::choose_with(meta, |s| s != me || verified);
            let choice = match preferred {
                Ok(c) if c.slot == me => c,
                _ => choose::start(meta, me, Reason::Selected),
            };
            Verdict::Boot { choice, trial }
        }
        (Some(because), None) => {
            let demoted = meta.with_slot(me, meta.slot(me).with_priority(0));
            Verdict::Leave {
                because,
                to: me.other(),
                write: (demoted != *meta).then_some(demoted),
            }
        }
        (Some(a), Some(b)) => Verdict::Refuse(match me {
            Slot::A => NoBootableSlot { a, b },
            Slot::B => NoBootableSlot { a: b, b: a },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::SlotState;
    use Slot::{A, B};

    fn state(priority: u8, tries: u8, successful: bool) -> SlotState {
        SlotState::new(priority, tries, successful).unwrap()
    }

    fn meta(a: SlotState, b: SlotState, trial: Option<Slot>) -> Metadata {
        Metadata::new(a, b, trial)
    }

    #[test]
    fn a_committed_slot_boots_without_writing() {
        let m = Metadata::default_for(2).unwrap();
        for me in [A, B] {
            let Verdict::Boot { choice, trial } = judge(&m, me, true) else {
                panic!("{me} must boot");
            };
            assert_eq!((choice.slot, choice.write, trial), (me, None, false));
        }
        // B is not the highest priority: started from a menu, it says so.
        let Verdict::Boot { choice, .. } = judge(&m, B, true) else {
            unreachable!()
        };
        assert_eq!(choice.reason, Reason::Selected);
    }

    #[test]
    fn a_slot_on_trial_spends_a_try_and_counts_as_trial() {
        let m = meta(state(15, 3, false), state(14, 7, true), None);
        let Verdict::Boot { choice, trial } = judge(&m, A, true) else {
            panic!()
        };
        assert!(trial);
        assert_eq!(choice.write.unwrap().slot(A).tries_remaining(), 2);
        // The one-shot trial of a successful slot is a trial too, and is cleared.
        let m = meta(state(15, 7, true), state(14, 7, true), Some(B));
        let Verdict::Boot { choice, trial } = judge(&m, B, true) else {
            panic!()
        };
        assert!(trial);
        assert_eq!(choice.reason, Reason::Trial);
        assert_eq!(choice.write, Some(m.with_trial(None)));
    }

    #[test]
    fn an_unusable_slot_demotes_itself_and_leaves() {
        let m = Metadata::default_for(2).unwrap();
        assert_eq!(
            judge(&m, A, false),
            Verdict::Leave {
                because: FallbackReason::VerificationFailed,
                to: B,
                write: Some(m.with_slot(A, m.slot(A).with_priority(0))),
            }
        );
        let m = meta(state(15, 0, false), state(14, 7, true), None);
        let Verdict::Leave { because, write, .. } = judge(&m, A, true) else {
            panic!()
        };
        assert_eq!(because, FallbackReason::TriesExhausted);
        assert_eq!(write.unwrap().slot(A).priority(), 0);
        // Already priority 0: nothing to write.
        let m = meta(state(0, 0, false), state(14, 7, true), None);
        assert!(matches!(
            judge(&m, A, true),
            Verdict::Leave { write: None, .. }
        ));
    }

    #[test]
    fn neither_slot_usable_refuses_naming_both() {
        let m = meta(state(0, 0, false), state(14, 0, false), None);
        assert_eq!(
            judge(&m, B, true),
            Verdict::Refuse(NoBootableSlot {
                a: FallbackReason::NotBootable,
                b: FallbackReason::TriesExhausted,
            })
        );
    }

    #[test]
    fn agrees_with_choose_when_the_stub_started_the_chosen_slot() {
        // Every state: if `choose` (what the stub runs, all images assumed good) picks a slot
        // whose image verifies, that slot's kernel boots it with the same write.
        for a in 0..=15u8 {
            for t in 0..=7u8 {
                for s in [false, true] {
                    for trial in [None, Some(A), Some(B)] {
                        let m = meta(state(a, t, s), state(14, 3, false), trial);
                        let Ok(c) = choose::choose(&m, [true, true]) else {
                            continue;
                        };
                        let Verdict::Boot { choice, .. } = judge(&m, c.slot, true) else {
                            panic!("{m:?}: {} must boot", c.slot);
                        };
                        assert_eq!(choice, c, "{m:?}");
                    }
                }
            }
        }
    }
}
