//! Tests of the slot choice: examples of each rule, then every metadata state checked
//! against the invariants, including replays after a power cut.
use super::*;

const A: Slot = Slot::A;
const B: Slot = Slot::B;

fn st(priority: u8, tries: u8, successful: bool) -> SlotState {
    SlotState::new(priority, tries, successful).expect("in range")
}

fn meta(a: SlotState, b: SlotState, trial: Option<Slot>) -> Metadata {
    Metadata::new(a, b, trial)
}

/// Every slot state: priorities 0..=15, tries 0..=7, successful or not.
fn all_states() -> impl Iterator<Item = SlotState> {
    (0..=MAX_PRIORITY)
        .flat_map(|p| (0..=MAX_TRIES).flat_map(move |t| [false, true].map(|s| st(p, t, s))))
}

/// Calls `check` with every metadata (both slots, every trial) and every verified pair.
fn for_every_case(mut check: impl FnMut(&Metadata, [bool; 2])) {
    for a in all_states() {
        for b in all_states() {
            for trial in [None, Some(A), Some(B)] {
                for verified in [[false, false], [false, true], [true, false], [true, true]] {
                    check(&meta(a, b, trial), verified);
                }
            }
        }
    }
}

fn usable(m: &Metadata, slot: Slot, verified: [bool; 2]) -> bool {
    m.slot(slot).is_bootable() && verified[slot.index()]
}

#[test]
fn a_committed_slot_boots_without_a_write() {
    let m = Metadata::default_for(2).unwrap();
    let c = choose(&m, [true, true]).unwrap();
    assert_eq!(
        (c.slot, c.reason, c.write, c.trial_consumed),
        (A, Reason::Normal, None, false)
    );
}

#[test]
fn a_failed_verification_falls_back_and_demotes() {
    let m = Metadata::default_for(2).unwrap();
    let c = choose(&m, [false, true]).unwrap();
    let because = FallbackReason::VerificationFailed;
    assert_eq!(c.reason, Reason::FellBack { from: A, because });
    assert_eq!(
        c.reason.to_string(),
        "fell back from A (verification failed)"
    );
    assert_eq!(c.write, Some(m.with_slot(A, st(0, 7, true))));
}

#[test]
fn an_update_is_tried_then_given_up() {
    let m = set_active(&mark_unbootable(&Metadata::default_for(2).unwrap(), B), B);
    assert_eq!(m.slot(B), st(15, 7, false));
    assert_eq!(m.slot(A), st(14, 7, true));
    let mut m = m;
    for left in (0..7).rev() {
        let c = choose(&m, [true, true]).unwrap();
        assert_eq!((c.slot, c.reason), (B, Reason::Normal));
        m = c.write.expect("a try is spent");
        assert_eq!(m.slot(B).tries_remaining(), left);
    }
    let c = choose(&m, [true, true]).unwrap();
    let because = FallbackReason::TriesExhausted;
    assert_eq!(
        (c.slot, c.reason),
        (A, Reason::FellBack { from: B, because })
    );
    let m = c.write.unwrap();
    assert_eq!(m.slot(B).priority(), 0);
    assert_eq!(choose(&m, [true, true]).unwrap().write, None);
}

#[test]
fn an_update_that_comes_up_is_committed() {
    let m = set_active(&Metadata::default_for(2).unwrap(), B);
    let m = mark_unbootable(&m, B);
    let m = set_active(&m, B);
    let c = choose(&m, [true, true]).unwrap();
    let m = mark_successful(&c.write.unwrap(), B);
    assert_eq!(m.slot(B), st(15, 7, true));
    assert_eq!(mark_successful(&m, B), m);
    assert_eq!(choose(&m, [true, true]).unwrap().write, None);
}

#[test]
fn a_trial_boots_once() {
    let m = Metadata::new(st(15, 7, true), st(1, 3, false), None);
    let m = set_trial(&m, B);
    let c = choose(&m, [true, true]).unwrap();
    assert_eq!(
        (c.slot, c.reason, c.trial_consumed),
        (B, Reason::Trial, true)
    );
    let after = c.write.unwrap();
    assert_eq!(after, meta(st(15, 7, true), st(1, 2, false), None));
    assert_eq!(choose(&after, [true, true]).unwrap().slot, A);
}

#[test]
fn a_trial_of_an_unbootable_slot_falls_back() {
    let m = set_trial(&Metadata::default_for(1).unwrap(), B);
    let c = choose(&m, [true, false]).unwrap();
    let because = FallbackReason::NotBootable;
    assert_eq!(
        (c.slot, c.reason),
        (A, Reason::FellBack { from: B, because })
    );
    assert_eq!(c.write, Some(Metadata::default_for(1).unwrap()));
    assert_eq!(mark_unbootable(&m, B), Metadata::default_for(1).unwrap());
}

#[test]
fn nothing_bootable() {
    let m = Metadata::default_for(1).unwrap();
    let e = choose(&m, [false, false]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no slot can boot (A: verification failed; B: not bootable); reinstall a system \
         slot or rebuild the image"
    );
}

#[test]
fn verification_is_lazy() {
    let m = Metadata::default_for(2).unwrap();
    let mut asked = [0; 2];
    let c = choose_with(&m, |s| {
        asked[s.index()] += 1;
        true
    });
    assert_eq!((c.unwrap().slot, asked), (A, [1, 0]));
    let mut asked = [0; 2];
    let c = choose_with(&m.with_trial(Some(B)), |s| {
        asked[s.index()] += 1;
        s == A
    });
    assert_eq!((c.unwrap().slot, asked), (A, [1, 1]));
}

