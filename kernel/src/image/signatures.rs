//! Verified boot at boot time: the key ring enrolled into this kernel checks the manifest
//! signature and every entry's; the enrolled policy decides what a refusal costs
//! (docs/security.md): under `enforce` a manifest refusal refuses the image and an entry
//! refusal refuses that entry; under `permissive` each is one warning line.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write};

use bootlog::msg::{
    VBOOT_CHECKED_START, VBOOT_DEVELOPMENT, VBOOT_ENTRY_REFUSED_START, VBOOT_NO_RING,
    VBOOT_PERMISSIVE_END, VBOOT_PERMISSIVE_START, VBOOT_REFUSED_START, VBOOT_ROLLBACK, VBOOT_START,
};
use loader::manifest::Manifest;
use loader::signature::RingUpdateBytes;
use loader::verify::Verified;
use signing::image::Refusal;
use signing::trust::{Policy, Trust, TrustError};
use signing::update::UpdateError;
use signing::KeyRing;

use super::trust;
use crate::time;
use crate::userdata::security::{Record, Stored};

/// Why verified boot refused the image.
#[derive(Debug)]
pub enum SignatureError {
    /// The manifest's signature was refused under `enforce` (boxed: errors stay small).
    Refused(Box<Refusal>),
    /// The kernel's own trust block does not decode (the kernel file is damaged).
    BadTrustBlock(TrustError),
    /// The image's key-ring update was refused.
    RingUpdate(UpdateError),
    /// The image's key-ring update is older than the one this system applied.
    StaleRingUpdate { image: u32, applied: u32 },
    /// The image's `security_epoch` is below the system's committed minimum.
    Rollback { image: u32, min: u32 },
}

/// The error's text without the `verified boot (enforce): ` prefix (for permissive warnings).
struct Bare<'a>(&'a SignatureError);

impl fmt::Display for Bare<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            SignatureError::Refused(r) => write!(f, "{r}"),
            SignatureError::BadTrustBlock(e) => write!(
                f,
                "this kernel's trust block is damaged ({e}): rebuild the image"
            ),
            SignatureError::RingUpdate(e) => write!(f, "the image's key-ring update: {e}"),
            SignatureError::StaleRingUpdate { image, applied } => write!(
                f,
                "the image's key-ring update has generation {image}, older than generation {applied} this system applied; rebuild the image with the current update"
            ),
            SignatureError::Rollback { image, min } => write!(
                f,
                "{VBOOT_ROLLBACK}: the image has security_epoch {image}, below {min}, the lowest this system still boots; boot an image with security_epoch {min} or later"
            ),
        }
    }
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{VBOOT_REFUSED_START}{}", Bare(self))
    }
}

/// One banner line: the policy and the key ring (and a loud mark on the development key).
pub fn banner_line() -> String {
    let trust = match trust::enrolled() {
        Ok(Some(t)) => t,
        Ok(None) => return String::from(VBOOT_NO_RING),
        Err(e) => return alloc::format!("{VBOOT_START}the trust block is damaged: {e}"),
    };
    let mut line = alloc::format!("{VBOOT_START}policy {}, key ring", trust.policy);
    for (i, key) in trust.ring.keys().iter().enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(line, "{sep}{} [", key.id());
        for (j, cap) in key.capability_limits().iter().enumerate() {
            let _ = write!(line, "{}{}", if j == 0 { "" } else { "," }, cap.as_str());
        }
        line.push(']');
    }
    if trust.development {
        let _ = write!(line, " ({VBOOT_DEVELOPMENT})");
    }
    line
}

/// What the check leaves for later: the entries to refuse, and the security record to write
/// once every entry has come up.
pub struct Checked {
    /// Entries refused under `enforce` (the supervisor refuses them).
    pub vetoes: Vec<Refusal>,
    /// The record to commit after a boot in which every entry came up (`None`: unchanged).
    pub commit: Option<Commit>,
}

/// A security record to write, and where.
pub struct Commit {
    pub record: Record,
    pub generation: u64,
    /// Region-relative block of the copy to overwrite.
    pub block: u64,
}

/// The base ring with the stored revocations, then the image's key-ring update applied
/// (its generation must not be below the one stored). Updates `next` with what to commit.
fn effective_ring(
    trust: &Trust,
    update: Option<&RingUpdateBytes>,
    next: &mut Record,
) -> Result<KeyRing, SignatureError> {
    let mut ring = trust.ring.clone();
    for id in &next.revoked {
        if let Ok(id) = signing::KeyId::new(id) {
            let _ = ring.revoke(id);
        }
    }
    let Some(update) = update else {
        return Ok(ring);
    };
    let applied =
        signing::update::apply(&ring, &update.0, 0).map_err(SignatureError::RingUpdate)?;
    if applied.generation < next.ring_generation {
        return Err(SignatureError::StaleRingUpdate {
            image: applied.generation,
            applied: next.ring_generation,
        });
    }
    log::info!(
        "{VBOOT_START}key-ring update generation {} applied: ring now {}",
        applied.generation,
        ring_ids(&applied.ring)
    );
    next.ring_generation = applied.generation;
    for id in applied.ring.revoked() {
        let text = id.as_str().try_into().unwrap_or_default();
        if !next.revoked.contains(&text) && next.revoked.push(text).is_err() {
            log::warn!(
                "{VBOOT_START}the security record keeps {} revoked ids; `{id}` is not recorded",
                next.revoked.len()
            );
        }
    }
    Ok(applied.ring)
}

