//! `t_dependent`: READY, exit 0, and logs an ERROR first: the test descriptions always make it
//! depend on an entry that fails, so the kernel must skip it and this code must never run (see
//! the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_dependent";

fn main() -> i32 {
    testcases::start(NAME);
    runtime::error!(
        "{NAME}: started although the test descriptions make it depend on a failing entry"
    );
    if testcases::ready(NAME) {
        0
    } else {
        1
    }
}
