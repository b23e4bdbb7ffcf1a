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
//! - [`journal`]: the boot journal (`PGBOOTJ1`), a ring of the last 32 boots.
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
pub mod journal;
pub mod meta;
pub mod security;

pub use choose::{choose, Choice, FallbackReason, NoBootableSlot, Reason};

pub use meta::{MetaError, Metadata, Slot, SlotState};
