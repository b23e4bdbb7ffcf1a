//! `t_crash_client`: depends on `t_crash_server`. Calls `crash_api`; the server faults
//! without replying, so the call must fail with `ProviderGone`
//! (`t_crash_client: provider gone: the provider exited or faulted`). Then READY and exit 0.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_crash_client";

fn main() -> i32 {
    testcases::start(NAME);
    let mut reply = [0u8; testcases::MESSAGE];
    let ok = match testcases::ipc::call("crash_api", b"boom", &mut reply) {
        Err(e @ Error::ProviderGone) => {
            runtime::info!("{NAME}: provider gone: {e}");
            true
        }
        other => {
            runtime::error!("{NAME}: expected ProviderGone, got {other:?}");
            false
        }
    };
    if !testcases::ready(NAME) || !ok {
        return 1;
    }
    0
}
