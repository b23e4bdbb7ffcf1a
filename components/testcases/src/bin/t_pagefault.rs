//! `t_pagefault`: READY, then writes to unmapped address 0x10. Expected: a ring-3 page fault
//! after READY (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_pagefault";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) {
        return 1;
    }
    runtime::info!(
        "{NAME}: writing to unmapped address {:#x}",
        testcases::fault::UNMAPPED
    );
    testcases::fault::page_fault();
    testcases::did_not_fault(NAME, "the write to an unmapped address")
}
