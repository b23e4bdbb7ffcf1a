//! Tests of the boot journal: the ring, the text limit, the exact bytes, and rejection of
//! bad copies.
use super::*;
use crate::choose::FallbackReason;
use proptest::prelude::*;

fn encoded(j: &Journal, generation: u64) -> [u8; BLOCK_SIZE] {
    let mut out = [0xFF; BLOCK_SIZE];
    j.encode(generation, &mut out);
    out
}

fn up(boot: u32) -> Record {
    Record::new(boot, Some(Slot::A), Outcome::Up, "")
}

#[test]
fn display_is_one_line() {
    let r = Record::new(
        12,
        Some(Slot::B),
        Outcome::FellBack { from: Slot::A },
        "tries exhausted",
    );
    assert_eq!(
        r.to_string(),
        "#12 slot B: fell back from A (tries exhausted)"
    );
    assert_eq!(up(3).to_string(), "#3 slot A: up");
    let r = Record::new(4, None, Outcome::Refused, "no slot can boot");
    assert_eq!(r.to_string(), "#4: refused (no slot can boot)");
    let r = Record::new(
        5,
        Some(Slot::A),
        Outcome::Failed,
        format_args!("verification failed at {}", "services_storage"),
    );
    assert_eq!(
        r.to_string(),
        "#5 slot A: failed (verification failed at services_storage)"
    );
}

#[test]
fn record_for_a_choice() {
    let m = crate::meta::Metadata::default_for(2).unwrap();
    let c = crate::choose::choose(&m, [false, true]).unwrap();
    let r = Record::for_choice(7, &c);
    assert_eq!(
        r.to_string(),
        "#7 slot B: fell back from A (verification failed)"
    );
    assert_eq!(r.reason(), FallbackReason::VerificationFailed.to_string());
    let c = crate::choose::choose(&m, [true, true]).unwrap();
    assert_eq!(Record::for_choice(8, &c).to_string(), "#8 slot A: started");
}

#[test]
fn reasons_are_cut_at_64_bytes_on_a_char_boundary() {
    let long = "x".repeat(70);
    assert_eq!(
        Record::new(1, None, Outcome::Failed, &long).reason().len(),
        64
    );
    let wide = format!("{}é", "y".repeat(63));
    assert_eq!(
        Record::new(1, None, Outcome::Failed, &wide).reason(),
        "y".repeat(63)
    );
    let exact = "z".repeat(64);
    assert_eq!(
        Record::new(1, None, Outcome::Failed, &exact).reason(),
        exact
    );
}

#[test]
fn the_ring_keeps_the_last_32_newest_first() {
    let mut j = Journal::new();
    assert_eq!((j.len(), j.next_boot_number()), (0, 1));
    assert_eq!(j.update_newest(Outcome::Up, ""), Err(JournalError::Empty));
    for boot in 1..=100 {
        assert_eq!(j.next_boot_number(), boot);
        j.push(up(boot));
        let boots: Vec<u32> = j.iter().map(Record::boot).collect();
        let first = boot.saturating_sub(31).max(1);
        assert_eq!(boots, (first..=boot).rev().collect::<Vec<_>>());
        let (back, generation) = Journal::decode(&encoded(&j, u64::from(boot))).unwrap();
        assert_eq!((back, generation), (j.clone(), u64::from(boot)));
    }
}

#[test]
fn update_newest_replaces_only_the_newest() {
    let mut j = Journal::new();
    j.push(up(1));
    j.push(Record::new(2, Some(Slot::B), Outcome::Started, ""));
    j.update_newest(Outcome::Failed, "services_storage did not start")
        .unwrap();
    let lines: Vec<String> = j.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "#2 slot B: failed (services_storage did not start)",
            "#1 slot A: up"
        ]
    );
}

