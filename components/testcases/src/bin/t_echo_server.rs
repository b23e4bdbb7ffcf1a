//! `t_echo_server`: provides `echo_api`. READY, then forever: IPC_RECEIVE a call and reply
//! with the same bytes. Expected: serves `t_echo_client` (see the crate docs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

runtime::entry!(main);

const NAME: &str = "t_echo_server";

fn main() -> i32 {
    testcases::start(NAME);
    if !testcases::ready(NAME) {
        return 1;
    }
    let mut buf = [0u8; testcases::MESSAGE];
    loop {
        let (len, call) = match testcases::ipc::receive("echo_api", &mut buf) {
            Ok(r) => r,
            Err(e) => {
                runtime::error!("{NAME}: receive failed: {e}");
                return 1;
            }
        };
        runtime::info!(
            "{NAME}: call {} from {}: {len} bytes",
            call.call_id,
            call.caller().unwrap_or("?")
        );
        if let Err(e) = testcases::ipc::reply(call.call_id, &buf[..len]) {
            runtime::error!("{NAME}: reply failed: {e}");
        }
    }
}