fn ring_ids(ring: &KeyRing) -> String {
    let mut out = String::new();
    for (i, k) in ring.keys().iter().enumerate() {
        let _ = write!(out, "{}{}", if i == 0 { "" } else { ", " }, k.id());
    }
    for id in ring.revoked() {
        let _ = write!(out, "; revoked {id}");
    }
    out
}

/// Under `enforce` an error stops the boot; under `permissive` it is one warning line.
fn per_policy(policy: Policy, e: SignatureError) -> Result<(), SignatureError> {
    match policy {
        Policy::Enforce => Err(e),
        Policy::Permissive => {
            log::warn!("{VBOOT_PERMISSIVE_START}{}{VBOOT_PERMISSIVE_END}", Bare(&e));
            Ok(())
        }
    }
}

/// Checks the verified image's signatures, its key-ring update and its security epoch against
/// `stored` (the security record, when the image's disk has one). `fallback_epoch`: the
/// epoch of the other system slot while it is bootable — the minimum never advances past it,
/// so the fallback slot stays bootable.
pub fn check(
    verified: &Verified,
    manifest: &Manifest,
    stored: Option<&Stored>,
    fallback_epoch: Option<u32>,
) -> Result<Checked, SignatureError> {
    let trust: Trust = match trust::enrolled().map_err(SignatureError::BadTrustBlock)? {
        Some(t) => t,
        None => {
            log::warn!("{VBOOT_NO_RING}");
            return Ok(Checked {
                vetoes: Vec::new(),
                commit: None,
            });
        }
    };
    let started = time::uptime_us();
    let before = stored.map(|s| s.record.clone()).unwrap_or_default();
    let mut next = before.clone();
    let ring = match effective_ring(&trust, manifest.key_ring_update.as_ref(), &mut next) {
        Ok(ring) => ring,
        Err(e) => {
            per_policy(trust.policy, e)?;
            next = before.clone();
            effective_ring(&trust, None, &mut next)?
        }
    };
    if manifest.security_epoch < before.min_epoch {
        per_policy(
            trust.policy,
            SignatureError::Rollback {
                image: manifest.security_epoch,
                min: before.min_epoch,
            },
        )?;
    }
    let kept = manifest
        .security_epoch
        .min(fallback_epoch.unwrap_or(u32::MAX));
    next.min_epoch = next.min_epoch.max(kept);
    let vetoes = check_signatures(&trust, &ring, verified, manifest, started)?;
    let commit = stored.filter(|_| next != before).map(|s| Commit {
        record: next,
        generation: s.generation + 1,
        block: crate::userdata::security::BLOCKS[s.write_to],
    });
    Ok(Checked { vetoes, commit })
}

/// The manifest's and the entries' signatures against `ring`, logged; the entries to refuse.
fn check_signatures(
    trust: &Trust,
    ring: &KeyRing,
    verified: &Verified,
    manifest: &Manifest,
    started: u64,
) -> Result<Vec<Refusal>, SignatureError> {
    let sb = &verified.superblock;
    let report = signing::image::check(
        ring,
        sb.signature.as_ref(),
        &verified.manifest_sha256,
        manifest,
    );
    let us = time::uptime_us().saturating_sub(started);
    let key = report.manifest_key.as_deref().unwrap_or("(none)");
    log::info!(
        "{VBOOT_CHECKED_START}`{key}`; {} of {} entries signed by trusted keys; checked in {}.{:03} ms",
        report.signed_entries,
        manifest.entries().count(),
        us / 1000,
        us % 1000
    );
    match trust.policy {
        Policy::Enforce => {
            if let Some(r) = report.manifest_refusal() {
                return Err(SignatureError::Refused(Box::new(r.clone())));
            }
            for r in &report.refusals {
                log::warn!("{VBOOT_ENTRY_REFUSED_START}{r}");
            }
            Ok(report.refusals.iter().cloned().collect())
        }
        Policy::Permissive => {
            for r in &report.refusals {
                log::warn!("{VBOOT_PERMISSIVE_START}{r}{VBOOT_PERMISSIVE_END}");
            }
            Ok(Vec::new())
        }
    }
}
