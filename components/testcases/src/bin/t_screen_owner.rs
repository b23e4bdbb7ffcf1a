//! `t_screen_owner`: holds `framebuffer`. Takes the screen (FRAMEBUFFER_MAP), checks that a
//! second map is refused with `Busy`, that the framebuffer is writable, and that SCREEN_READ
//! starts with the kernel's replay (it begins with SGR 0 and "erase display"); logs
//! `t_screen_owner: screen taken: WxH, N bytes of replay`, signals READY and exits 0, so the
//! kernel takes the screen back (1 if a check failed). See the crate docs.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use runtime::screen;
use runtime::Error;

runtime::entry!(main);

const NAME: &str = "t_screen_owner";

/// How the kernel's replay of its screen starts.
const REPLAY_START: &[u8] = b"\x1b[0m\x1b[2J";

fn main() -> i32 {
    testcases::start(NAME);
    let fb = match screen::framebuffer_map() {
        Ok(fb) => fb,
        Err(e) => {
            runtime::error!("{NAME}: FRAMEBUFFER_MAP failed: {e}");
            return 1;
        }
    };
    let again = testcases::expect_refused(
        NAME,
        "a second FRAMEBUFFER_MAP",
        "a second FRAMEBUFFER_MAP refused",
        screen::framebuffer_map().map(|_| 0),
        &[Error::Busy],
    );
    // A white pixel in the top-left corner: the kernel redraws it when it takes the screen back.
    if let Some(first) = fb.bytes.first_mut() {
        *first = 0xff;
    }
    let mut buf = [0u8; 4096];
    let replay = match screen::read(&mut buf) {
        Ok(n) if buf[..n].starts_with(REPLAY_START) => n,
        Ok(n) => {
            runtime::error!("{NAME}: SCREEN_READ gave {n} bytes, not the kernel's replay");
            return 1;
        }
        Err(e) => {
            runtime::error!("{NAME}: SCREEN_READ failed: {e}");
            return 1;
        }
    };
    runtime::info!(
        "{NAME}: screen taken: {}x{}, {replay} bytes of replay",
        fb.info.width,
        fb.info.height
    );
    if !testcases::ready(NAME) || !again {
        return 1;
    }
    0
}
