//! `services_storage`: The storage service (placeholder: starts, reports ready, exits).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

fn main() -> i32 {
    runtime::info!("services_storage started");
    match runtime::ready() {
        Ok(()) => 0,
        Err(e) => {
            runtime::error!("services_storage: READY failed: {e}");
            1
        }
    }
}