#[test]
fn exact_bytes() {
    let mut j = Journal::new();
    j.push(Record::new(
        0x0102_0304,
        Some(Slot::B),
        Outcome::FellBack { from: Slot::A },
        "ab",
    ));
    let b = encoded(&j, 9);
    assert_eq!(&b[..8], b"PGBOOTJ1");
    assert_eq!(&b[16..24], &9u64.to_le_bytes());
    assert_eq!(&b[24..32], &[1, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[32..42], &[4, 3, 2, 1, 2, 5, 1, 2, b'a', b'b']);
    assert!(b[42..2336].iter().all(|&x| x == 0));
    assert_eq!(
        &b[2336..2340],
        &crate::block::crc32c(&b[..2336]).to_le_bytes()
    );
    assert!(b[2340..].iter().all(|&x| x == 0));
}

/// `block` with byte `offset` set to `value` and the checksum fixed.
fn with_byte(mut block: [u8; BLOCK_SIZE], offset: usize, value: u8) -> [u8; BLOCK_SIZE] {
    block[offset] = value;
    let crc = crate::block::crc32c(&block[..2336]);
    block[2336..2340].copy_from_slice(&crc.to_le_bytes());
    block
}

#[test]
fn bad_fields_are_rejected_even_with_a_good_checksum() {
    let mut j = Journal::new();
    j.push(Record::new(1, Some(Slot::A), Outcome::Up, "ok"));
    let good = encoded(&j, 1);
    let field = |offset, what| Err(JournalError::Copy(CopyError::BadField { offset, what }));
    assert_eq!(
        Journal::decode(&with_byte(good, 24, 2)),
        field(24, "record count")
    );
    assert_eq!(
        Journal::decode(&with_byte(good, 25, 0)),
        field(24, "record count")
    );
    let both = with_byte(with_byte(good, 24, 40), 25, 40);
    assert_eq!(Journal::decode(&both), field(24, "record count"));
    let full = with_byte(with_byte(good, 24, 32), 25, 32);
    assert_eq!(Journal::decode(&full), field(24, "record count"));
    assert_eq!(Journal::decode(&with_byte(good, 36, 3)), field(36, "slot"));
    assert_eq!(
        Journal::decode(&with_byte(good, 37, 7)),
        field(37, "outcome")
    );
    assert_eq!(
        Journal::decode(&with_byte(good, 38, 1)),
        field(37, "outcome")
    );
    assert_eq!(
        Journal::decode(&with_byte(good, 39, 65)),
        field(39, "reason length")
    );
    assert_eq!(
        Journal::decode(&with_byte(good, 40, 0xFF)),
        field(40, "reason text (not UTF-8)")
    );
    assert_eq!(
        Journal::decode(&with_byte(good, 50, b'x')),
        field(42, "reason padding")
    );
    let got = Journal::decode(&with_byte(good, 104, 1));
    assert_eq!(
        got,
        Err(JournalError::Copy(CopyError::NonZero { offset: 104 }))
    );
}

#[test]
fn pick_and_errors() {
    let mut j = Journal::new();
    let old = encoded(&j, 1);
    j.push(up(1));
    let new = encoded(&j, 2);
    assert_eq!(pick([&old, &new]), Ok((j.clone(), 2, 0)));
    let zero = [0u8; BLOCK_SIZE];
    let e = pick([&zero, &zero]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "boot journal: no valid copy (copy 0: wrong magic (never written, or not this \
         record); copy 1: wrong magic (never written, or not this record)); starting an \
         empty journal"
    );
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400), at in 0usize..4000) {
        let mut j = Journal::new();
        for boot in 0..40 {
            j.push(up(boot));
        }
        let mut block = encoded(&j, 3);
        let n = bytes.len().min(BLOCK_SIZE - at);
        block[at..at + n].copy_from_slice(&bytes[..n]);
        let _ = Journal::decode(&block);
        let _ = Journal::decode(&with_byte(block, at, bytes.first().copied().unwrap_or(0)));
        let _ = pick([&bytes, &block]);
    }

    #[test]
    fn any_push_sequence_round_trips(
        pushes in proptest::collection::vec((any::<u32>(), 0u8..3, 1u8..7, 0u8..2, ".{0,80}"), 0..70)
    ) {
        let mut j = Journal::new();
        for (boot, slot, code, from, reason) in pushes {
            let slot = Slot::from_code(slot).unwrap();
            let outcome = Outcome::from_codes(code, if code == 5 { from + 1 } else { 0 }).unwrap();
            j.push(Record::new(boot, slot, outcome, &reason));
        }
        let (back, _) = Journal::decode(&encoded(&j, 5)).unwrap();
        prop_assert_eq!(back, j);
    }
}
