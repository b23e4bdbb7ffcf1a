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
    VBOOT_PERMISSIVE_END, VBOOT_PERMISSIVE_START, VBOOT_REFUSED_START, VBOOT_START,
};
use loader::manifest::Manifest;
use loader::verify::Verified;
use signing::image::Refusal;
use signing::trust::{Policy, Trust, TrustError};

use super::trust;
use crate::time;

/// Why verified boot refused the image.
#[derive(Debug)]
pub enum SignatureError {
    /// The manifest's signature was refused under `enforce` (boxed: errors stay small).
    Refused(Box<Refusal>),
    /// The kernel's own trust block does not decode (the kernel file is damaged).
    BadTrustBlock(TrustError),
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "{VBOOT_REFUSED_START}{r}"),
            Self::BadTrustBlock(e) => write!(
                f,
                "{VBOOT_REFUSED_START}this kernel's trust block is damaged ({e}): rebuild the image"
            ),
        }
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

/// Checks the verified image's signatures; returns the entries to refuse (under `enforce`).
pub fn check(verified: &Verified, manifest: &Manifest) -> Result<Vec<Refusal>, SignatureError> {
    let trust: Trust = match trust::enrolled().map_err(SignatureError::BadTrustBlock)? {
        Some(t) => t,
        None => {
            log::warn!("{VBOOT_NO_RING}");
            return Ok(Vec::new());
        }
    };
    let started = time::uptime_us();
    let sb = &verified.superblock;
    let report = signing::image::check(
        &trust.ring,
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
