//! `services_fs_view`: the read-only file view. It serves `fs_view_api`
//! ([`protocol::fs_view`]: list a directory with sizes and times, stat a path, read a range of
//! a file, each request standing alone) by asking `storage_api`; the logic is the pure
//! `fs_view` crate.
//!
//! The service holds `files_read:/`, but it never lends it: for every request it reads the
//! *caller's* capabilities (COMPONENT_CAPS) and refuses, with `Denied`, a path that no
//! `files:` or `files_read:` grant of the caller covers — the rule `services_storage` applies.
//! So a component that only reads files needs no write access. See `docs/storage.md`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use protocol::fs_view::{ENDPOINT, MAX_REPLY};
use runtime::{ipc, Error};

runtime::entry!(main);

const NAME: &str = "services_fs_view";

/// The longest capability record read for a caller (longer ones are cut: the grants past the
/// cut are not seen, which can only refuse more).
const CAPS_MAX: usize = 2048;

/// `storage_api` over IPC.
struct Storage;

impl fs_view::Store for Storage {
    fn call(&mut self, request: &[u8], reply: &mut [u8]) -> Result<usize, Error> {
        ipc::call(protocol::storage::ENDPOINT, request, reply)
    }
}

fn main() -> i32 {
    runtime::announce(NAME);
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    serve_forever()
}

/// The caller's capability record, as text (empty if the kernel does not know the caller:
/// then nothing is granted).
fn caps_of<'b>(caller: &str, buf: &'b mut [u8; CAPS_MAX]) -> &'b str {
    match runtime::component_caps(caller, buf) {
        Ok(n) => core::str::from_utf8(&buf[..n.min(CAPS_MAX)]).unwrap_or(""),
        Err(e) => {
            runtime::warn!("{NAME}: capabilities of {caller}: {e}; it gets no access");
            ""
        }
    }
}

/// Serves `fs_view_api` forever.
fn serve_forever() -> ! {
    let mut request = alloc::vec![0u8; 4096];
    let mut reply = alloc::vec![0u8; MAX_REPLY];
    let mut caps = [0u8; CAPS_MAX];
    ipc::serve_forever(
        NAME,
        ENDPOINT,
        &mut request,
        &mut reply,
        |caller, req, reply| {
            let record = caps_of(caller, &mut caps);
            fs_view::serve(caller, record, req, reply, &mut Storage)
        },
    )
}
