//! `t_echo_client`: depends on `t_echo_server`. Calls `echo_api` with `ping` and expects
//! `ping` back (`t_echo_client: echo OK`); then calls `crash_api`, which it does not depend on
//! (`t_echo_client: call to crash_api refused: denied`), and `no_such_api`, which nobody
//! provides (`... refused: not found`). Then READY and exit 0 (1 after an ERROR line if a
//! check failed).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_echo_client";

fn refused(endpoint: &str, expected: Error) -> bool {
    let mut reply = [0u8; testcases::MESSAGE];
    match testcases::ipc::call(endpoint, b"hello", &mut reply) {
        Err(e) if e == expected => {
            runtime::info!("{NAME}: call to {endpoint} refused: {e}");
            true
        }
        other => {
            runtime::error!("{NAME}: call to {endpoint}: expected {expected}, got {other:?}");
            false
        }
    }
}

/// The information calls: logs what UPTIME, BOOTCOUNT, SERVICES, MANIFEST and
/// COMPONENT_CAPS return (`t_echo_client: system calls: ...`).
fn system_calls() {
    use runtime::abi::Syscall;
    use testcases::ipc::{component_caps, text, value};
    let mut buf = [0u8; 1024];
    let uptime = value(Syscall::Uptime);
    let boot = value(Syscall::Bootcount);
    let services = text(Syscall::Services, &mut buf);
    let first_line = match services {
        Ok(n) => core::str::from_utf8(&buf[..n.min(buf.len())])
            .unwrap_or("?")
            .lines()
            .next()
            .unwrap_or(""),
        Err(_) => "",
    };
    runtime::info!(
        "{NAME}: system calls: uptime {uptime:?} us, boot count {boot:?}, services {services:?} bytes ({first_line})"
    );
    let mut big = [0u8; 4096];
    let manifest = text(Syscall::Manifest, &mut big);
    let starts_json = manifest.is_ok_and(|n| n > 0 && big[0] == b'{');
    let caps = component_caps("t_echo_server", &mut buf);
    let unknown = component_caps("no_such_entry", &mut buf);
    runtime::info!(
        "{NAME}: system calls: manifest {manifest:?} bytes (JSON: {starts_json}), caps of t_echo_server {caps:?}, of no_such_entry {unknown:?}"
    );
    let console = testcases::ipc::console_write(b"x\n");
    runtime::info!(
        "{NAME}: system calls: console write without the console capability: {console:?}"
    );
}

fn main() -> i32 {
    testcases::start(NAME);
    let mut ok = true;
    let mut reply = [0u8; testcases::MESSAGE];
    match testcases::ipc::call("echo_api", b"ping", &mut reply) {
        Ok(n) if &reply[..n] == b"ping" => runtime::info!("{NAME}: echo OK"),
        other => {
            runtime::error!("{NAME}: echo failed: {other:?}");
            ok = false;
        }
    }
    ok &= refused("crash_api", Error::Denied);
    ok &= refused("no_such_api", Error::NotFound);
    system_calls();
    if !testcases::ready(NAME) || !ok {
        return 1;
    }
    0
}
