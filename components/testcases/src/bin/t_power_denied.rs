//! `t_power_denied`: holds `console` but not `power`, so REBOOT and POWEROFF must each fail
//! with `Denied` (had either worked, the machine would have reset or switched off and the
//! scenario would fail); then READY and exit 0 (1 if a call was not refused). See the crate
//! docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_power_denied";

fn main() -> i32 {
    testcases::start(NAME);
    let denied = [Error::Denied];
    let as_u64 = |r: Result<core::convert::Infallible, Error>| r.map(|never| match never {});
    let reboot = testcases::expect_refused(
        NAME,
        "REBOOT",
        "REBOOT refused",
        as_u64(runtime::reboot()),
        &denied,
    );
    let poweroff = testcases::expect_refused(
        NAME,
        "POWEROFF",
        "POWEROFF refused",
        as_u64(runtime::poweroff()),
        &denied,
    );
    if !testcases::ready(NAME) {
        return 1;
    }
    if reboot && poweroff {
        0
    } else {
        1
    }
}
