//! `t_crash_server`: provides `crash_api`. READY, receives one call, then faults (page fault)
//! without replying: its caller must get `ProviderGone`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_crash_server";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) {
        return 1;
    }
    let mut buf = [0u8; testcases::MESSAGE];
    match testcases::ipc::receive("crash_api", &mut buf) {
        Ok((len, call)) => runtime::info!(
            "{NAME}: received call {} ({len} bytes); faulting without a reply",
            call.call_id
        ),
        Err(e) => {
            runtime::error!("{NAME}: receive failed: {e}");
            return 1;
        }
    }
    testcases::fault::page_fault();
    testcases::did_not_fault(NAME, "the write to an unmapped address")
}
