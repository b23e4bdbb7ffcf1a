//! Every refusal happens before the target is touched: the fake target records writes.

use super::*;
use crate::Authenticity;

fn slots() -> (Slot, Slot) {
    let comp = noise(21, 40_000);
    let mut comp2 = comp.clone();
    comp2[20_000..20_005].copy_from_slice(b"HELLO");
    let old = Slot::new(&[
        ("manifest", b"{\"m\":1}".to_vec()),
        ("kernel", noise(22, 20_000)),
        ("comp", comp),
    ]);
    let new = Slot::new(&[
        ("manifest", b"{\"m\":2}".to_vec()),
        ("kernel", noise(22, 20_000)),
        ("comp", comp2),
        ("new", b"fresh".repeat(100)),
    ]);
    (old, new)
}

/// Applies `bytes` (a damaged delta) and checks it is refused with nothing written.
fn refused(bytes: &[u8], old: &Slot, capacity: usize) -> DeltaError {
    let (result, target) = apply_to(bytes, old, capacity);
    let err = result.expect_err("refused");
    assert!(target.writes.is_empty(), "{err}: {:?}", target.writes);
    assert!(target.bytes.iter().all(|&b| b == 0xEE));
    err
}

#[test]
fn every_truncation_point_is_refused_before_any_write() {
    let (old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    for len in 0..d.len() {
        let err = refused(&d[..len], &old, new.bytes.len());
        assert_eq!(
            err,
            DeltaError::Truncated {
                have: len as u64,
                need: if len < 256 { 256 } else { d.len() as u64 }
            }
        );
    }
    let mut longer = d.clone();
    longer.push(0);
    assert!(matches!(
        refused(&longer, &old, new.bytes.len()),
        DeltaError::TrailingBytes { .. }
    ));
}

#[test]
fn sampled_single_bit_flips_are_refused_before_any_write() {
    let (old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    // Every bit of the header, then a spread sample of the body (a prime stride).
    let header_bits = 0..256 * 8;
    let body_bits = (256 * 8..d.len() * 8).step_by(61);
    for bit in header_bits.chain(body_bits) {
        let mut bad = d.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        refused(&bad, &old, new.bytes.len());
    }
}

#[test]
fn a_delta_for_another_image_is_refused() {
    let (old, new) = slots();
    let other = Slot::new(&[
        ("manifest", b"{\"m\":0}".to_vec()),
        ("kernel", noise(22, 20_000)),
    ]);
    let d = delta(&other, &new, true).bytes;
    assert!(matches!(
        refused(&d, &old, new.bytes.len()),
        DeltaError::WrongBase { .. }
    ));
}

#[test]
fn unsigned_under_enforce_is_refused_and_accepted_with_a_warning_under_permissive() {
    let (old, new) = slots();
    let d = delta(&old, &new, false).bytes;
    assert_eq!(refused(&d, &old, new.bytes.len()), DeltaError::Unsigned);
    let ring = ring();
    let rules = Rules {
        policy: Policy::Permissive,
        ring: &ring,
        min_epoch: 0,
    };
    let mut target = MemTarget::new(new.bytes.len(), 0xEE);
    let applied = apply(&d[..], &mut old.old_slot(), &mut target, &rules).unwrap();
    assert_eq!(
        applied.authenticity,
        Authenticity::Accepted(DeltaError::Unsigned)
    );
    assert_eq!(target.bytes, new.bytes);
}

#[test]
fn untrusted_and_revoked_keys_are_refused() {
    let (old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    let other = SecretKey::from_seed(KeyId::new("release_v1").unwrap(), [8; 32]).unwrap();
    let mut wrong_ring = KeyRing::new();
    wrong_ring
        .add(other.public_key(&[CapKind::new("*").unwrap()]).unwrap())
        .unwrap();
    let mut revoked = ring();
    revoked.revoke(KeyId::new("release_v1").unwrap()).unwrap();
    let empty = KeyRing::new();
    for (ring, want) in [
        (&wrong_ring, "BadSignature"),
        (&revoked, "RevokedKey"),
        (&empty, "UntrustedKey"),
    ] {
        let rules = Rules {
            policy: Policy::Enforce,
            ring,
            min_epoch: 0,
        };
        let mut target = MemTarget::new(new.bytes.len(), 0xEE);
        let err = apply(&d[..], &mut old.old_slot(), &mut target, &rules).unwrap_err();
        assert!(format!("{err:?}").starts_with(want), "{err:?}");
        assert!(target.writes.is_empty());
    }
}

#[test]
fn a_lower_security_epoch_is_refused() {
    let (old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    let ring = ring();
    let rules = Rules {
        policy: Policy::Enforce,
        ring: &ring,
        min_epoch: 4,
    };
    let mut target = MemTarget::new(new.bytes.len(), 0xEE);
    let err = apply(&d[..], &mut old.old_slot(), &mut target, &rules).unwrap_err();
    assert_eq!(
        err,
        DeltaError::EpochRollback {
            delta: 3,
            minimum: 4
        }
    );
    assert!(target.writes.is_empty());
}

#[test]
fn a_slot_too_small_is_refused() {
    let (old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    let need = new.bytes.len() as u64;
    assert_eq!(
        refused(&d, &old, new.bytes.len() - 1),
        DeltaError::NoSpace {
            need,
            capacity: need - 1
        }
    );
}

#[test]
fn a_damaged_or_different_old_slot_is_refused_before_any_write() {
    let (mut old, new) = slots();
    let d = delta(&old, &new, true).bytes;
    let comp = old
        .regions
        .iter()
        .find(|r| r.name == "comp")
        .unwrap()
        .offset as usize;
    old.bytes[comp + 100] ^= 1;
    assert_eq!(
        refused(&d, &old, new.bytes.len()),
        DeltaError::SourceDamaged {
            name: "comp".into()
        }
    );
    old.bytes[comp + 100] ^= 1;
    let kernel = old.regions.iter().position(|r| r.name == "kernel").unwrap();
    old.regions[kernel].sha256[0] ^= 1;
    assert_eq!(
        refused(&d, &old, new.bytes.len()),
        DeltaError::SourceMismatch {
            name: "kernel".into()
        }
    );
    old.regions.remove(kernel);
    assert_eq!(
        refused(&d, &old, new.bytes.len()),
        DeltaError::SourceMissing {
            name: "kernel".into()
        }
    );
}

#[test]
fn the_encoder_refuses_bad_input() {
    let (old, new) = slots();
    let mut regions = new.new_regions();
    regions[1].sha256[0] ^= 1;
    let opts = Options {
        base_image_id: old.image_id(),
        security_epoch: 0,
        target_len: new.bytes.len() as u64,
        level: 3,
        sign_key: None,
    };
    let err = encode::encode(&old.old_regions(), &regions, &opts).unwrap_err();
    assert!(
        matches!(err, encode::EncodeError::ChecksumMismatch { .. }),
        "{err}"
    );
    let no_manifest: Vec<_> = new
        .new_regions()
        .into_iter()
        .filter(|r| r.name != "manifest")
        .collect();
    let err = encode::encode(&old.old_regions(), &no_manifest, &opts).unwrap_err();
    assert_eq!(err, encode::EncodeError::MissingManifest);
    let short = Options {
        target_len: 10,
        ..opts
    };
    let err = encode::encode(&old.old_regions(), &new.new_regions(), &short).unwrap_err();
    assert!(
        matches!(err, encode::EncodeError::OutOfPlace { .. }),
        "{err}"
    );
    for e in [
        err,
        encode::EncodeError::MissingManifest,
        encode::EncodeError::BadName { name: "".into() },
        encode::EncodeError::DuplicateName { name: "a".into() },
        encode::EncodeError::BadRegionCount { count: 0 },
        encode::EncodeError::Compress { detail: "x".into() },
        encode::EncodeError::ChecksumMismatch { name: "a".into() },
    ] {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}

/// Re-seals a delta whose body was changed: a file someone made on purpose, consistent sums.
fn reseal(bytes: &mut [u8]) {
    let mut head = [0u8; 256];
    head.copy_from_slice(&bytes[..256]);
    let mut header = crate::Header::decode(&head).unwrap();
    header.body_sha256 = sha256(&bytes[256..]);
    header.signature = None;
    bytes[..256].copy_from_slice(&header.encode());
}

fn apply_permissive(
    bytes: &[u8],
    old: &Slot,
    capacity: usize,
) -> Result<crate::Applied, DeltaError> {
    let ring = ring();
    let rules = Rules {
        policy: Policy::Permissive,
        ring: &ring,
        min_epoch: 0,
    };
    let mut target = MemTarget::new(capacity, 0xEE);
    apply(bytes, &mut old.old_slot(), &mut target, &rules)
}

#[test]
fn a_resealed_garbage_payload_is_a_named_error() {
    let (old, new) = slots();
    let d = delta(&old, &new, false).bytes;
    // The last payload is the new region's full zstd frame: damage its middle.
    let mut bad = d.clone();
    let at = d.len() - 10;
    bad[at] ^= 0xFF;
    reseal(&mut bad);
    let err = apply_permissive(&bad, &old, new.bytes.len()).unwrap_err();
    assert!(
        matches!(
            err,
            DeltaError::BadPayload { .. } | DeltaError::OutputMismatch { .. }
        ),
        "{err}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Any change to the body, re-sealed so the sums agree, is refused with a named error or
    /// yields bytes that match every SHA-256: never a panic.
    #[test]
    fn resealed_changes_never_panic(flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 1u8..=255), 1..6)) {
        let (old, new) = slots();
        let mut bad = delta(&old, &new, false).bytes;
        for (at, x) in flips {
            let at = 256 + at % (bad.len() - 256);
            bad[at] ^= x;
        }
        reseal(&mut bad);
        if let Ok(applied) = apply_permissive(&bad, &old, new.bytes.len()) {
            proptest::prop_assert_eq!(applied.image_id, new.image_id());
        }
    }
}
