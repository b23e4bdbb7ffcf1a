//! The verified-boot check of a whole image, shared by the kernel and `cargo xtask verify`:
//! the manifest signature (block 0's record) and every entry's `signature`/`public_key_id`.
//!
//! The check only reports; what a problem costs is the policy's decision ([`crate::trust::Policy`]):
//! under `enforce` a manifest problem refuses the image and an entry problem refuses that entry
//! (its dependents are skipped); under `permissive` every problem is a warning.

use core::fmt;

use loader::manifest::{Manifest, MAX_CAPABILITY, MAX_ENTRIES, MAX_NAME};
use loader::signature::{ManifestSignature, MAX_KEY_ID};
use loader::Sha256Digest;

use crate::ring::{KeyRing, RingError, RingErrorKind};
use crate::verify::VerifyError;

/// Why a signature was not accepted, owned (no borrow of the manifest), for the records a
/// system keeps after the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// There is no signature.
    Unsigned,
    /// The key id is not in the key ring.
    UnknownKey,
    /// The key id is revoked.
    Revoked,
    /// The signature does not verify.
    BadSignature(VerifyError),
    /// The key may not grant this declared capability.
    CapabilityNotAllowed(heapless::String<MAX_CAPABILITY>),
}

/// One refused signature: of the manifest (`entry` = `(manifest)`) or of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The entry's name, or `(manifest)`.
    pub entry: heapless::String<MAX_NAME>,
    /// The key id claimed (empty when unsigned).
    pub key_id: heapless::String<MAX_KEY_ID>,
    /// Why.
    pub reason: Reason,
}

/// The label of a whole-manifest refusal.
pub const MANIFEST_LABEL: &str = "(manifest)";

fn cut<const N: usize>(s: &str) -> heapless::String<N> {
    let mut out = heapless::String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

impl Refusal {
    fn unsigned(entry: &str) -> Self {
        Self {
            entry: cut(entry),
            key_id: heapless::String::new(),
            reason: Reason::Unsigned,
        }
    }

    fn from_ring(e: &RingError<'_>) -> Self {
        let reason = match e.reason {
            RingErrorKind::UnknownKey => Reason::UnknownKey,
            RingErrorKind::Revoked => Reason::Revoked,
            RingErrorKind::BadSignature(v) => Reason::BadSignature(v),
            RingErrorKind::CapabilityNotAllowed { capability } => {
                Reason::CapabilityNotAllowed(cut(capability))
            }
        };
        Self {
            entry: cut(e.entry),
            key_id: cut(e.key_id),
            reason,
        }
    }

    /// Whether this refuses the manifest (and so the whole image under `enforce`).
    pub fn is_manifest(&self) -> bool {
        self.entry == MANIFEST_LABEL
    }
}

/// `the manifest` or ``entry `name` ``, the subject of a refusal's line.
struct Subject<'a>(&'a Refusal);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_manifest() {
            f.write_str("the manifest")
        } else {
            write!(f, "entry `{}`", self.0.entry)
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, key) = (Subject(self), &self.key_id);
        match &self.reason {
            Reason::Unsigned => write!(
                f,
                "{what} is not signed; sign the image with `cargo xtask build-image --sign-key`"
            ),
            Reason::UnknownKey => write!(
                f,
                "{what}: key `{key}` is not in the key ring; sign with a trusted key"
            ),
            Reason::Revoked => write!(
                f,
                "{what}: key `{key}` is revoked; re-sign with a current key"
            ),
            Reason::BadSignature(e) => write!(f, "{what}, key `{key}`: {e}"),
            Reason::CapabilityNotAllowed(cap) => write!(
                f,
                "{what}: key `{key}` may not grant capability `{cap}`; sign with a key allowed its kind"
            ),
        }
    }
}

/// What [`check`] found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The key that signed the manifest, when its signature verified.
    pub manifest_key: Option<heapless::String<MAX_KEY_ID>>,
    /// Entries whose signature verified.
    pub signed_entries: usize,
    /// Every refused signature, the manifest's first.
    pub refusals: heapless::Vec<Refusal, { MAX_ENTRIES + 1 }>,
}

impl Report {
    /// The manifest's refusal, if any (under `enforce` it refuses the whole image).
    pub fn manifest_refusal(&self) -> Option<&Refusal> {
        self.refusals.iter().find(|r| r.is_manifest())
    }

    /// The refusal of the entry called `name`, if any.
    pub fn entry_refusal(&self, name: &str) -> Option<&Refusal> {
        self.refusals
            .iter()
            .find(|r| !r.is_manifest() && r.entry == name)
    }
}

/// Checks the manifest signature `record` over `manifest_sha256` (the digest of the manifest's
/// exact bytes, as parsed), then each entry's signature over its statement, against `ring`.
pub fn check(
    ring: &KeyRing,
    record: Option<&ManifestSignature>,
    manifest_sha256: &Sha256Digest,
    manifest: &Manifest,
) -> Report {
    let mut report = Report::default();
    // Cannot overflow: MAX_ENTRIES + 1 refusals at most.
    match record {
        None => {
            let _ = report.refusals.push(Refusal::unsigned(MANIFEST_LABEL));
        }
        Some(r) => match ring.check_manifest(r.key_id(), &manifest_sha256.0, &r.signature.0) {
            Ok(()) => report.manifest_key = Some(cut(r.key_id())),
            Err(e) => {
                let _ = report.refusals.push(Refusal::from_ring(&e));
            }
        },
    }
    for entry in manifest.entries() {
        let refusal = match (&entry.signature, &entry.public_key_id) {
            (Some(sig), Some(key)) => {
                let caps: heapless::Vec<&str, { loader::manifest::MAX_CAPABILITIES }> =
                    entry.capabilities.iter().map(|c| c.as_str()).collect();
                ring.check_entry(key, &entry.name, &entry.checksum.0, &caps, &sig.0)
                    .err()
                    .map(|e| Refusal::from_ring(&e))
            }
            _ => Some(Refusal::unsigned(&entry.name)),
        };
        match refusal {
            Some(r) => {
                let _ = report.refusals.push(r);
            }
            None => report.signed_entries += 1,
        }
    }
    report
}
