//! The whole-image check: manifest signature first, then each entry's, with owned refusals.

use loader::manifest::{Entry, Manifest};
use loader::signature::{ManifestSignature, Signature};
use loader::Sha256Digest;

use super::{public, secret};
use crate::image::{check, Reason, MANIFEST_LABEL};
use crate::{sign_entry, sign_manifest, KeyRing, SecretKey, VerifyError};

fn entry(name: &str, caps: &[&str]) -> Entry {
    Entry {
        name: name.try_into().unwrap(),
        capabilities: caps.iter().map(|c| (*c).try_into().unwrap()).collect(),
        checksum: Sha256Digest::of(name.as_bytes()),
        ..Entry::default()
    }
}

fn sign(e: &mut Entry, key: &SecretKey) {
    let caps: Vec<&str> = e.capabilities.iter().map(|c| c.as_str()).collect();
    let mut scratch = vec![0u8; 512];
    let sig = sign_entry(key, &e.name, &e.checksum.0, &caps, &mut scratch).unwrap();
    e.signature = Some(Signature(sig));
    e.public_key_id = Some(key.id().as_str().try_into().unwrap());
}

fn record(key: &SecretKey, digest: &Sha256Digest) -> ManifestSignature {
    ManifestSignature::new(key.id().as_str(), Signature(sign_manifest(key, &digest.0))).unwrap()
}

/// system (`*`) and vendor (`console`) trusted; `other` not.
fn setup() -> (KeyRing, SecretKey, SecretKey, SecretKey) {
    let (system, vendor, other) = (secret("system", 1), secret("vendor", 2), secret("other", 3));
    let mut ring = KeyRing::new();
    ring.add(public(&system, &["*"])).unwrap();
    ring.add(public(&vendor, &["console"])).unwrap();
    (ring, system, vendor, other)
}

#[test]
fn a_fully_signed_image_passes_and_each_fault_is_named() {
    let (ring, system, vendor, other) = setup();
    let mut m = Manifest::default();
    let mut ok = entry("storage", &["block_device"]);
    sign(&mut ok, &system);
    let mut limited = entry("vendor_disk", &["console", "block_device:0"]);
    sign(&mut limited, &vendor);
    let mut foreign = entry("foreign", &[]);
    sign(&mut foreign, &other);
    let mut forged = entry("forged", &["console"]);
    sign(&mut forged, &system);
    forged
        .capabilities
        .push("power".try_into().unwrap())
        .unwrap();
    let unsigned = entry("plain", &[]);
    for e in [ok, limited, foreign, forged, unsigned] {
        m.services.push(e).unwrap();
    }
    let digest = Sha256Digest::of(b"the manifest bytes");
    let r = check(&ring, Some(&record(&system, &digest)), &digest, &m);
    assert_eq!(r.manifest_key.as_deref(), Some("system"));
    assert_eq!(r.signed_entries, 1);
    assert!(r.manifest_refusal().is_none());
    assert!(r.entry_refusal("storage").is_none());
    let reason = |n: &str| r.entry_refusal(n).unwrap().reason.clone();
    assert_eq!(
        reason("vendor_disk"),
        Reason::CapabilityNotAllowed("block_device:0".try_into().unwrap())
    );
    assert_eq!(reason("foreign"), Reason::UnknownKey);
    assert_eq!(
        reason("forged"),
        Reason::BadSignature(VerifyError::Mismatch)
    );
    assert_eq!(reason("plain"), Reason::Unsigned);
    let line = r.entry_refusal("vendor_disk").unwrap().to_string();
    assert_eq!(
        line,
        "entry `vendor_disk`: key `vendor` may not grant capability `block_device:0`; sign with a key allowed its kind"
    );
}

#[test]
fn manifest_refusals() {
    let (ring, system, _vendor, other) = setup();
    let m = Manifest::default();
    let digest = Sha256Digest::of(b"m");
    let unsigned = check(&ring, None, &digest, &m);
    let r = unsigned.manifest_refusal().unwrap();
    assert_eq!(
        (r.entry.as_str(), &r.reason),
        (MANIFEST_LABEL, &Reason::Unsigned)
    );
    assert!(r.to_string().starts_with("the manifest is not signed"));

    // A signature over other bytes (the manifest changed after signing).
    let changed = check(
        &ring,
        Some(&record(&system, &Sha256Digest::of(b"n"))),
        &digest,
        &m,
    );
    assert_eq!(
        changed.manifest_refusal().unwrap().reason,
        Reason::BadSignature(VerifyError::Mismatch)
    );
    let untrusted = check(&ring, Some(&record(&other, &digest)), &digest, &m);
    let r = untrusted.manifest_refusal().unwrap();
    assert_eq!(
        (r.key_id.as_str(), &r.reason),
        ("other", &Reason::UnknownKey)
    );
    assert_eq!(
        r.to_string(),
        "the manifest: key `other` is not in the key ring; sign with a trusted key"
    );
    // A revoked key is refused even though it is in the ring.
    let mut revoked = ring.clone();
    revoked.revoke(*system.id()).unwrap();
    let r = check(&revoked, Some(&record(&system, &digest)), &digest, &m);
    assert_eq!(r.manifest_refusal().unwrap().reason, Reason::Revoked);
}
