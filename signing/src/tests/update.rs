//! Key-ring updates: rotation, every refusal rule, layout, and signing errors.

use super::{public, secret};
use crate::ident::IdentError;
use crate::ring::{RingErrorKind, RingSetupError};
use crate::statement::KEYRING_DOMAIN;
use crate::update::{apply, UPDATE_MAGIC};
use crate::{
    sign_update, Applied, KeyId, KeyRing, PublicKey, RingUpdate, SecretKey, UpdateError,
    VerifyError,
};

const SHA: [u8; 32] = [0x33; 32];

fn id(text: &str) -> KeyId {
    KeyId::new(text).unwrap()
}

/// The base ring: `release_v1` (`*`) and `vendor` (`console`).
fn base() -> (KeyRing, SecretKey, SecretKey) {
    let (v1, vendor) = (secret("release_v1", 1), secret("vendor", 2));
    let mut ring = KeyRing::new();
    ring.add(public(&v1, &["*"])).unwrap();
    ring.add(public(&vendor, &["console"])).unwrap();
    (ring, v1, vendor)
}

fn sign(sk: &SecretKey, generation: u32, add: &[PublicKey], revoke: &[KeyId]) -> Vec<u8> {
    let mut out = vec![0u8; 4096];
    let n = sign_update(sk, generation, add, revoke, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Appends a signature over the update statement of `body` (to craft updates by hand).
fn seal(sk: &SecretKey, body: &[u8]) -> Vec<u8> {
    let sig = crate::verify::sign_bytes(sk, &[KEYRING_DOMAIN, body].concat());
    [body, &sig].concat()
}

fn entry_sig(sk: &SecretKey) -> [u8; 64] {
    let mut scratch = [0u8; 128];
    crate::sign_entry(sk, "netd", &SHA, &["console"], &mut scratch).unwrap()
}

#[test]
fn rotation_v1_to_v2() {
    let (ring, v1, _) = base();
    let v2 = secret("release_v2", 3);
    let update = sign(&v1, 1, &[public(&v2, &["*"])], &[id("release_v1")]);
    let Applied { ring, generation } = apply(&ring, &update, 0).unwrap();
    assert_eq!(generation, 1);
    let ids: Vec<&str> = ring.keys().iter().map(|k| k.id().as_str()).collect();
    assert_eq!(ids, ["vendor", "release_v2"]);
    assert_eq!(ring.revoked(), [id("release_v1")]);
    let caps = ["console"];
    let old = ring.check_entry("release_v1", "netd", &SHA, &caps, &entry_sig(&v1));
    assert_eq!(old.unwrap_err().reason, RingErrorKind::Revoked);
    let new = ring.check_entry("release_v2", "netd", &SHA, &caps, &entry_sig(&v2));
    assert_eq!(new, Ok(()));
    // v1 can no longer change the ring; v2 can.
    let again = sign(&v1, 2, &[], &[id("vendor")]);
    let err = apply(&ring, &again, 1);
    assert_eq!(err, Err(UpdateError::RevokedSigner(id("release_v1"))));
    let next = sign(&v2, 2, &[], &[id("vendor")]);
    let applied = apply(&ring, &next, 1).unwrap();
    assert!(applied.ring.get("vendor").is_none() && applied.ring.is_revoked("vendor"));
}

#[test]
fn layout_matches_documentation_and_signature_is_plain_ed25519() {
    let (_, v1, _) = base();
    let v2 = public(&secret("release_v2", 3), &["*"]);
    let got = sign(&v1, 0x0102_0304, core::slice::from_ref(&v2), &[id("old")]);
    let mut file = vec![0u8; v2.encoded_len()];
    v2.encode(&mut file).unwrap();
    let mut want = b"PGRINGUP\x01\x00\x04\x03\x02\x01\x01".to_vec();
    want.extend_from_slice(&(file.len() as u16).to_le_bytes());
    want.extend_from_slice(&file);
    want.extend_from_slice(b"\x01\x03old\x0arelease_v1");
    let (body, sig) = got.split_at(got.len() - 64);
    assert_eq!(body, want);
    let key = ed25519_compact::PublicKey::new(public(&v1, &[]).key_bytes());
    let msg = [b"PANDAGEN-KEYRING-v1\0".as_slice(), body].concat();
    let sig = ed25519_compact::Signature::new(sig.try_into().unwrap());
    assert!(key.verify(&msg, &sig).is_ok());
    let parsed = RingUpdate::parse(&got).unwrap();
    assert_eq!(
        (parsed.generation, parsed.signer, parsed.add.as_slice()),
        (0x0102_0304, id("release_v1"), [v2].as_slice())
    );
    assert_eq!(parsed.revoke.as_slice(), [id("old")]);
}

#[test]
fn stale_generation_is_refused() {
    let (ring, v1, _) = base();
    let update = sign(&v1, 5, &[], &[]);
    let stale = |have| Err(UpdateError::Stale { have, got: 5 });
    assert_eq!(apply(&ring, &update, 5), stale(5));
    assert_eq!(apply(&ring, &update, u32::MAX), stale(u32::MAX));
    assert_eq!(apply(&ring, &update, 4).map(|a| a.generation), Ok(5));
}

#[test]
fn signer_rules() {
    let (mut ring, _, vendor) = base();
    let stranger = sign(&secret("stranger", 9), 1, &[], &[]);
    let err = apply(&ring, &stranger, 0);
    assert_eq!(err, Err(UpdateError::UnknownSigner(id("stranger"))));
    let limited = sign(&vendor, 1, &[], &[]);
    let err = apply(&ring, &limited, 0);
    assert_eq!(err, Err(UpdateError::SignerNotFullAuthority(id("vendor"))));
    // Same id as the trusted signer, other key: the signature does not match.
    let impostor = sign(&secret("release_v1", 7), 1, &[], &[]);
    let err = apply(&ring, &impostor, 0);
    assert_eq!(err, Err(UpdateError::BadSignature(VerifyError::Mismatch)));
    ring.revoke(id("release_v1")).unwrap();
    let revoked = sign(&secret("release_v1", 1), 1, &[], &[]);
    let err = apply(&ring, &revoked, 0);
    assert_eq!(err, Err(UpdateError::RevokedSigner(id("release_v1"))));
}

#[test]
fn every_tampered_byte_is_refused() {
    let (ring, v1, _) = base();
    let update = sign(&v1, 7, &[public(&secret("extra", 4), &[])], &[id("x")]);
    assert!(apply(&ring, &update, 0).is_ok());
    for i in 0..update.len() {
        let mut bad = update.clone();
        bad[i] ^= 0x01;
        assert!(apply(&ring, &bad, 0).is_err(), "byte {i}");
    }
    let mut bad = update.clone();
    bad[10] ^= 0x08; // the generation: 7 becomes 15
    let err = apply(&ring, &bad, 0);
    assert_eq!(err, Err(UpdateError::BadSignature(VerifyError::Mismatch)));
}

#[test]
fn truncated_and_trailing_bytes_are_refused() {
    let (ring, v1, _) = base();
    let update = sign(&v1, 1, &[public(&secret("extra", 4), &["net"])], &[id("x")]);
    for len in 0..update.len() {
        let err = apply(&ring, &update[..len], 0).unwrap_err();
        assert!(matches!(err, UpdateError::Truncated { .. }), "len {len}");
    }
    let err = apply(&ring, &update[..update.len() - 1], 0);
    assert_eq!(err, Err(UpdateError::Truncated { field: "signature" }));
    let long = [update.as_slice(), &[0]].concat();
    assert_eq!(apply(&ring, &long, 0), Err(UpdateError::TrailingBytes(1)));
}

#[test]
fn header_and_field_errors() {
    let (_, v1, _) = base();
    let good = sign(&v1, 1, &[], &[]);
    let parse = |b: &[u8]| RingUpdate::parse(b).map(|_| ());
    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(parse(&bad), Err(UpdateError::BadMagic));
    let mut bad = good.clone();
    bad[8] = 2;
    assert_eq!(parse(&bad), Err(UpdateError::UnsupportedVersion(2)));
    let head = [UPDATE_MAGIC.as_slice(), b"\x01\x00\x01\x00\x00\x00"].concat();
    let err = parse(&[head.as_slice(), b"\x09"].concat());
    assert_eq!(err, Err(UpdateError::TooManyKeys(9)));
    let err = parse(&[head.as_slice(), b"\x00\x11"].concat());
    assert_eq!(err, Err(UpdateError::TooManyRevoked(17)));
    let err = parse(&[head.as_slice(), b"\x01\x02\x00ab"].concat());
    assert!(matches!(err, Err(UpdateError::BadKey { index: 0, .. })));
    let err = parse(&[head.as_slice(), b"\x00\x01\x01A"].concat());
    let error = IdentError::BadByte(b'A');
    assert_eq!(err, Err(UpdateError::BadRevokedId { index: 0, error }));
    let err = parse(&[head.as_slice(), b"\x00\x00\x00"].concat());
    let error = IdentError::BadLength(0);
    assert_eq!(err, Err(UpdateError::BadSignerId(error)));
}

#[test]
fn added_key_must_not_be_revoked() {
    let (mut ring, v1, _) = base();
    let v2 = public(&secret("release_v2", 3), &["*"]);
    let mut out = [0u8; 1024];
    let err = sign_update(
        &v1,
        1,
        core::slice::from_ref(&v2),
        &[id("release_v2")],
        &mut out,
    );
    assert_eq!(err, Err(UpdateError::AddedKeyRevoked(id("release_v2"))));
    // The same update crafted by hand is refused when parsed.
    let good = sign(&v1, 1, core::slice::from_ref(&v2), &[id("release_vx")]);
    let body = &good[..good.len() - 64];
    let at = body.windows(10).position(|w| w == b"release_vx").unwrap();
    let mut body = body.to_vec();
    body[at + 9] = b'2';
    let err = apply(&ring, &seal(&v1, &body), 0);
    assert_eq!(err, Err(UpdateError::AddedKeyRevoked(id("release_v2"))));
    // A key whose id was revoked earlier cannot come back.
    ring.revoke(id("release_v2")).unwrap();
    let err = apply(&ring, &sign(&v1, 1, &[v2], &[]), 0);
    assert_eq!(err, Err(UpdateError::AddedKeyRevoked(id("release_v2"))));
}

#[test]
fn re_adding_a_trusted_key_updates_its_limits_but_another_key_conflicts() {
    let (ring, v1, vendor) = base();
    let same = public(&vendor, &["console", "network_device"]);
    let applied = apply(&ring, &sign(&v1, 1, core::slice::from_ref(&same), &[]), 0).unwrap();
    assert_eq!(applied.ring.keys().len(), 2);
    assert_eq!(applied.ring.get("vendor"), Some(&same));
    let other = public(&secret("vendor", 8), &["console"]);
    let err = apply(&ring, &sign(&v1, 1, &[other], &[]), 0);
    assert_eq!(err, Err(UpdateError::ConflictingKey(id("vendor"))));
}

#[test]
fn duplicate_ids_and_capacity() {
    let (ring, v1, _) = base();
    let extra = public(&secret("extra", 4), &[]);
    let mut out = [0u8; 1024];
    let twice = [extra.clone(), extra];
    let err = sign_update(&v1, 1, &twice, &[], &mut out);
    assert_eq!(err, Err(UpdateError::DuplicateKeyId(id("extra"))));
    let seven: Vec<PublicKey> = (0..7)
        .map(|i| public(&secret(&format!("k{i}"), 20 + i), &[]))
        .collect();
    let err = apply(&ring, &sign(&v1, 1, &seven, &[]), 0);
    assert_eq!(err, Err(UpdateError::Ring(RingSetupError::Full)));
    let ok = apply(&ring, &sign(&v1, 1, &seven[..6], &[]), 0).unwrap();
    assert_eq!(ok.ring.keys().len(), 8);
}

#[test]
fn sign_update_limits_and_buffer() {
    let (_, v1, _) = base();
    let needed = sign(&v1, 1, &[], &[id("a")]).len();
    let mut out = vec![0u8; needed];
    assert_eq!(sign_update(&v1, 1, &[], &[id("a")], &mut out), Ok(needed));
    let have = needed - 1;
    let err = sign_update(&v1, 1, &[], &[id("a")], &mut out[..have]);
    assert_eq!(err, Err(UpdateError::BufferTooSmall { needed, have }));
    let keys: Vec<PublicKey> = (0..9)
        .map(|i| public(&secret(&format!("k{i}"), 20 + i), &[]))
        .collect();
    let mut big = [0u8; 8192];
    let err = sign_update(&v1, 1, &keys, &[], &mut big);
    assert_eq!(err, Err(UpdateError::TooManyKeys(9)));
    let ids: Vec<KeyId> = (0..17).map(|i| id(&format!("r{i}"))).collect();
    let err = sign_update(&v1, 1, &[], &ids, &mut big);
    assert_eq!(err, Err(UpdateError::TooManyRevoked(17)));
}

#[test]
fn errors_display_one_line() {
    let k = id("k");
    let errors = [
        UpdateError::Truncated { field: "key" },
        UpdateError::BadMagic,
        UpdateError::UnsupportedVersion(2),
        UpdateError::TooManyKeys(9),
        UpdateError::TooManyRevoked(17),
        UpdateError::BadKey {
            index: 0,
            error: crate::KeyError::BadPublicKey,
        },
        UpdateError::BadRevokedId {
            index: 1,
            error: IdentError::BadLength(0),
        },
        UpdateError::BadSignerId(IdentError::BadByte(b'A')),
        UpdateError::TrailingBytes(1),
        UpdateError::DuplicateKeyId(k),
        UpdateError::AddedKeyRevoked(k),
        UpdateError::UnknownSigner(k),
        UpdateError::RevokedSigner(k),
        UpdateError::SignerNotFullAuthority(k),
        UpdateError::BadSignature(VerifyError::Mismatch),
        UpdateError::Stale { have: 3, got: 2 },
        UpdateError::ConflictingKey(k),
        UpdateError::Ring(RingSetupError::RevocationListFull),
        UpdateError::BufferTooSmall { needed: 9, have: 1 },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.is_empty() && !text.contains('\n'), "{text}");
    }
}
