//! `PUT /update`'s pure parts: the body's limits ([`check`]), where the body is stored
//! ([`STORE_DIR`], [`STORE_PATH`]), the status each refusal of the update driver is answered
//! with ([`status_of`]), the answer lines, and the booted slot read from SLOTS' text. The
//! sequence itself is `update_driver`'s, the same the console's `update FILE` runs; `main.rs`
//! streams the body into the store and runs it over status_http's system calls.

use alloc::format;
use alloc::string::String;

use pgdelta::DeltaError;
use update_driver::{Done, UpdateError};

use crate::http::{BodyFraming, Reply, Status};

/// The most bytes a delta sent as `PUT /update` may have (413 beyond). A delta with every
/// region whole (`cargo xtask push` without `--from`) of the default system is ~30 MB.
pub const MAX_UPLOAD: u64 = 64 * 1024 * 1024;

/// The user-data directory status_http may write (its `files:/updates` capability).
pub const STORE_DIR: &str = "/updates";
/// Where the body is stored before it is applied (replaced by every upload; removed after
/// the apply, whatever its outcome).
pub const STORE_PATH: &str = "/updates/pushed.pgdelta";

/// The body's length, or the refusal: no `Content-Length` (chunked, or none) is 411, an empty
/// body 400, more than [`MAX_UPLOAD`] bytes 413.
pub fn check(framing: BodyFraming) -> Result<u64, Reply> {
    match framing {
        BodyFraming::Chunked => Err(Reply::new(
            Status::LengthRequired,
            "send the delta with Content-Length (chunked uploads are not taken)",
        )),
        BodyFraming::None => Err(Reply::new(
            Status::LengthRequired,
            "send the delta as the body, with Content-Length",
        )),
        BodyFraming::Length(n) if n > MAX_UPLOAD => Err(Reply::new(
            Status::ContentTooLarge,
            format!("the delta has {n} bytes; at most {MAX_UPLOAD} are taken"),
        )),
        BodyFraming::Length(n) => Ok(n),
    }
}

/// Another upload is being received or applied.
pub fn busy() -> Reply {
    Reply::new(
        Status::ServiceUnavailable,
        "update: another update is in progress; try again when it is answered",
    )
}

/// The store refused or failed (`what`: the step, `why`: its error).
pub fn store_failed(what: &str, why: impl core::fmt::Display) -> Reply {
    Reply::new(
        Status::InternalServerError,
        format!("update: storing the delta at {STORE_PATH}: {what}: {why}"),
    )
}

/// The status an update's refusal is answered with: 409 when the machine is not in a state
/// that takes this delta (one slot, another base, an older epoch, too little room, old regions
/// that differ), 500 when the machine failed (a slot call, reading the stored file, the running
/// slot unreadable, the written slot not verifying or its boot files not installed), 422 for the
/// delta itself (damaged, malformed, unsigned or badly signed, a layout it was not made with).
pub fn status_of(e: &UpdateError) -> Status {
    match e {
        UpdateError::OneSlot => Status::Conflict,
        UpdateError::RunningSlot(_)
        | UpdateError::RunningManifest
        | UpdateError::Slot { .. }
        | UpdateError::Unverified(_) => Status::InternalServerError,
        UpdateError::Layout => Status::UnprocessableContent,
        UpdateError::Delta(d) => match **d {
            DeltaError::WrongBase { .. }
            | DeltaError::EpochRollback { .. }
            | DeltaError::NoSpace { .. }
            | DeltaError::SourceMissing { .. }
            | DeltaError::SourceMismatch { .. }
            | DeltaError::SourceDamaged { .. } => Status::Conflict,
            DeltaError::Io { .. } => Status::InternalServerError,
            _ => Status::UnprocessableContent,
        },
    }
}

/// The answer to an update: the console's done line (200), or `update: ` and the driver's
/// one-line error with its [`status_of`].
pub fn reply(result: Result<Done, UpdateError>, ms: u64) -> Reply {
    match result {
        Ok(done) => Reply::new(Status::Ok, update_driver::done_line(&done, ms)),
        Err(e) => Reply::new(status_of(&e), format!("update: {}", one_line(&e))),
    }
}

/// `e` on one line (its text has none, but a line break must never split an answer).
fn one_line(e: &UpdateError) -> String {
    format!("{e}").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests;
