//! Tests of the slot metadata record: the exact bytes, round trips, rejection of every bad
//! field, and the copy pick.
use super::*;
use proptest::prelude::*;

fn st(priority: u8, tries: u8, successful: bool) -> SlotState {
    SlotState::new(priority, tries, successful).expect("in range")
}

fn encoded(meta: &Metadata, generation: u64) -> [u8; BLOCK_SIZE] {
    let mut out = [0xFF; BLOCK_SIZE];
    meta.encode(generation, &mut out);
    out
}

#[test]
fn slot_display_and_parse() {
    assert_eq!(Slot::A.to_string(), "A");
    assert_eq!(Slot::B.to_string(), "B");
    assert_eq!("A".parse(), Ok(Slot::A));
    assert_eq!("b".parse(), Ok(Slot::B));
    assert_eq!("C".parse::<Slot>(), Err(ParseSlotError));
    assert_eq!("".parse::<Slot>(), Err(ParseSlotError));
    assert_eq!(Slot::A.other(), Slot::B);
    assert_eq!(Slot::B.index(), 1);
}

#[test]
fn defaults() {
    let one = Metadata::default_for(1).unwrap();
    assert_eq!(one.slot(Slot::A), st(15, 7, true));
    assert_eq!(one.slot(Slot::B), SlotState::UNBOOTABLE);
    let two = Metadata::default_for(2).unwrap();
    assert_eq!(two.slot(Slot::B), st(14, 7, true));
    assert_eq!(two.trial(), None);
    for count in [0, 3, 255] {
        assert_eq!(
            Metadata::default_for(count),
            Err(MetaError::SlotCount { count })
        );
    }
}

#[test]
fn slot_state_ranges() {
    assert!(SlotState::new(15, 7, false).is_ok());
    let e = SlotState::new(16, 0, false).unwrap_err();
    assert_eq!(e.to_string(), "slot priority 16 is out of range (0..=15)");
    assert!(SlotState::new(1, 8, false).is_err());
    assert!(!st(0, 7, true).is_bootable());
    assert!(!st(3, 0, false).is_bootable());
    assert!(st(3, 0, true).is_bootable());
    assert!(st(3, 1, false).is_bootable());
}

