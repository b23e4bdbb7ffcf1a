//! `services_storage`: the storage service. It keeps the pgfs filesystem in the user-data
//! region (blocks 32.. of it; 0..=31 are the kernel's) and serves `storage_api`
//! ([`protocol::storage`]) over IPC; the logic is the pure `storage_server` crate.
//!
//! Start-up: announce, mount (a blank region is formatted, a milestone-1 record store is
//! converted keeping every file), log what was found, READY, then serve forever. If the
//! filesystem cannot be mounted (damaged roots, a newer format, unknown data, a device error)
//! nothing is written: the service still becomes READY and answers every request with
//! `Err(Unavailable)` and the reason. It never exits on its own. See `docs/storage.md`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod device;
mod server;

use storage_server::{Server, StartError, Startup};

runtime::entry!(main);

const NAME: &str = "services_storage";

fn main() -> i32 {
    runtime::announce(NAME);
    let dev = device::UserData::open().unwrap_or_else(|e| {
        runtime::error!("{NAME}: USERDATA_INFO failed: {e}");
        device::UserData::none()
    });
    let t = runtime::uptime().unwrap_or(0);
    let started = storage_server::start(|| dev, server::now());
    let us = runtime::uptime().unwrap_or(0).saturating_sub(t);
    log_start(&started, us);
    let mut srv = Server::new(started.map(|(fs, _)| fs));
    if runtime::ready_or_log(NAME).is_err() {
        return 1;
    }
    server::serve_forever(NAME, &mut srv)
}

/// Logs what start-up did and how long it took (`us` microseconds).
fn log_start<T>(started: &Result<(T, Startup), StartError>, us: u64) {
    use storage_server::msg;
    let (ms, frac) = (us / 1000, us % 1000);
    match started {
        Ok((_, Startup::Mounted(r))) => {
            runtime::info!(
                "{NAME}: {}{} (superblock at block {}) in {ms}.{frac:03} ms",
                msg::MOUNTED,
                r.generation,
                r.slot
            );
            if let Some((block, kind)) = r.damaged_root {
                runtime::warn!(
                    "{NAME}: {}({kind} at block {block}): fell back to generation {}",
                    msg::FELL_BACK,
                    r.generation
                );
            }
        }
        Ok((_, Startup::Formatted)) => {
            runtime::info!("{NAME}: {}{ms}.{frac:03} ms", msg::FORMATTED)
        }
        Ok((_, Startup::Converted(r))) => runtime::info!(
            "{NAME}: {}{} files ({} bytes), {} damaged records kept in /lost+found",
            msg::CONVERTED,
            r.files,
            r.bytes,
            r.damaged
        ),
        Err(e) => runtime::error!("{NAME}: {}{e}", msg::UNAVAILABLE),
    }
    if let Ok(false) = runtime::userdata_persistent() {
        runtime::warn!(
            "{NAME}: the user-data region is in RAM (the system runs from its boot module): nothing written will persist across a reboot"
        );
    }
}
