//! `t_invalid_opcode`: `ud2` before READY. Expected: an invalid-opcode fault before READY, so
//! its dependents are skipped (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_invalid_opcode";

fn main() -> i32 {
    testcases::start(NAME);
    runtime::info!("{NAME}: executing ud2 before READY");
    testcases::fault::invalid_opcode()
}
