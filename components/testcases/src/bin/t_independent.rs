//! `t_independent`: READY, exit 0. Shows that entries not depending on a failed one still
//! start (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_independent";

fn main() -> i32 {
    testcases::start(NAME);
    if testcases::ready(NAME) {
        0
    } else {
        1
    }
}
