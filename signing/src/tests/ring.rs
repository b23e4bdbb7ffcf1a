//! Key ring rules: unknown, revoked, capability limits, wildcard, bad signature.

use super::{public, secret};
use crate::ring::{RingErrorKind, RingSetupError, MAX_RING_KEYS};
use crate::{KeyId, KeyRing, SecretKey, VerifyError};

const SHA: [u8; 32] = [0x11; 32];

fn sign(sk: &SecretKey, name: &str, caps: &[&str]) -> [u8; 64] {
    let mut scratch = [0u8; 256];
    crate::sign_entry(sk, name, &SHA, caps, &mut scratch).unwrap()
}

/// A ring with `vendor` (console, network_device) and `pandagen` (`*`).
fn ring() -> (KeyRing, SecretKey, SecretKey) {
    let (vendor, core) = (secret("vendor", 1), secret("pandagen", 2));
    let mut ring = KeyRing::new();
    ring.add(public(&vendor, &["console", "network_device"]))
        .unwrap();
    ring.add(public(&core, &["*"])).unwrap();
    (ring, vendor, core)
}

#[test]
fn allowed_entry_passes_with_capability_arguments() {
    let (ring, vendor, _) = ring();
    let caps = ["console", "network_device:eth0"];
    let sig = sign(&vendor, "netd", &caps);
    assert_eq!(
        ring.check_entry("vendor", "netd", &SHA, &caps, &sig),
        Ok(())
    );
}

#[test]
fn unknown_key_is_refused() {
    let (ring, vendor, _) = ring();
    let sig = sign(&vendor, "netd", &[]);
    let err = ring
        .check_entry("stranger", "netd", &SHA, &[], &sig)
        .unwrap_err();
    assert_eq!(
        (err.entry, err.key_id, err.reason),
        ("netd", "stranger", RingErrorKind::UnknownKey)
    );
    assert!(err
        .to_string()
        .contains("`stranger` is not in the key ring"));
}

#[test]
fn revoked_key_is_refused_even_when_present() {
    let (mut ring, vendor, _) = ring();
    let sig = sign(&vendor, "netd", &["console"]);
    ring.revoke(KeyId::new("vendor").unwrap()).unwrap();
    let err = ring
        .check_entry("vendor", "netd", &SHA, &["console"], &sig)
        .unwrap_err();
    assert_eq!(err.reason, RingErrorKind::Revoked);
    assert!(ring.is_revoked("vendor"));
}

#[test]
fn capability_outside_limits_is_refused() {
    let (ring, vendor, _) = ring();
    let caps = ["console", "block_device:0"];
    let sig = sign(&vendor, "storage", &caps);
    let err = ring
        .check_entry("vendor", "storage", &SHA, &caps, &sig)
        .unwrap_err();
    assert_eq!(
        err.reason,
        RingErrorKind::CapabilityNotAllowed {
            capability: "block_device:0"
        }
    );
    assert_eq!(err.entry, "storage");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn kind_match_is_exact_not_prefix() {
    let (ring, vendor, _) = ring();
    let caps = ["console_raw"];
    let sig = sign(&vendor, "x", &caps);
    let err = ring
        .check_entry("vendor", "x", &SHA, &caps, &sig)
        .unwrap_err();
    assert_eq!(
        err.reason,
        RingErrorKind::CapabilityNotAllowed {
            capability: "console_raw"
        }
    );
}

#[test]
fn wildcard_allows_all() {
    let (ring, _, core) = ring();
    let caps = ["block_device:0", "console", "anything_else:x:y"];
    let sig = sign(&core, "storage", &caps);
    assert_eq!(
        ring.check_entry("pandagen", "storage", &SHA, &caps, &sig),
        Ok(())
    );
}

#[test]
fn signature_by_another_trusted_key_is_refused() {
    let (ring, vendor, _) = ring();
    let sig = sign(&vendor, "storage", &["block_device"]);
    let err = ring
        .check_entry("pandagen", "storage", &SHA, &["block_device"], &sig)
        .unwrap_err();
    assert_eq!(
        err.reason,
        RingErrorKind::BadSignature(VerifyError::Mismatch)
    );
}

#[test]
fn manifest_check() {
    let (ring, _, core) = ring();
    let digest = [0x42; 32];
    let sig = crate::sign_manifest(&core, &digest);
    assert_eq!(ring.check_manifest("pandagen", &digest, &sig), Ok(()));
    let mut other = digest;
    other[31] ^= 1;
    let err = ring.check_manifest("pandagen", &other, &sig).unwrap_err();
    assert_eq!(
        err.reason,
        RingErrorKind::BadSignature(VerifyError::Mismatch)
    );
    let err = ring.check_manifest("vendor", &digest, &sig).unwrap_err();
    assert_eq!(
        (err.entry, err.reason),
        (
            "(manifest)",
            RingErrorKind::BadSignature(VerifyError::Mismatch)
        )
    );
}

#[test]
fn delta_check_is_domain_separated() {
    let (ring, _, core) = ring();
    let digest = [0x42; 32];
    let sig = crate::sign_delta(&core, &digest);
    assert_eq!(ring.check_delta("pandagen", &digest, &sig), Ok(()));
    let mut other = digest;
    other[0] ^= 1;
    let err = ring.check_delta("pandagen", &other, &sig).unwrap_err();
    assert_eq!(
        (err.entry, err.reason),
        (
            "(delta update)",
            RingErrorKind::BadSignature(VerifyError::Mismatch)
        )
    );
    // A manifest signature over the same digest is not a delta signature, nor the reverse.
    let manifest_sig = crate::sign_manifest(&core, &digest);
    assert!(ring
        .check_delta("pandagen", &digest, &manifest_sig)
        .is_err());
    assert!(ring.check_manifest("pandagen", &digest, &sig).is_err());
    assert_eq!(
        crate::delta_statement(&digest).len(),
        crate::DELTA_STATEMENT_LEN
    );
}

#[test]
fn ring_setup_limits() {
    let (mut ring, vendor, _) = ring();
    let dup = ring.add(public(&vendor, &[]));
    assert_eq!(
        dup,
        Err(RingSetupError::DuplicateKeyId(
            KeyId::new("vendor").unwrap()
        ))
    );
    for i in 2..MAX_RING_KEYS {
        ring.add(public(&secret(&format!("k{i}"), 10 + i as u8), &[]))
            .unwrap();
    }
    assert_eq!(
        ring.add(public(&secret("last", 99), &[])),
        Err(RingSetupError::Full)
    );
    assert_eq!(ring.keys().len(), MAX_RING_KEYS);
}
