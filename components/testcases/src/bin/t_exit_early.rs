//! `t_exit_early`: exits with code 1 before READY. Stands in for a broken `cli_console` in
//! `system/tests/broken_console.json`, the image with which the suite proves that its boot
//! check fails when a component does not come up (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_exit_early";

fn main() -> i32 {
    testcases::start(NAME);
    1
}