#[test]
fn set_active_makes_the_slot_the_next_boot() {
    for a in all_states() {
        for b in all_states() {
            for slot in Slot::ALL {
                let m = set_active(&meta(a, b, None), slot);
                let other = if slot == A { b } else { a };
                assert_eq!(m.slot(slot).priority(), MAX_PRIORITY);
                assert!(m.slot(slot).is_bootable());
                assert_eq!(m.slot(slot.other()).priority(), other.priority().min(14));
                assert_eq!(
                    m.slot(slot.other()).tries_remaining(),
                    other.tries_remaining()
                );
                assert_eq!(choose(&m, [true, true]).unwrap().slot, slot);
                let m = mark_successful(&m, slot);
                assert!(m.slot(slot).successful());
                assert_eq!(m.slot(slot).tries_remaining(), MAX_TRIES);
            }
        }
    }
}

/// The invariants of one choice.
fn check_choice(m: &Metadata, verified: [bool; 2]) {
    let Ok(c) = choose(m, verified) else {
        // Nothing chosen only when no slot is usable.
        assert!(
            !usable(m, A, verified) && !usable(m, B, verified),
            "{m:?} {verified:?}"
        );
        return;
    };
    let (s, o) = (c.slot, c.slot.other());
    // Never a slot that failed verification or is not bootable.
    assert!(usable(m, s, verified), "{m:?} {verified:?} {c:?}");
    // Same answer with lazy verification.
    assert_eq!(choose_with(m, |x| verified[x.index()]), Ok(c));
    let w = c.write.unwrap_or(*m);
    // The trial is always consumed, and only it.
    assert_eq!(c.trial_consumed, m.trial().is_some());
    assert_eq!(w.trial(), None);
    // The chosen slot: one try spent iff not successful; priority and flag untouched.
    let spent = u8::from(!m.slot(s).successful());
    assert_eq!(
        w.slot(s).tries_remaining() + spent,
        m.slot(s).tries_remaining()
    );
    assert_eq!(w.slot(s).priority(), m.slot(s).priority());
    assert_eq!(w.slot(s).successful(), m.slot(s).successful());
    // The other slot: unchanged, or demoted when fallen back from (and then unusable).
    match c.reason {
        Reason::FellBack { from, because } => {
            assert_eq!(from, o);
            assert!(!usable(m, o, verified));
            assert_eq!(w.slot(o), m.slot(o).with_priority(0));
            let bootable = m.slot(o).is_bootable();
            assert_eq!(because == FallbackReason::VerificationFailed, bootable);
        }
        Reason::Trial => {
            assert_eq!(m.trial(), Some(s));
            assert_eq!(w.slot(o), m.slot(o));
        }
        Reason::Selected => panic!("`choose` never answers Selected: {c:?}"),
        Reason::Normal => {
            assert!(m.trial().is_none() || m.trial() == Some(s));
            assert_eq!(w.slot(o), m.slot(o));
        }
    }
    // Without a trial: the highest usable priority, A on a tie.
    if m.trial().is_none() && usable(m, o, verified) {
        let (ps, po) = (m.slot(s).priority(), m.slot(o).priority());
        assert!(ps > po || (ps == po && s == A), "{m:?} {c:?}");
    }
    // A committed slot's boot without trial or fallback never writes.
    let quiet = m.slot(s).successful() && m.trial().is_none() && c.reason == Reason::Normal;
    assert_eq!(c.write.is_none(), quiet, "{m:?} {verified:?} {c:?}");
    // A write never hands out tries, priority or success.
    for x in Slot::ALL {
        assert!(w.slot(x).tries_remaining() <= m.slot(x).tries_remaining());
        assert!(w.slot(x).priority() <= m.slot(x).priority());
        assert_eq!(w.slot(x).successful(), m.slot(x).successful());
    }
}

#[test]
fn every_case_keeps_the_invariants() {
    for_every_case(check_choice);
}

#[test]
fn a_usable_committed_slot_always_boots_something() {
    for_every_case(|m, verified| {
        if Slot::ALL
            .iter()
            .any(|&s| usable(m, s, verified) && m.slot(s).successful())
        {
            assert!(choose(m, verified).is_ok());
        }
    });
}

/// Power cuts after every "write before start" and before "mark successful": replaying the
/// choice on what was written converges, never abandons a usable committed slot, and
/// boots a not-yet-successful slot at most as many times as it had tries.
#[test]
fn replays_after_power_cuts_converge_and_keep_committed_slots() {
    for_every_case(|m, verified| {
        let committed: [bool; 2] =
            Slot::ALL.map(|s| usable(m, s, verified) && m.slot(s).successful());
        let mut boots = [0u8; 2];
        let mut cur = *m;
        // A trial, then at most both slots' try budgets: 1 + 7 + 7 boots write.
        for _ in 0..=2 * MAX_TRIES + 1 {
            let Ok(c) = choose(&cur, verified) else {
                assert!(!committed.contains(&true), "{m:?} {verified:?}");
                return;
            };
            boots[c.slot.index()] += 1;
            for s in Slot::ALL {
                if committed[s.index()] {
                    assert!(usable(&cur, s, verified), "committed {s} abandoned: {m:?}");
                }
                if !m.slot(s).successful() {
                    assert!(boots[s.index()] <= m.slot(s).tries_remaining());
                }
            }
            match c.write {
                Some(w) => cur = w,
                None => return,
            }
        }
        panic!("replays of {m:?} {verified:?} never settle");
    });
}

#[test]
fn set_trial_boots_the_slot_once_if_it_can() {
    for_every_case(|m, verified| {
        for slot in Slot::ALL {
            let t = set_trial(&m.with_trial(None), slot);
            let Ok(c) = choose(&t, verified) else {
                continue;
            };
            assert_eq!(c.slot == slot, usable(&t, slot, verified));
            assert_eq!(c.reason == Reason::Trial, usable(&t, slot, verified));
        }
    });
}
