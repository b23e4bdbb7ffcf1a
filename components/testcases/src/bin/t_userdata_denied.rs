//! `t_userdata_denied`: without the `block_device` capability, USERDATA_READ, USERDATA_WRITE
//! and USERDATA_INFO must each fail with `Denied`; then READY and exit 0 (1 if any call was
//! not refused). See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::abi::USERDATA_BLOCK_SIZE;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_userdata_denied";

/// Any block: without the grants nothing is reachable.
const BLOCK: u64 = 2;

fn main() -> i32 {
    testcases::start(NAME);
    let mut buf = [0u8; USERDATA_BLOCK_SIZE];
    let denied = [Error::Denied];
    let read = testcases::expect_refused(
        NAME,
        "USERDATA_READ",
        "refused",
        runtime::userdata_read(BLOCK, &mut buf),
        &denied,
    );
    let write = testcases::expect_refused(
        NAME,
        "USERDATA_WRITE",
        "USERDATA_WRITE refused",
        runtime::userdata_write(BLOCK, &buf),
        &denied,
    );
    let info = testcases::expect_refused(
        NAME,
        "USERDATA_INFO",
        "USERDATA_INFO refused",
        runtime::userdata_info(),
        &denied,
    );
    if !testcases::ready(NAME) {
        return 1;
    }
    if read && write && info {
        0
    } else {
        1
    }
}
