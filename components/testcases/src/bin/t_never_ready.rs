//! `t_never_ready`: yields forever and never signals READY. Expected: the kernel gives up
//! after the entry's `start_timeout_ms`, stops it and skips its dependents (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_never_ready";

fn main() -> i32 {
    testcases::start(NAME);
    runtime::info!("{NAME}: yielding forever without READY");
    loop {
        runtime::yield_now();
    }
}
