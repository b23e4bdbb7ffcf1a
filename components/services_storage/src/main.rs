//! `services_storage`: the storage service. It keeps files in the user-data region (blocks
//! from [`storage_format::FIRST_BLOCK`] = 32 on; blocks 0..=31 are the kernel's) in the
//! `storage_format` layout, and serves `storage_api` ([`protocol::storage`]) over IPC.
//!
//! Start-up: announce, mount the store (scan every slot; a blank region gets a superblock),
//! log what was found, READY, then serve forever: receive a request on `storage_api`, execute
//! it, reply. A malformed request gets an `Err(BadRequest)` reply. If the store cannot be
//! mounted (device error, damaged superblock) the service still becomes READY and answers every
//! request with `Err(Unavailable)`. It never exits on its own. See `docs/storage.md`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod device;
mod server;

use storage_format::{MountReport, Store};

runtime::entry!(main);

const NAME: &str = "services_storage";

fn main() -> i32 {
    runtime::announce(NAME);
    let dev = device::UserData::open().unwrap_or_else(|e| {
        runtime::error!("{NAME}: USERDATA_INFO failed: {e}");
        device::UserData::none()
    });
    // The store (~24 KiB: its slot index and block buffer) is built once here and lent to the
    // server loop; the stack is 64 KiB.
    let mut store = Store::new(dev);
    match store.mount_in_place() {
        Ok(report) => log_mount(&report),
        Err(e) => runtime::error!("{NAME}: store unavailable: {e}"),
    }
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    server::serve_forever(NAME, &mut store)
}

fn log_mount(r: &MountReport) {
    if r.formatted {
        runtime::info!(
            "{NAME}: new store: superblock written at block {} ({} slots)",
            storage_format::SUPERBLOCK,
            r.slots
        );
    }
    if r.superseded > 0 {
        runtime::warn!(
            "{NAME}: freed {} older copies left by interrupted writes",
            r.superseded
        );
    }
    runtime::info!("{NAME}: mounted {} files ({} blocks free)", r.files, r.free);
    if let Ok(false) = runtime::userdata_persistent() {
        runtime::warn!(
            "{NAME}: the user-data region is in RAM (the system runs from its boot module): nothing written will persist across a reboot"
        );
    }
    if let Some(block) = r.first_damaged {
        runtime::warn!(
            "{NAME}: {} damaged records (first at block {block}); reads of them fail with Damaged",
            r.damaged
        );
    }
}
