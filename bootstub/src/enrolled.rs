//! Config enrollment (Limine's `enroll-config`): this binary carries a slot for the BLAKE2b-512
//! hash of its limine.conf, filled in after the build by `cargo xtask build-image` (or by
//! Limine's own `limine enroll-config`). When a hash is enrolled the stub refuses any other
//! config. The marker's layout is Limine's ([`bootproto::enroll`]); see docs/bootstub.md.

use alloc::boxed::Box;
use alloc::string::String;

use bootproto::enroll::{self, Slot, MARKER_LEN, SIGNATURE_LEN};

use crate::error::StubError;

/// The marker, preceded by a zero byte: Limine's host tool scans for the signature without
/// backtracking, so a `+` just before the marker would hide it from `limine enroll-config`.
#[repr(C)]
struct Marker {
    _guard: u8,
    marker: [u8; MARKER_LEN],
}

/// The only copy of the signature in this binary; the enrolling tool rewrites its slot in the
/// built file, so the value seen at run time is not the one compiled here.
static CONFIG_HASH: Marker = Marker {
    _guard: 0,
    marker: enroll::EMPTY_MARKER,
};

/// What the slot holds at run time.
fn slot() -> Result<Slot, StubError> {
    // SAFETY: `CONFIG_HASH.marker` is a static, so the pointer is valid, aligned (u8s) and
    // initialised for the whole run, and nothing writes it at run time. The volatile read only
    // stops the compiler from replacing the load with the value compiled in: the enrolled value
    // is written into the file after the build.
    let marker: [u8; MARKER_LEN] = unsafe { core::ptr::read_volatile(&CONFIG_HASH.marker) };
    enroll::parse_slot(&marker[SIGNATURE_LEN..]).map_err(StubError::ConfigHashSlot)
}

/// Checks limine.conf's exact bytes against the enrolled hash. `Ok(true)`: enrolled and
/// matching; `Ok(false)`: nothing enrolled, the config is not checked.
pub fn check(path: &str, conf: &[u8]) -> Result<bool, StubError> {
    match slot()? {
        Slot::NotEnrolled => Ok(false),
        Slot::Enrolled(expected) => {
            bootproto::hash::verify(conf, &expected).map_err(|mismatch| {
                StubError::ConfigHashMismatch {
                    path: String::from(path),
                    mismatch: Box::new(mismatch),
                }
            })?;
            Ok(true)
        }
    }
}
