//! Signed delta updates for PandaGen system slots: the `PGDELTA1` file (docs/update-format.md).
//!
//! A delta turns the running (old) slot into a new one: it carries the new slot's manifest and
//! only the regions that changed, each copied from the old slot, compressed whole (zstd), or
//! as a bsdiff-style patch against the old region. The crate is `no_std` + `alloc` and has no
//! `unsafe`, so the kernel can apply a delta as the host does:
//!
//! - [`format`]: the header and part entries, byte by byte;
//! - [`verify`]: the verifying pass (a cut, padded or damaged file is refused before anything
//!   is decoded) and the signature check under the system's policy;
//! - [`apply`]: the engine: reused old regions are checked against their SHA-256 before use,
//!   every produced region against its own, and nothing is written before every check passed;
//! - [`io`]: offset reads and writes (file, disk slot or RAM) and a recording fake target;
//! - `encode` (feature `encode`, host only): the encoder.
#![cfg_attr(not(any(test, feature = "encode")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod apply;
#[cfg(feature = "encode")]
pub mod encode;
pub mod error;
pub mod format;
pub mod io;
mod patch;
pub mod verify;

#[cfg(test)]
mod tests;

pub use apply::{apply, Applied, OldSlot, Region};
pub use error::{DeltaError, PartProblem};
pub use format::{Header, Kind, Part};
pub use io::{IoError, MemTarget, ReadAt, WriteAt};
pub use verify::{verify_file, Authenticity, Delta, Rules};
