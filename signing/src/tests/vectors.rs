//! RFC 8032 vectors and strictness of verification.

use super::{hex, RFC1_PUBLIC, RFC1_SEED, RFC1_SIG};
use crate::verify::{verify_raw, VerifyError};
use crate::{KeyId, SecretKey};
use ed25519_compact as ed;

fn rfc1() -> (ed::PublicKey, [u8; 64]) {
    (ed::PublicKey::new(hex(RFC1_PUBLIC)), hex(RFC1_SIG))
}

#[test]
fn rfc8032_test1_verifies() {
    let (key, sig) = rfc1();
    assert_eq!(verify_raw(&key, b"", &sig), Ok(()));
}

#[test]
fn rfc8032_test1_seed_derives_key_and_signature() {
    let secret = SecretKey::from_seed(KeyId::new("rfc").unwrap(), hex(RFC1_SEED)).unwrap();
    let public = secret.public_key(&[]).unwrap();
    assert_eq!(public.key_bytes(), hex::<32>(RFC1_PUBLIC));
    let sig = *secret.ed().sign(b"", None);
    assert_eq!(sig, hex::<64>(RFC1_SIG));
}

#[test]
fn flipped_message_bit_fails() {
    let (key, sig) = rfc1();
    assert_eq!(verify_raw(&key, &[0x01], &sig), Err(VerifyError::Mismatch));
}

#[test]
fn every_flipped_signature_bit_fails() {
    let (key, sig) = rfc1();
    for bit in 0..512 {
        let mut bad = sig;
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(verify_raw(&key, b"", &bad).is_err(), "bit {bit}");
    }
}

#[test]
fn every_flipped_key_bit_fails() {
    let (key, sig) = rfc1();
    for bit in 0..256 {
        let mut bad = *key;
        bad[bit / 8] ^= 1 << (bit % 8);
        let result = verify_raw(&ed::PublicKey::new(bad), b"", &sig);
        assert!(result.is_err(), "bit {bit}");
    }
}

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

#[test]
fn malleated_s_plus_l_is_rejected() {
    let (key, sig) = rfc1();
    let mut bad = sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(bad[32 + i]) + u16::from(L[i]) + carry;
        bad[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + L still fits in 32 bytes for this vector");
    assert_eq!(
        verify_raw(&key, b"", &bad),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn small_order_key_is_rejected() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let (_, sig) = rfc1();
    let result = verify_raw(&ed::PublicKey::new(identity), b"", &sig);
    assert_eq!(result, Err(VerifyError::BadKey));
}
