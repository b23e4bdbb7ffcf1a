//! `t_gpfault`: provides `gpfault_api`. READY, then waits for one call on it (from
//! `t_trigger_gpfault`), then `hlt` in ring 3. Expected: a general-protection fault after
//! READY, at a moment the start sequence controls (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_gpfault";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) || !testcases::wait_for_trigger(NAME, "gpfault_api") {
        return 1;
    }
    runtime::info!("{NAME}: executing hlt (privileged in ring 3)");
    testcases::fault::general_protection();
    testcases::did_not_fault(NAME, "hlt (is the component running in ring 0?)")
}
