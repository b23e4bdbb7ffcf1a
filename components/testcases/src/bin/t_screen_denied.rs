//! `t_screen_denied`: holds nothing, so FRAMEBUFFER_MAP and SCREEN_READ must each fail with
//! `Denied`; then READY and exit 0 (1 if a call was not refused). See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::screen;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_screen_denied";

fn main() -> i32 {
    testcases::start(NAME);
    let map = testcases::expect_refused(
        NAME,
        "FRAMEBUFFER_MAP",
        "FRAMEBUFFER_MAP refused",
        screen::framebuffer_map().map(|_| 0),
        &[Error::Denied],
    );
    let mut buf = [0u8; 64];
    let read = testcases::expect_refused(
        NAME,
        "SCREEN_READ",
        "SCREEN_READ refused",
        screen::read(&mut buf).map(|n| n as u64),
        &[Error::Denied],
    );
    if !testcases::ready(NAME) || !map || !read {
        return 1;
    }
    0
}
