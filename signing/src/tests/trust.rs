//! Trust block: layout, round trips, every decode error, and finding it in a binary.

use super::{public, secret};
use crate::ident::IdentError;
use crate::keyfile::{KeyError, MAX_PUBLIC_FILE_LEN};
use crate::ring::{MAX_REVOKED, MAX_RING_KEYS};
use crate::trust::{MAGIC, PLACEHOLDER_MAGIC};
use crate::{
    find_enrolled, find_placeholder, placeholder, KeyId, KeyRing, Policy, PublicKey, Trust,
    TrustError, TRUST_LEN,
};

fn key_file(key: &PublicKey) -> Vec<u8> {
    let mut buf = vec![0u8; key.encoded_len()];
    key.encode(&mut buf).unwrap();
    buf
}

fn sample() -> Trust {
    let mut ring = KeyRing::new();
    ring.add(public(&secret("pandagen", 1), &["*"])).unwrap();
    ring.add(public(&secret("vendor", 2), &["console"]))
        .unwrap();
    ring.revoke(KeyId::new("old_key").unwrap()).unwrap();
    Trust {
        policy: Policy::Permissive,
        development: true,
        ring,
    }
}

fn encode(trust: &Trust) -> Vec<u8> {
    let mut out = vec![0xaa; TRUST_LEN];
    assert_eq!(trust.encode(&mut out), Ok(()));
    out
}

/// A block by hand: header fields, then `body`, then zeros.
fn block(policy: u8, flags: u8, keys: u8, revoked: u8, body: &[u8]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[policy, flags, keys, revoked, 0, 0, 0, 0]);
    b.extend_from_slice(body);
    b.resize(TRUST_LEN, 0);
    b
}

fn with_len(file: &[u8]) -> Vec<u8> {
    [&(file.len() as u16).to_le_bytes(), file].concat()
}

#[test]
fn placeholder_is_magic_then_zeros_and_decodes_to_none() {
    let p = placeholder();
    assert_eq!(&p[..8], b"PGTRUST0");
    assert!(p[8..].iter().all(|&b| b == 0));
    assert_eq!(Trust::decode(&p), Ok(None));
    let mut dirty = p;
    dirty[100] = 1;
    let err = Trust::decode(&dirty);
    assert_eq!(err, Err(TrustError::PlaceholderNotZero { offset: 100 }));
}

#[test]
fn encoding_matches_documented_layout() {
    let trust = sample();
    let got = encode(&trust);
    let mut body = Vec::new();
    for key in trust.ring.keys() {
        body.extend_from_slice(&with_len(&key_file(key)));
    }
    body.extend_from_slice(b"\x07old_key");
    assert_eq!(got, block(2, 1, 2, 1, &body));
    assert_eq!(Trust::decode(&got), Ok(Some(trust)));
}

#[test]
fn enforce_without_development_flag_round_trips() {
    let mut trust = sample();
    trust.policy = Policy::Enforce;
    trust.development = false;
    let got = encode(&trust);
    assert_eq!(got[8..12], [1, 0, 2, 1]);
    assert_eq!(Trust::decode(&got), Ok(Some(trust)));
}

#[test]
fn largest_ring_fits_and_round_trips() {
    let long_caps: Vec<String> = (0..16).map(|i| format!("{i:0>32}")).collect();
    let kinds: Vec<&str> = long_caps.iter().map(String::as_str).collect();
    let mut ring = KeyRing::new();
    for i in 0..MAX_RING_KEYS {
        let id = format!("{i:x>32}");
        ring.add(public(&secret(&id, 1 + i as u8), &kinds)).unwrap();
    }
    for i in 0..MAX_REVOKED {
        ring.revoke(KeyId::new(&format!("{i:r>32}")).unwrap())
            .unwrap();
    }
    assert_eq!(ring.keys()[0].encoded_len(), MAX_PUBLIC_FILE_LEN);
    let trust = Trust {
        policy: Policy::Enforce,
        development: false,
        ring,
    };
    let got = encode(&trust);
    // 16 + 8 * (2 + 604) + 16 * 33 bytes, as documented; the last one is a revoked id byte.
    assert_eq!(got.iter().rposition(|&b| b != 0), Some(5392 - 1));
    assert_eq!(Trust::decode(&got), Ok(Some(trust)));
}

