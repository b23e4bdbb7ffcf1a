//! A/B system slots: which system an image boots, and what happened on the last boots.
//!
//! An image may hold two system slots, A and B, each with its own kernel, manifest and
//! binaries. This crate is the logic the boot stub and the kernel share so that they cannot
//! disagree; the byte formats and the rules are documented in `docs/slots.md`.
//!
//! - [`block`]: the two-copy block frame (magic, version, generation, CRC-32C) that makes a
//!   record survive a power cut at any moment, and the rule that picks the copy to trust.
//! - [`meta`]: the slot metadata record (`PGSLOTS1`): per slot a priority, a try budget and a
//!   "successful" mark, plus a one-shot trial slot.
//! - [`mod@choose`]: the pure slot choice (libabr-like) and the metadata edits
//!   (`set_active`, `set_trial`, `mark_successful`, `mark_unbootable`).
//! - [`own`]: the same rules as the kernel of one slot applies them to itself.
//! - [`journal`]: the boot journal (`PGBOOTJ1`), a ring of the last 32 boots.
//! - [`crash`]: the crash record (`PGCRASH1`): what ended the last boot that ended in a
//!   kernel panic or exception, with the last kernel log lines.
//! - [`security`]: verified boot's security record (`PGSECUR1`): the rollback minimum, the
//!   last key-ring update applied and the revoked key ids.
//!
//! Nothing here allocates, panics on bad input or touches hardware: callers read and write
//! the 4096-byte blocks themselves.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod block;
pub mod choose;
pub mod crash;
pub mod journal;
pub mod meta;
pub mod own;
pub mod security;

pub use choose::{choose, Choice, FallbackReason, NoBootableSlot, Reason};

pub use meta::{MetaError, Metadata, Slot, SlotState};

/// The kernel command-line key that names the slot a boot-loader entry boots: `slot=A` or
/// `slot=B` (each entry of a two-slot image's limine.conf carries one).
pub const CMDLINE_KEY: &str = "slot";

/// The slot a kernel command line names (`slot=A`/`slot=B`, a whitespace-separated token);
/// `None` when there is no such token or it names no slot.
pub fn cmdline_slot(cmdline: &str) -> Option<Slot> {
    cmdline.split_ascii_whitespace().find_map(|token| {
        let value = token.strip_prefix(CMDLINE_KEY)?.strip_prefix('=')?;
        value.parse().ok()
    })
}

#[cfg(test)]
mod cmdline_tests {
    use super::*;

    #[test]
    fn the_slot_token_is_found_among_others() {
        assert_eq!(cmdline_slot("slot=B test=boot"), Some(Slot::B));
        assert_eq!(cmdline_slot("loglevel=info slot=A"), Some(Slot::A));
        assert_eq!(cmdline_slot("slots=B slot=C"), None);
        assert_eq!(cmdline_slot(""), None);
    }
}
