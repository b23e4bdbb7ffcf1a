//! `services_logger`: placeholder: starts, logs its capabilities, reports ready, exits 0.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "services_logger";

fn main() -> i32 {
    runtime::announce(NAME);
    match runtime::ready_or_log(NAME) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