#[test]
fn empty_ring_round_trips() {
    let trust = Trust {
        policy: Policy::Enforce,
        development: false,
        ring: KeyRing::new(),
    };
    let got = encode(&trust);
    assert_eq!(got, block(1, 0, 0, 0, &[]));
    assert_eq!(Trust::decode(&got), Ok(Some(trust)));
}

#[test]
fn wrong_lengths_are_refused() {
    let trust = sample();
    let mut small = vec![0u8; TRUST_LEN - 1];
    assert_eq!(
        trust.encode(&mut small),
        Err(TrustError::BadLength(TRUST_LEN - 1))
    );
    let p = placeholder();
    assert_eq!(Trust::decode(&p[..10]), Err(TrustError::BadLength(10)));
    // A longer slice (the rest of a binary) is read up to the end of the block.
    let enrolled = encode(&trust);
    let long = [enrolled.as_slice(), &[0xff; 10]].concat();
    assert_eq!(Trust::decode(&long), Ok(Some(trust)));
    let long = [p.as_slice(), &[0xff]].concat();
    assert_eq!(Trust::decode(&long), Ok(None));
}

#[test]
fn header_errors() {
    let decode = |b: Vec<u8>| Trust::decode(&b);
    let mut bad_magic = block(1, 0, 0, 0, &[]);
    bad_magic[7] = b'2';
    assert_eq!(decode(bad_magic), Err(TrustError::BadMagic));
    assert_eq!(
        decode(block(0, 0, 0, 0, &[])),
        Err(TrustError::BadPolicy(0))
    );
    assert_eq!(
        decode(block(3, 0, 0, 0, &[])),
        Err(TrustError::BadPolicy(3))
    );
    assert_eq!(decode(block(1, 2, 0, 0, &[])), Err(TrustError::BadFlags(2)));
    assert_eq!(
        decode(block(1, 0, 9, 0, &[])),
        Err(TrustError::TooManyKeys(9))
    );
    let err = decode(block(1, 0, 0, 17, &[]));
    assert_eq!(err, Err(TrustError::TooManyRevoked(17)));
    let mut reserved = block(1, 0, 0, 0, &[]);
    reserved[13] = 1;
    let err = decode(reserved);
    assert_eq!(err, Err(TrustError::ReservedNotZero { offset: 13 }));
}

#[test]
fn body_errors() {
    let key = key_file(&public(&secret("vendor", 2), &[]));
    let decode = |b: Vec<u8>| Trust::decode(&b);
    let too_long = 9000u16.to_le_bytes();
    let err = decode(block(1, 0, 1, 0, &too_long));
    assert_eq!(err, Err(TrustError::Truncated { field: "key" }));
    let mut corrupt = key.clone();
    corrupt[0] = b'X';
    let err = decode(block(1, 0, 1, 0, &with_len(&corrupt)));
    let bad_magic = KeyError::BadMagic {
        expected: "PGKEYPUB",
    };
    assert_eq!(
        err,
        Err(TrustError::BadKey {
            index: 0,
            error: bad_magic
        })
    );
    let twice = [with_len(&key), with_len(&key)].concat();
    let err = decode(block(1, 0, 2, 0, &twice));
    let id = KeyId::new("vendor").unwrap();
    assert_eq!(err, Err(TrustError::DuplicateKeyId(id)));
    let err = decode(block(1, 0, 0, 2, b"\x01a\x02A!"));
    let error = IdentError::BadByte(b'A');
    assert_eq!(err, Err(TrustError::BadRevokedId { index: 1, error }));
    let err = decode(block(1, 0, 0, 1, b"\x00"));
    let error = IdentError::BadLength(0);
    assert_eq!(err, Err(TrustError::BadRevokedId { index: 0, error }));
}

#[test]
fn non_zero_byte_after_last_field_is_refused() {
    let mut got = encode(&sample());
    got[TRUST_LEN - 1] = 1;
    let err = Trust::decode(&got);
    let offset = TRUST_LEN - 1;
    assert_eq!(err, Err(TrustError::NonZeroPadding { offset }));
    let mut body = block(1, 0, 0, 1, b"\x01a");
    body[19] = 5;
    let err = Trust::decode(&body);
    assert_eq!(err, Err(TrustError::NonZeroPadding { offset: 19 }));
}

