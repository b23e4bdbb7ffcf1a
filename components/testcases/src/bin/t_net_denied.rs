//! `t_net_denied`: holds `network_device:eth1` only (or nothing), so NET_SEND, NET_INFO and
//! NET_RECV on `eth0` must each fail with `Denied`; then READY and exit 0 (1 if a call was
//! not refused). See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::net;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_net_denied";

/// A broadcast ARP-sized frame: refused before the kernel looks at it.
const FRAME: [u8; 42] = [0xff; 42];

fn main() -> i32 {
    testcases::start(NAME);
    let send = testcases::expect_refused(
        NAME,
        "NET_SEND",
        "NET_SEND on eth0 refused",
        net::send("eth0", &FRAME).map(|()| 0),
        &[Error::Denied],
    );
    let info = testcases::expect_refused(
        NAME,
        "NET_INFO",
        "NET_INFO on eth0 refused",
        net::info("eth0").map(|_| 0),
        &[Error::Denied],
    );
    let mut buf = [0u8; net::MAX_FRAME];
    let recv = testcases::expect_refused(
        NAME,
        "NET_RECV",
        "NET_RECV on eth0 refused",
        net::recv("eth0", &mut buf, 10).map(|n| n as u64),
        &[Error::Denied],
    );
    if !testcases::ready(NAME) || !send || !info || !recv {
        return 1;
    }
    0
}
