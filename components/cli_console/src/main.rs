//! `cli_console`: The command-line console (placeholder: starts, reports ready, exits).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

fn main() -> i32 {
    runtime::info!("cli_console started");
    match runtime::ready() {
        Ok(()) => 0,
        Err(e) => {
            runtime::error!("cli_console: READY failed: {e}");
            1
        }
    }
}