/// A fake kernel: code bytes, the magics alone (as constants), and the block at `at`.
fn kernel_with(block: &[u8]) -> (Vec<u8>, usize) {
    let mut bin = vec![0x90u8; 300];
    bin.extend_from_slice(&PLACEHOLDER_MAGIC);
    bin.extend_from_slice(&MAGIC);
    bin.extend_from_slice(&[0u8; 64]);
    bin.extend_from_slice(&MAGIC);
    bin.extend_from_slice(&[0x48; 9]);
    let at = bin.len();
    bin.extend_from_slice(block);
    bin.extend_from_slice(&[0xcc; 100]);
    (bin, at)
}

#[test]
fn find_placeholder_then_enroll_then_find_enrolled() {
    let (mut bin, at) = kernel_with(&placeholder());
    assert_eq!(find_placeholder(&bin), Ok(at));
    assert_eq!(find_enrolled(&bin), Ok(None));
    sample().encode(&mut bin[at..at + TRUST_LEN]).unwrap();
    assert_eq!(find_placeholder(&bin), Err(TrustError::NoPlaceholder));
    assert_eq!(find_enrolled(&bin), Ok(Some(at)));
    let decoded = Trust::decode(&bin[at..at + TRUST_LEN]);
    assert_eq!(decoded, Ok(Some(sample())));
}

#[test]
fn placeholder_at_the_very_end_is_found_and_a_cut_one_is_not() {
    let mut bin = vec![1u8; 5];
    bin.extend_from_slice(&placeholder());
    assert_eq!(find_placeholder(&bin), Ok(5));
    bin.pop();
    assert_eq!(find_placeholder(&bin), Err(TrustError::NoPlaceholder));
    assert_eq!(find_placeholder(&[]), Err(TrustError::NoPlaceholder));
}

#[test]
fn two_blocks_are_refused() {
    let (mut bin, first) = kernel_with(&placeholder());
    let second = bin.len();
    bin.extend_from_slice(&placeholder());
    let err = find_placeholder(&bin);
    assert_eq!(err, Err(TrustError::MultiplePlaceholders { first, second }));
    let enrolled = encode(&sample());
    bin[first..first + TRUST_LEN].copy_from_slice(&enrolled);
    bin[second..second + TRUST_LEN].copy_from_slice(&enrolled);
    let err = find_enrolled(&bin);
    assert_eq!(err, Err(TrustError::MultipleEnrolled { first, second }));
}

#[test]
fn policy_text() {
    for policy in [Policy::Enforce, Policy::Permissive] {
        assert_eq!(Policy::parse(&policy.to_string()), Some(policy));
    }
    assert_eq!(Policy::Enforce.to_string(), "enforce");
    assert_eq!(Policy::Permissive.to_string(), "permissive");
    assert_eq!(Policy::parse("Enforce"), None);
    assert_eq!(Policy::parse(""), None);
}

#[test]
fn errors_display_one_line() {
    let errors = [
        TrustError::BadLength(3),
        TrustError::BadMagic,
        TrustError::PlaceholderNotZero { offset: 9 },
        TrustError::BadPolicy(7),
        TrustError::BadFlags(4),
        TrustError::TooManyKeys(9),
        TrustError::TooManyRevoked(17),
        TrustError::ReservedNotZero { offset: 12 },
        TrustError::Truncated { field: "key" },
        TrustError::BadKey {
            index: 1,
            error: KeyError::WeakPublicKey,
        },
        TrustError::DuplicateKeyId(KeyId::new("k").unwrap()),
        TrustError::BadRevokedId {
            index: 0,
            error: IdentError::BadLength(0),
        },
        TrustError::NonZeroPadding { offset: 99 },
        TrustError::TooLarge { needed: 9000 },
        TrustError::NoPlaceholder,
        TrustError::MultiplePlaceholders {
            first: 1,
            second: 2,
        },
        TrustError::MultipleEnrolled {
            first: 1,
            second: 2,
        },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}
