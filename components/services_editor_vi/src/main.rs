//! `services_editor_vi`: the modal text editor. It serves `editor_api`
//! ([`protocol::editor`]) to the console, which owns the terminal and forwards it: `Open`
//! loads the file through `storage_api` and draws it, each `Keys` (bytes typed) or `Idle`
//! (the input went idle after a lone Escape) is answered with what to write to the terminal,
//! `:w` saves through `storage_api`. The logic is the pure `editor_session` crate (around the
//! `editor_vi` editor). See `docs/console.md`, *The editor*.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use editor_session::Service;
use protocol::editor::{ENDPOINT, MAX_REPLY, MAX_REQUEST};
use runtime::{ipc, Error};

runtime::entry!(main);

const NAME: &str = "services_editor_vi";

/// `storage_api` over IPC.
struct Storage;

impl editor_session::Store for Storage {
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

/// Serves `editor_api` forever.
fn serve_forever() -> ! {
    let mut request = alloc::vec![0u8; MAX_REQUEST.max(4096)];
    let mut reply = alloc::vec![0u8; MAX_REPLY];
    let mut service = Service::new();
    ipc::serve_forever(
        NAME,
        ENDPOINT,
        &mut request,
        &mut reply,
        |caller, req, reply| service.serve(caller, req, reply, &mut Storage),
    )
}
