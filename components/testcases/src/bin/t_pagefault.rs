//! `t_pagefault`: provides `pagefault_api`. READY, then waits for one call on it (from
//! `t_trigger_pagefault`), then writes to unmapped address 0x10. Expected: a ring-3 page fault
//! after READY, at a moment the start sequence controls (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_pagefault";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) || !testcases::wait_for_trigger(NAME, "pagefault_api") {
        return 1;
    }
    runtime::info!(
        "{NAME}: writing to unmapped address {:#x}",
        testcases::fault::UNMAPPED
    );
    testcases::fault::page_fault();
    testcases::did_not_fault(NAME, "the write to an unmapped address")
}