#[test]
fn exact_bytes() {
    let meta = Metadata::new(st(15, 7, true), st(3, 2, false), Some(Slot::B));
    let b = encoded(&meta, 0x0102_0304_0506_0708);
    assert_eq!(&b[..8], b"PGSLOTS1");
    assert_eq!(&b[8..16], &[1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&b[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(&b[24..33], &[15, 7, 1, 0, 3, 2, 0, 0, 2]);
    assert_eq!(&b[33..40], &[0; 7]);
    let crc = crate::block::crc32c(&b[..40]);
    assert_eq!(&b[40..44], &crc.to_le_bytes());
    assert!(b[44..].iter().all(|&x| x == 0));
}

#[test]
fn every_state_round_trips() {
    let mut out = [0; BLOCK_SIZE];
    for p in 0..=MAX_PRIORITY {
        for t in 0..=MAX_TRIES {
            for s in [false, true] {
                for trial in [None, Some(Slot::A), Some(Slot::B)] {
                    let meta = Metadata::new(st(p, t, s), st(MAX_PRIORITY - p, 7 - t, !s), trial);
                    meta.encode(u64::from(p) * 100 + u64::from(t), &mut out);
                    let g = u64::from(p) * 100 + u64::from(t);
                    assert_eq!(Metadata::decode(&out), Ok((meta, g)));
                }
            }
        }
    }
}

/// A copy with one payload byte set to `value` and a correct checksum.
fn with_byte(offset: usize, value: u8) -> [u8; BLOCK_SIZE] {
    let mut b = encoded(&Metadata::default_for(2).unwrap(), 1);
    b[offset] = value;
    let crc = crate::block::crc32c(&b[..40]);
    b[40..44].copy_from_slice(&crc.to_le_bytes());
    b
}

#[test]
fn out_of_range_fields_are_rejected_even_with_a_good_checksum() {
    let field = |offset, what| Err(MetaError::Copy(CopyError::BadField { offset, what }));
    assert_eq!(Metadata::decode(&with_byte(24, 16)), field(24, "priority"));
    assert_eq!(
        Metadata::decode(&with_byte(29, 8)),
        field(29, "tries remaining")
    );
    assert_eq!(
        Metadata::decode(&with_byte(26, 2)),
        field(26, "successful flag")
    );
    assert_eq!(Metadata::decode(&with_byte(32, 3)), field(32, "trial slot"));
    for offset in [12, 27, 31, 33, 39] {
        let got = Metadata::decode(&with_byte(offset, 1));
        assert_eq!(got, Err(MetaError::Copy(CopyError::NonZero { offset })));
    }
    let mut b = with_byte(24, 15);
    b[4095] = 1;
    let got = Metadata::decode(&b);
    assert_eq!(
        got,
        Err(MetaError::Copy(CopyError::NonZero { offset: 4095 }))
    );
}

#[test]
fn pick_prefers_the_newest_valid_copy() {
    let old = Metadata::default_for(2).unwrap();
    let new = old.with_trial(Some(Slot::B));
    let (o, n) = (encoded(&old, 41), encoded(&new, 42));
    assert_eq!(pick([&o, &n]), Ok((new, 42, 0)));
    assert_eq!(pick([&n, &o]), Ok((new, 42, 1)));
    let zero = [0u8; BLOCK_SIZE];
    assert_eq!(pick([&zero, &o]), Ok((old, 41, 0)));
    let err = pick([&zero, &[0u8; 10]]).unwrap_err();
    assert_eq!(
        err,
        MetaError::NoValidCopy {
            copy0: CopyError::BadMagic,
            copy1: CopyError::WrongLength { len: 10 },
        }
    );
    assert_eq!(
        err.to_string(),
        "slot metadata: no valid copy (copy 0: wrong magic (never written, or not this \
         record); copy 1: block is 10 bytes, read exactly 4096); booting with the default \
         slots, rewrite the metadata"
    );
}

/// The writer's protocol over many writes, with a power cut at a random byte of each
/// write: a pick always succeeds and returns either the last completed or the cut write.
#[test]
fn writes_cut_anywhere_never_lose_the_record() {
    let mut copies = [[0u8; BLOCK_SIZE]; 2];
    let first = Metadata::default_for(2).unwrap();
    first.encode(crate::block::FIRST_GENERATION, &mut copies[0]);
    let mut committed = first;
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for step in 0u8..200 {
        let (_, generation, next) = pick([&copies[0], &copies[1]]).expect("valid copy");
        let wanted = committed.with_slot(Slot::B, st(step % 16, step % 8, step % 3 == 0));
        let mut block = [0; BLOCK_SIZE];
        wanted.encode(crate::block::next_generation(generation), &mut block);
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = usize::try_from(seed % 60).unwrap_or(0);
        let cut = if step % 2 == 0 { BLOCK_SIZE } else { cut };
        copies[next][..cut].copy_from_slice(&block[..cut]);
        let (got, _, _) = pick([&copies[0], &copies[1]]).expect("a copy survives the cut");
        assert!(got == committed || got == wanted, "step {step}: {got:?}");
        committed = got;
    }
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut block = encoded(&Metadata::default_for(2).unwrap(), 3);
        let n = bytes.len().min(60);
        block[..n].copy_from_slice(&bytes[..n]);
        let _ = Metadata::decode(&block);
        let _ = Metadata::decode(&bytes);
        let _ = pick([&bytes, &block]);
    }
}

#[test]
fn read_falls_back_to_the_defaults_and_says_why_only_when_damaged() {
    let zero = [0u8; BLOCK_SIZE];
    let fresh = read([&zero, &zero]);
    assert_eq!(
        (fresh.meta, fresh.generation, fresh.write_to),
        (TWO_SLOTS, 0, 0)
    );
    assert!(fresh.damaged.is_none());
    let mut junk = [0u8; BLOCK_SIZE];
    junk[7] = 1;
    assert!(read([&junk, &zero]).damaged.is_some());
    let mut copy = [0u8; BLOCK_SIZE];
    TWO_SLOTS.with_trial(Some(Slot::B)).encode(4, &mut copy);
    let r = read([&zero, &copy]);
    assert_eq!(
        (r.meta.trial(), r.generation, r.write_to, r.damaged),
        (Some(Slot::B), 4, 0, None)
    );
}
