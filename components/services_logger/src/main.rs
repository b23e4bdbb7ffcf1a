//! `services_logger`: The logging service (placeholder: starts, reports ready, exits).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

fn main() -> i32 {
    runtime::info!("services_logger started");
    match runtime::ready() {
        Ok(()) => 0,
        Err(e) => {
            runtime::error!("services_logger: READY failed: {e}");
            1
        }
    }
}
