//! `t_divide`: integer division by zero before READY. Expected: a divide error before READY,
//! so its dependents are skipped (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_divide";

fn main() -> i32 {
    testcases::start(NAME);
    runtime::info!("{NAME}: dividing by zero before READY");
    testcases::fault::divide_error();
    testcases::did_not_fault(NAME, "the division by zero")
}
