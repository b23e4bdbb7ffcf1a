//! Statement layout, field sensitivity, and entry sign/verify.

use super::{public, secret};
use crate::statement::{ENTRY_DOMAIN, MANIFEST_DOMAIN};
use crate::MANIFEST_STATEMENT_LEN;
use crate::{
    entry_statement, entry_statement_len, manifest_statement, sign_entry, sign_manifest,
    verify_entry, verify_manifest, StatementError, VerifyError,
};

fn stmt(name: &str, sha: &[u8; 32], caps: &[&str]) -> Vec<u8> {
    let mut buf = vec![0u8; 256];
    let n = entry_statement(name, sha, caps, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn entry_statement_layout() {
    let sha = [0x5a; 32];
    let got = stmt("cli", &sha, &["console", "net:0"]);
    let mut want = ENTRY_DOMAIN.to_vec();
    want.extend_from_slice(b"\x03\x00cli");
    want.extend_from_slice(&sha);
    want.extend_from_slice(b"\x02\x00\x07\x00console\x05\x00net:0");
    assert_eq!(got, want);
    assert_eq!(
        entry_statement_len("cli", &["console", "net:0"]),
        Ok(want.len())
    );
}

#[test]
fn statements_differ_when_any_field_differs() {
    let sha = [1u8; 32];
    let base = stmt("logger", &sha, &["console", "network_device"]);
    assert_ne!(base, stmt("logger2", &sha, &["console", "network_device"]));
    for i in 0..32 {
        let mut other = sha;
        other[i] ^= 0x80;
        assert_ne!(
            base,
            stmt("logger", &other, &["console", "network_device"]),
            "hash byte {i}"
        );
    }
    assert_ne!(base, stmt("logger", &sha, &["network_device", "console"]));
    assert_ne!(base, stmt("logger", &sha, &["console"]));
    // Length prefixes keep field boundaries apart.
    assert_ne!(stmt("a", &sha, &["bc"]), stmt("a", &sha, &["b", "c"]));
}

#[test]
fn statement_errors() {
    let sha = [0u8; 32];
    let mut buf = [0u8; 64];
    assert_eq!(
        entry_statement("", &sha, &[], &mut buf),
        Err(StatementError::EmptyName)
    );
    let long = "x".repeat(65_536);
    assert_eq!(
        entry_statement(&long, &sha, &[], &mut buf),
        Err(StatementError::NameTooLong(65_536))
    );
    let bad = entry_statement("n", &sha, &["ok", ""], &mut buf);
    assert_eq!(bad, Err(StatementError::EmptyCapability { index: 1 }));
    let bad = entry_statement("n", &sha, &[&long], &mut buf);
    assert_eq!(bad, Err(StatementError::CapabilityTooLong { index: 0 }));
    let many = vec!["c"; 65_536];
    assert_eq!(
        entry_statement("n", &sha, &many, &mut buf),
        Err(StatementError::TooManyCapabilities(65_536))
    );
    let needed = ENTRY_DOMAIN.len() + 2 + 1 + 32 + 2;
    assert_eq!(
        entry_statement("n", &sha, &[], &mut buf[..10]),
        Err(StatementError::BufferTooSmall { needed, have: 10 })
    );
}

#[test]
fn manifest_statement_is_prefix_plus_digest() {
    let digest: [u8; 32] = core::array::from_fn(|i| i as u8);
    let got = manifest_statement(&digest);
    assert_eq!(got.len(), MANIFEST_STATEMENT_LEN);
    assert_eq!(MANIFEST_STATEMENT_LEN, 21 + 32);
    assert_eq!(&got[..21], b"PANDAGEN-MANIFEST-v1\0");
    assert_eq!(got.as_slice(), [MANIFEST_DOMAIN, &digest].concat());
}

#[test]
fn manifest_signature_matches_plain_ed25519_over_statement() {
    let sk = secret("vendor", 8);
    let digest = [0xc3; 32];
    let sig = sign_manifest(&sk, &digest);
    let key = ed25519_compact::PublicKey::new(public(&sk, &[]).key_bytes());
    let msg = [MANIFEST_DOMAIN, &digest].concat();
    assert!(key
        .verify(&msg, &ed25519_compact::Signature::new(sig))
        .is_ok());
    assert_eq!(sig, sign_manifest(&sk, &digest), "signing is deterministic");
}

#[test]
fn entry_sign_then_verify_and_tamper() {
    let sk = secret("vendor", 3);
    let pk = public(&sk, &["*"]);
    let sha = [9u8; 32];
    let mut scratch = [0u8; 128];
    let sig = sign_entry(&sk, "logger", &sha, &["console"], &mut scratch).unwrap();
    assert_eq!(
        verify_entry(&pk, "logger", &sha, &["console"], &sig),
        Ok(())
    );
    assert_eq!(
        verify_entry(&pk, "logger", &sha, &["network_device"], &sig),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        verify_entry(&pk, "loggex", &sha, &["console"], &sig),
        Err(VerifyError::Mismatch)
    );
    let other = public(&secret("vendor", 4), &["*"]);
    assert_eq!(
        verify_entry(&other, "logger", &sha, &["console"], &sig),
        Err(VerifyError::Mismatch)
    );
    let bad = verify_entry(&pk, "", &sha, &[], &sig);
    assert_eq!(bad, Err(VerifyError::Statement(StatementError::EmptyName)));
}

#[test]
fn streamed_verification_matches_plain_ed25519_over_statement() {
    let sk = secret("vendor", 5);
    let sha = [2u8; 32];
    let mut scratch = [0u8; 128];
    let sig = sign_entry(&sk, "cli", &sha, &["console"], &mut scratch).unwrap();
    let msg = stmt("cli", &sha, &["console"]);
    let key = ed25519_compact::PublicKey::new(public(&sk, &[]).key_bytes());
    assert!(key
        .verify(&msg, &ed25519_compact::Signature::new(sig))
        .is_ok());
    let again = sign_entry(&sk, "cli", &sha, &["console"], &mut scratch).unwrap();
    assert_eq!(sig, again, "signing is deterministic");
}

#[test]
fn entry_and_manifest_domains_are_separate() {
    let sk = secret("vendor", 6);
    let pk = public(&sk, &["*"]);
    let sha = [0u8; 32];
    let mut entry = vec![0u8; 128];
    let n = entry_statement("x", &sha, &[], &mut entry).unwrap();
    // An entry's signature must not verify as a manifest signature over the same digest.
    let mut scratch = [0u8; 256];
    let entry_sig = sign_entry(&sk, "x", &sha, &[], &mut scratch).unwrap();
    assert_eq!(
        verify_manifest(&pk, &sha, &entry_sig),
        Err(VerifyError::Mismatch)
    );
    let manifest_sig = sign_manifest(&sk, &sha);
    assert_eq!(verify_manifest(&pk, &sha, &manifest_sig), Ok(()));
    assert_eq!(
        verify_entry(&pk, "x", &sha, &[], &manifest_sig),
        Err(VerifyError::Mismatch)
    );
    assert_ne!(&entry[..n], manifest_statement(&sha).as_slice());
}

#[test]
fn manifest_signature_covers_every_digest_byte() {
    let sk = secret("vendor", 9);
    let pk = public(&sk, &["*"]);
    let digest = [0x77; 32];
    let sig = sign_manifest(&sk, &digest);
    for i in 0..32 {
        let mut other = digest;
        other[i] ^= 1;
        let result = verify_manifest(&pk, &other, &sig);
        assert_eq!(result, Err(VerifyError::Mismatch), "digest byte {i}");
    }
}
