//! The key ring and policy enrolled into this kernel binary at build time: `cargo xtask`
//! writes them over the placeholder below (docs/security.md, "The kernel's trust block").
//!
//! The block is authenticated by the boot chain, not by itself: the kernel file is pinned by
//! its BLAKE2b hash in limine.conf, whose hash is enrolled into the boot loader.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, Ordering};

use signing::trust::{Trust, TrustError, PLACEHOLDER_MAGIC, TRUST_LEN};

/// The trust block. Atomics, so the compiler cannot assume the placeholder's bytes: they are
/// replaced in the file after linking.
#[repr(transparent)]
struct Block([AtomicU8; TRUST_LEN]);

/// The placeholder: [`PLACEHOLDER_MAGIC`] then zeros ("no key ring enrolled").
const fn placeholder() -> [AtomicU8; TRUST_LEN] {
    let mut out = [const { AtomicU8::new(0) }; TRUST_LEN];
    let mut i = 0;
    while i < PLACEHOLDER_MAGIC.len() {
        out[i] = AtomicU8::new(PLACEHOLDER_MAGIC[i]);
        i += 1;
    }
    out
}

/// In `.data` (its initializer is not all zero), so its bytes are in the kernel file where
/// `cargo xtask` finds the placeholder; no `link_section` needed.
#[used]
static TRUST: Block = Block(placeholder());

/// The enrolled key ring and policy; `Ok(None)` when the placeholder was never replaced (a
/// kernel not packed by `cargo xtask`).
pub fn enrolled() -> Result<Option<Trust>, TrustError> {
    let bytes: Vec<u8> = TRUST.0.iter().map(|b| b.load(Ordering::Relaxed)).collect();
    Trust::decode(&bytes)
}
